package config

import (
	"strings"
	"unicode/utf8"
)

// The matchers below are written out by hand because every exec of the binary (each probe)
// loads the settings: compiling their regular expressions cost a probe more than its requests
// to chronyd. match_test.go holds each one to the regular expression it replaces.

// isInt matches ^-?[0-9]+$.
func isInt(v string) bool {
	v = strings.TrimPrefix(v, "-")
	return v != "" && allBytes(v, isDigit)
}

// isUserName matches ^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$: a user name, not an option.
func isUserName(v string) bool {
	return len(v) >= 1 && len(v) <= 32 && v[0] != '-' && allBytes(v, func(c byte) bool {
		return isDigit(c) || isUpper(c) || ('a' <= c && c <= 'z') || c == '_' || c == '.' || c == '-'
	})
}

// isKubeServiceLink matches ^(?i)(tcp|udp|sctp)://: the value Kubernetes gives a variable
// FOO_PORT when a Service named foo exists in the namespace. Case is folded as regexp's (?i)
// folds it (Unicode simple folding), so the prefix is compared rune by rune.
func isKubeServiceLink(v string) bool {
	for _, p := range [...]string{"tcp://", "udp://", "sctp://"} {
		n, i := 0, 0
		for i < len(v) && n < len(p) {
			_, size := utf8.DecodeRuneInString(v[i:])
			i += size
			n++
		}
		if n == len(p) && strings.EqualFold(v[:i], p) {
			return true
		}
	}
	return false
}

// isKubeLinkName matches _SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$:
// the variables Kubernetes injects for every Service in the namespace (FOO_SERVICE_HOST,
// FOO_SERVICE_PORT_HTTP, FOO_PORT_123_UDP_ADDR...). A Service can be called anything, so these
// names must never count as typos of ours.
func isKubeLinkName(name string) bool {
	if strings.HasSuffix(name, "_SERVICE_HOST") {
		return true
	}
	for rest := range suffixesAfter(name, "_SERVICE_PORT") {
		if rest == "" || (len(rest) >= 2 && rest[0] == '_' && allBytes(rest, func(c byte) bool { return isUpper(c) || isDigit(c) || c == '_' })) {
			return true
		}
	}
	for rest := range suffixesAfter(name, "_PORT_") {
		digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if digits == 0 || !strings.HasPrefix(rest[digits:], "_") {
			continue
		}
		rest = rest[digits+1:]
		for _, proto := range [...]string{"TCP", "UDP", "SCTP"} {
			if tail, ok := strings.CutPrefix(rest, proto); ok {
				switch tail {
				case "", "_PROTO", "_PORT", "_ADDR":
					return true
				}
			}
		}
	}
	return false
}

// suffixesAfter yields, for each occurrence of sep in s, what follows it.
func suffixesAfter(s, sep string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for i := 0; i <= len(s); {
			j := strings.Index(s[i:], sep)
			if j < 0 || !yield(s[i+j+len(sep):]) {
				return
			}
			i += j + 1
		}
	}
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
