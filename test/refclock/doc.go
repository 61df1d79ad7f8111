// Package refclock tests REFCLOCK end to end with the entrypoint built as the image builds
// it: a real chronyd (-x) with a SOCK reference clock the test feeds, selected and reported
// by /metrics, and the supplementary group a root start gives chronyd for a refclock device
// (fake device nodes, with capreport standing in for chronyd, which is never pointed at them).
package refclock
