// Package health judges chronyd from its own reports: Live says whether chronyd answers at
// all, Ready whether it serves trustworthy time (synchronised, to a reachable selected
// source, within a root distance; or the local clock when nothing else is configured, or
// when allowed). `chronyc tracking` exits 0 even when chronyd is not synchronised, which is
// why other images' health checks miss that state; this package reads the fields instead,
// and chronyd's source list and activity report rather than the environment, so a mounted
// chrony.conf is judged as well as a rendered one. Every Result carries one line saying why,
// with addresses as numbers (no reverse DNS) and, when not ready, the variable that would
// change it.
package health
