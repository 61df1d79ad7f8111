package config

import (
	"regexp"
	"strings"
	"testing"
)

// The regular expressions the hand-written matchers replace: the oracle they are held to.
var matchOracles = []struct {
	name  string
	re    *regexp.Regexp
	match func(string) bool
}{
	{"isInt", regexp.MustCompile(`^-?[0-9]+$`), isInt},
	{"isUserName", regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$`), isUserName},
	{"isKubeServiceLink", regexp.MustCompile(`^(?i)(tcp|udp|sctp)://`), isKubeServiceLink},
	{"isKubeLinkName", regexp.MustCompile(`_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$`), isKubeLinkName},
}

// matchInputs are the strings every matcher is tried on: pieces of what each one looks for,
// and near misses, joined in every order up to three pieces.
func matchInputs() []string {
	pieces := []string{"", "-", "0", "42", "x", "X", "_", ".", "a-b", "NTP", "_SERVICE_HOST", "_SERVICE_PORT", "_SERVICE_PORT_", "_HTTP", "_1",
		"_PORT_", "_PORT", "123", "_TCP", "_UDP", "_SCTP", "TCP", "_PROTO", "_ADDR", "_ADDRX", "_port_", "tcp://", "UDP://", "sctp:/", "ſctp://",
		"ſ", "K", "\u212a", "é", " ", "\x00", strings.Repeat("u", 31), strings.Repeat("u", 32), "://"}
	var out []string
	for _, a := range pieces {
		for _, b := range pieces {
			for _, c := range pieces {
				out = append(out, a+b+c)
			}
		}
	}
	return out
}

func TestMatchersAgreeWithRegexp(t *testing.T) {
	inputs := matchInputs()
	for _, m := range matchOracles {
		t.Run(m.name, func(t *testing.T) {
			matched := 0
			for _, in := range inputs {
				want := m.re.MatchString(in)
				if got := m.match(in); got != want {
					t.Errorf("%s(%q) = %v, regexp %s says %v", m.name, in, got, m.re, want)
				}
				if want {
					matched++
				}
			}
			// Both sides must be exercised, or the comparison proves nothing.
			if matched == 0 || matched == len(inputs) {
				t.Errorf("%d of %d inputs match %s: the inputs do not exercise it", matched, len(inputs), m.re)
			}
		})
	}
}

func FuzzMatchers(f *testing.F) {
	for _, in := range []string{"FOO_PORT_123_UDP_ADDR", "FOO_SERVICE_PORT_HTTP", "tcp://10.0.0.1:123", "chrony", "-12"} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, m := range matchOracles {
			if got, want := m.match(in), m.re.MatchString(in); got != want {
				t.Errorf("%s(%q) = %v, regexp %s says %v", m.name, in, got, m.re, want)
			}
		}
	})
}
