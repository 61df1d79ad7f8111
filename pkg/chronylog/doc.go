// Package chronylog turns chronyd's foreground (-d) stderr into structured log entries.
//
// chronyd -d writes one line per message, prefixed with a UTC timestamp of one-second
// resolution ("2026-11-29T04:27:55Z message"), and no severity word except "Fatal error : "
// before it exits 1. Lines are parsed one by one, in order, so nothing is lost or reordered.
package chronylog
