// Package chronylog turns chronyd's foreground (-d) stderr into structured log entries.
//
// chronyd -d writes one line per message, prefixed with a UTC timestamp of one-second
// resolution ("2026-11-29T04:27:55Z message"), and no severity word except "Fatal error : "
// before it exits 1. The level of every other line comes from a table of the messages chronyd
// logs as warnings and errors (from its LOG(LOGS_WARN/LOGS_ERR, ...) calls), so LOG_LEVEL=warn
// keeps them and drops chronyd's informational lines. Lines are parsed one by one, in order, so
// nothing is lost or reordered.
package chronylog
