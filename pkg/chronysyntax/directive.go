package chronysyntax

import (
	"fmt"
	"math"
	"strings"
)

// directiveSpec is one directive's grammar: its arguments, in order, after the name.
// Keyword arguments (ratelimit's interval, burst, leak) are given as optional key-value pairs.
type directiveSpec struct {
	args     []optSpec          // positional arguments, all required
	keywords map[string]optSpec // optional "key value" pairs, each at most once
	enum     []string           // the one word argument allowed, when not nil
	why      string             // the syntax, for errors
}

// directives are the directives this grammar knows (the caller's allow-list): settings of
// chronyd's own behaviour that cannot reach the command socket, the entrypoint's files or the
// sources. Ranges are chrony.conf(5)'s, each checked with Debian's chronyd 4.3 -p.
var directives = map[string]directiveSpec{
	"rtcsync": {why: "rtcsync"},
	"ratelimit": {why: "ratelimit [interval -19..12] [burst 1..255] [leak 0..4]", keywords: map[string]optSpec{
		"interval": {optInt, -19, 12, "-19..12"},
		"burst":    {optInt, 1, 255, "1..255"},
		"leak":     {optInt, 0, 4, "0..4"},
	}},
	"clientloglimit": {why: "clientloglimit BYTES (1..2147483647)", args: []optSpec{{optInt, 1, math.MaxInt32, "1..2147483647 bytes"}}},
	"makestep": {why: "makestep THRESHOLD LIMIT (seconds 0..1e9, updates -1..2147483647)", args: []optSpec{
		{optFloat, 0, 1e9, "0..1000000000 seconds"}, {optInt, -1, math.MaxInt32, "-1..2147483647 updates"}}},
	"maxdistance":   {why: "maxdistance SECONDS (0..1000)", args: []optSpec{{optFloat, 0, 1000, "0..1000 seconds"}}},
	"maxupdateskew": {why: "maxupdateskew PPM (0..1000000)", args: []optSpec{{optFloat, 0, 1e6, "0..1000000 ppm"}}},
	"maxslewrate":   {why: "maxslewrate PPM (0..500000)", args: []optSpec{{optFloat, 0, 500000, "0..500000 ppm"}}},
	"maxdrift":      {why: "maxdrift PPM (0..500000)", args: []optSpec{{optFloat, 0, 500000, "0..500000 ppm"}}},
	"minsources":    {why: "minsources N (1..64)", args: []optSpec{{optInt, 1, 64, "1..64"}}},
	"leapsecmode":   {why: "leapsecmode system|slew|step|ignore", enum: []string{"system", "slew", "step", "ignore"}},
}

// KnownDirective says whether ParseDirective knows name (lower case).
func KnownDirective(name string) bool {
	_, ok := directives[name]
	return ok
}

// ParseDirective checks directive name's (lower case) arguments against its grammar and
// returns the line in chrony's syntax: keywords and enumerated words in lower case, numbers as
// checked.
func ParseDirective(name string, args []string) (string, error) {
	spec, ok := directives[name]
	if !ok {
		return "", fmt.Errorf("%q is not a directive this grammar knows", name)
	}
	words := []string{name}
	switch {
	case spec.enum != nil:
		if len(args) != 1 {
			return "", fmt.Errorf("%s: want %s", name, spec.why)
		}
		a := strings.ToLower(args[0])
		for _, e := range spec.enum {
			if a == e {
				return name + " " + a, nil
			}
		}
		return "", fmt.Errorf("%s %q: want %s", name, args[0], spec.why)
	case spec.keywords != nil:
		seen := map[string]bool{}
		for i := 0; i < len(args); i += 2 {
			key := strings.ToLower(args[i])
			opt, ok := spec.keywords[key]
			switch {
			case !ok:
				return "", fmt.Errorf("%s: unknown option %q; want %s", name, args[i], spec.why)
			case seen[key]:
				return "", fmt.Errorf("%s: option %s is given twice", name, key)
			case i+1 >= len(args):
				return "", fmt.Errorf("%s: option %s needs a value (%s)", name, key, opt.describe())
			}
			seen[key] = true
			v, err := opt.check(args[i+1])
			if err != nil {
				return "", fmt.Errorf("%s %s %q: %w", name, key, args[i+1], err)
			}
			words = append(words, key, v)
		}
	case len(spec.args) == 0 && len(args) > 0:
		return "", fmt.Errorf("%s takes no arguments (a missing comma before %q?)", name, args[0])
	default:
		if len(args) != len(spec.args) {
			return "", fmt.Errorf("%s: want %s", name, spec.why)
		}
		for i, opt := range spec.args {
			v, err := opt.check(args[i])
			if err != nil {
				return "", fmt.Errorf("%s %q: %w", name, args[i], err)
			}
			words = append(words, v)
		}
	}
	return strings.Join(words, " "), nil
}

// DirectiveName is the first word of a Directives line.
func DirectiveName(line string) string {
	name, _, _ := strings.Cut(line, " ")
	return name
}
