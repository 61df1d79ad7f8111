package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/chris-short/chrony/pkg/chronysyntax"
)

// parseSources parses one NTP_SERVERS or NTP_POOLS value. seen holds the hosts of sources
// already parsed (across both variables) so a duplicate is caught wherever it is.
func parseSources(value string, seen map[string]string, name string) ([]chronysyntax.Source, []error) {
	var out []chronysyntax.Source
	var errs []error
	items := strings.Split(value, ",")
	for i, item := range items {
		item = strings.Trim(item, " ")
		if item == "" {
			errs = append(errs, fmt.Errorf("item %d of %d is empty (a stray comma?)", i+1, len(items)))
			continue
		}
		src, err := chronysyntax.ParseSource(item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if name != "NTP_POOLS" && src.Has("maxsources") {
			errs = append(errs, fmt.Errorf("%s: maxsources applies to pools only: list it in NTP_POOLS", src.Host))
			continue
		}
		key := hostKey(src.Host)
		if prev, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("host %s is listed twice (already in %s)", src.Host, prev))
			continue
		}
		seen[key] = name
		out = append(out, src)
	}
	return out, errs
}

// hostKey is how duplicates are found: names case-insensitively, addresses in canonical form.
func hostKey(h string) string {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
