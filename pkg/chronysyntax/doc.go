// Package chronysyntax is the grammar of the chrony.conf lines the entrypoint writes from its
// environment: sources (HOST [OPTION ...] of a server or pool line), the allow-listed
// directives, and refclock lines. Each is parsed, checked against chrony.conf(5)'s ranges (as
// Debian's chronyd 4.3 -p accepts them) and returned in chrony's own syntax, so that what is
// written is exactly what was checked.
//
// It knows chrony, not the environment: splitting a variable into items, its defaults and
// which variable an error belongs to are package config's, which wraps these errors with the
// variable's name. A leaf, so that config (which parses) and chronyconf (which writes) can
// both import it.
package chronysyntax
