// Package launch is the entrypoint's run sequence: inspect what the container was given,
// decide how chronyd may run, render and check its configuration, give up privileges, prepare
// its directories and supervise it until it exits.
package launch
