package config

import (
	"fmt"
	"math"
	"strings"
)

// directiveSpec is one NTP_DIRECTIVES directive: its arguments, in order, after the name.
// Keyword arguments (ratelimit's interval, burst, leak) are given as optional key-value pairs.
type directiveSpec struct {
	args     []optSpec          // positional arguments, all required
	keywords map[string]optSpec // optional "key value" pairs, each at most once
	enum     []string           // the one word argument allowed, when not nil
	why      string             // the syntax, for errors
}

// directives is the allow-list for NTP_DIRECTIVES: settings of chronyd's own behaviour that
// no variable of ours covers and that cannot reach the command socket, the files the entrypoint
// owns or the sources. Ranges are chrony.conf(5)'s, each checked with Debian's chronyd 4.3 -p.
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

// directiveList is the documented allow-list, in a stable order.
const directiveList = "`rtcsync` (written whenever chronyd controls the clock, else dropped), `ratelimit [interval N] [burst N] [leak N]`, " +
	"`clientloglimit BYTES`, `makestep THRESHOLD LIMIT`, `maxdistance S`, `maxupdateskew PPM`, `maxslewrate PPM`, `maxdrift PPM`, " +
	"`minsources N`, `leapsecmode MODE`"

// ownVariable names our variable for a directive that one of them sets.
var ownVariable = map[string]string{
	"server": "NTP_SERVERS", "peer": "NTP_SERVERS", "pool": "NTP_POOLS", "allow": "ALLOW", "deny": "ALLOW",
	"port": "NTP_PORT", "local": "LOCAL_STRATUM", "noclientlog": "NOCLIENTLOG",
	"ntsservercert": "NTS_SERVER_CERT", "ntsserverkey": "NTS_SERVER_KEY", "ntsport": "NTS_PORT",
}

// parseDirectives parses NTP_DIRECTIVES: comma-separated directives, each a name from the
// allow-list and its validated arguments, returned in chrony's syntax. With noClientLog,
// ratelimit and clientloglimit are dropped (with a notice), as dockur's image does: chronyd
// refuses rate limiting without the client log.
func (l *loader) parseDirectives(value string, noClientLog bool) []string {
	var out []string
	used := map[string]bool{}
	items := strings.Split(value, ",")
	for i, item := range items {
		words := strings.Fields(item)
		if len(words) == 0 {
			l.fail("NTP_DIRECTIVES", value, fmt.Errorf("item %d of %d is empty (a stray comma?)", i+1, len(items)))
			continue
		}
		name := strings.ToLower(words[0])
		line, err := parseDirective(name, words[1:])
		if err != nil {
			l.fail("NTP_DIRECTIVES", value, err)
			continue
		}
		if used[name] {
			l.fail("NTP_DIRECTIVES", value, fmt.Errorf("%s is given twice", name))
			continue
		}
		used[name] = true
		if noClientLog && (name == "ratelimit" || name == "clientloglimit") {
			l.notices = append(l.notices, fmt.Sprintf("NTP_DIRECTIVES: %s dropped because NOCLIENTLOG=true (chronyd keeps no client log to limit)", name))
			continue
		}
		out = append(out, line)
	}
	return out
}

func parseDirective(name string, args []string) (string, error) {
	spec, ok := directives[name]
	if !ok {
		if v, mine := ownVariable[name]; mine {
			return "", fmt.Errorf("%s: set %s instead", name, v)
		}
		return "", fmt.Errorf("%q is not in the allow-list (%s): put other directives in a *.conf file in CHRONY_CONF_DIR", name, strings.ReplaceAll(directiveList, "`", ""))
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
