// Package health judges chronyd from its own reports: Live says whether chronyd answers at
// all, Ready whether it serves trustworthy time (synchronised, to a reachable selected
// source, within a root distance). `chronyc tracking` exits 0 even when chronyd is not
// synchronised, which is why other images' health checks miss that state; this package
// reads the fields instead. Every Result carries one line saying why, with addresses as
// numbers (no reverse DNS).
package health
