// Package faults proves, against the real chronyd (always -x: CLOCK_CONTROL=off), that the
// container keeps serving correct time and says why when things go wrong (issue 5, Faults):
// upstream loss and return, a falseticker, chronyd killed or crashing at start, drift file
// trouble, a read-only or full STATE_DIR, orphans and signal bursts.
//
// The tests are black-box: TestMain builds cmd/entrypoint and each test runs it as a
// "container" on loopback (internal/entrypointtest), with upstreams from internal/chronytest.
// There is no non-test code here.
package faults
