package config

import (
	"fmt"
	"strings"

	"github.com/chris-short/chrony/pkg/chronysyntax"
)

// directiveList is NTP_DIRECTIVES' documented allow-list, in a stable order: the directives
// package chronysyntax knows.
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

// parseDirective is one NTP_DIRECTIVES item: a directive of the allow-list (those package
// chronysyntax knows) and its arguments, in chrony's syntax; for a directive one of our variables
// writes, the error names that variable.
func parseDirective(name string, args []string) (string, error) {
	if !chronysyntax.KnownDirective(name) {
		if v, mine := ownVariable[name]; mine {
			return "", fmt.Errorf("%s: set %s instead", name, v)
		}
		return "", fmt.Errorf("%q is not in the allow-list (%s): put other directives in a *.conf file in CHRONY_CONF_DIR", name, strings.ReplaceAll(directiveList, "`", ""))
	}
	return chronysyntax.ParseDirective(name, args)
}
