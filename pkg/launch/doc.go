// Package launch is the entrypoint's run sequence: inspect what the container was given,
// decide how chronyd may run, render and check its configuration, give up privileges, prepare
// its directories and supervise it until it exits, restarting it when an NTS server's renewed
// certificate is valid (see pkg/ntswatch) and keeping shared NTS cookie keys reloaded.
package launch
