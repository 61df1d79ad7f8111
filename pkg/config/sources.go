package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// optKind is how an option's argument is checked.
type optKind int

const (
	optFlag  optKind = iota // no argument
	optInt                  // integer in [min, max]
	optFloat                // decimal in [min, max]
	optExtField
)

type optSpec struct {
	kind     optKind
	min, max float64
	why      string // the range as chrony's documentation gives it, for errors
}

// options is the allow-list of source options, each tried with Debian's chronyd 4.3 (-p), with
// the ranges chrony.conf(5) documents. Options whose number chrony accepts but ignores or
// misreads (a negative port, maxpoll 99) are rejected here because chronyd would not.
var options = map[string]optSpec{
	"iburst": {kind: optFlag}, "burst": {kind: optFlag}, "prefer": {kind: optFlag},
	"noselect": {kind: optFlag}, "trust": {kind: optFlag}, "require": {kind: optFlag},
	"nts": {kind: optFlag}, "xleave": {kind: optFlag}, "auto_offline": {kind: optFlag},
	"offline": {kind: optFlag}, "copy": {kind: optFlag},

	"port":       {optInt, 1, 65535, "1..65535"},
	"ntsport":    {optInt, 1, 65535, "1..65535"},
	"minpoll":    {optInt, -7, 24, "-7..24 (a power of 2 in seconds)"},
	"maxpoll":    {optInt, -7, 24, "-7..24 (a power of 2 in seconds)"},
	"presend":    {optInt, -7, 24, "-7..24 (a power of 2 in seconds)"},
	"polltarget": {optInt, 6, 60, "6..60"},
	"minsamples": {optInt, 0, math.MaxInt32, "0 or more"},
	"maxsamples": {optInt, 0, math.MaxInt32, "0 or more"},
	"filter":     {optInt, 1, math.MaxInt32, "1 or more"},
	"key":        {optInt, 1, math.MaxUint32, "1..4294967295"},
	"version":    {optInt, 1, 4, "1..4"},
	"certset":    {optInt, 0, math.MaxUint32, "0..4294967295"},
	"maxsources": {optInt, 1, 16, "1..16"}, // pools only: checked in parseSources

	"maxdelay":         {optFloat, 0, 1000, "0..1000 seconds"},
	"maxdelayratio":    {optFloat, 1, 1e6, "1..1000000"},
	"maxdelaydevratio": {optFloat, 0, 1e6, "0..1000000"},
	"mindelay":         {optFloat, 0, 1000, "0..1000 seconds"},
	"asymmetry":        {optFloat, -0.5, 0.5, "-0.5..0.5"},
	"offset":           {optFloat, -1000, 1000, "-1000..1000 seconds"},

	"extfield": {kind: optExtField},
}

// optionList is the documented allow-list, in a stable order.
const optionList = "iburst, burst, prefer, noselect, trust, require, nts, xleave, auto_offline, offline, copy, " +
	"port N, ntsport N, minpoll N, maxpoll N, presend N, polltarget N, minsamples N, maxsamples N, filter N, " +
	"key N, version N, certset N, maxsources N (pools only), maxdelay S, maxdelayratio R, maxdelaydevratio R, mindelay S, asymmetry R, " +
	"offset S, extfield F323"

var (
	intRE   = regexp.MustCompile(`^-?[0-9]+$`)
	floatRE = regexp.MustCompile(`^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
	labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// parseSources parses one NTP_SERVERS or NTP_POOLS value. seen holds the hosts of sources
// already parsed (across both variables) so a duplicate is caught wherever it is.
func parseSources(value string, seen map[string]string, name string) ([]Source, []error) {
	var out []Source
	var errs []error
	items := strings.Split(value, ",")
	for i, item := range items {
		item = strings.Trim(item, " ")
		if item == "" {
			errs = append(errs, fmt.Errorf("item %d of %d is empty (a stray comma?)", i+1, len(items)))
			continue
		}
		src, err := parseSource(item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if name != "NTP_POOLS" && hasOption(src, "maxsources") {
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

func parseSource(item string) (Source, error) {
	words := strings.Fields(item)
	src := Source{Host: words[0]}
	if err := checkHost(src.Host); err != nil {
		return Source{}, err
	}
	used := map[string]bool{}
	for i := 1; i < len(words); i++ {
		word := strings.ToLower(words[i])
		spec, ok := options[word]
		if !ok {
			return Source{}, fmt.Errorf("%s: unknown option %q (allowed: %s)", src.Host, words[i], optionList)
		}
		if used[word] {
			return Source{}, fmt.Errorf("%s: option %s is given twice", src.Host, word)
		}
		used[word] = true
		if spec.kind == optFlag {
			src.Options = append(src.Options, word)
			continue
		}
		if i+1 >= len(words) {
			return Source{}, fmt.Errorf("%s: option %s needs a value (%s)", src.Host, word, spec.describe())
		}
		i++
		arg, err := spec.check(words[i])
		if err != nil {
			return Source{}, fmt.Errorf("%s: %s %q: %w", src.Host, word, words[i], err)
		}
		src.Options = append(src.Options, word+" "+arg)
	}
	if lo, hi, ok := pollBounds(src.Options); ok && lo > hi {
		return Source{}, fmt.Errorf("%s: minpoll %d is above maxpoll %d", src.Host, lo, hi)
	}
	return src, nil
}

func (s optSpec) describe() string {
	switch s.kind {
	case optExtField:
		return "F323"
	case optInt:
		return "an integer " + s.why
	default:
		return "a decimal number " + s.why
	}
}

// check validates an option's argument and returns it as it will be written to chrony.conf.
func (s optSpec) check(arg string) (string, error) {
	switch s.kind {
	case optExtField:
		if !strings.EqualFold(arg, "F323") {
			return "", errors.New("the only extension field chrony supports is F323")
		}
		return "F323", nil
	case optInt:
		if !intRE.MatchString(arg) {
			return "", fmt.Errorf("not an integer; want %s", s.why)
		}
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || float64(n) < s.min || float64(n) > s.max {
			return "", fmt.Errorf("out of range; want %s", s.why)
		}
		return strconv.FormatInt(n, 10), nil
	default:
		if !floatRE.MatchString(arg) {
			return "", fmt.Errorf("not a decimal number; want %s", s.why)
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < s.min || f > s.max {
			return "", fmt.Errorf("out of range; want %s", s.why)
		}
		return arg, nil
	}
}

func pollBounds(opts []string) (lo, hi int, ok bool) {
	lo, hi = 6, 10 // chrony's defaults
	for _, o := range opts {
		if v, found := strings.CutPrefix(o, "minpoll "); found {
			lo, _ = strconv.Atoi(v)
			ok = true
		}
		if v, found := strings.CutPrefix(o, "maxpoll "); found {
			hi, _ = strconv.Atoi(v)
			ok = true
		}
	}
	return lo, hi, ok
}

// checkHost accepts an IP literal or a DNS name made of RFC 1123 labels.
func checkHost(h string) error {
	if strings.ContainsAny(h, ":%") || isIPv4Like(h) {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return fmt.Errorf("%q is not a valid IP address or host name", h)
		}
		if a.Zone() != "" {
			return fmt.Errorf("%q: chrony 4.3 cannot use an IPv6 zone (%%%s); give a global address or a host name", h, a.Zone())
		}
		return nil
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) == 0 || len(name) > 253 {
		return fmt.Errorf("%q is not a host name: it must be 1..253 characters", h)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return fmt.Errorf("%q is not a host name: label %q must be 1..63 letters, digits or inner hyphens", h, l)
		}
	}
	if a, numeric := inetAton(name); numeric {
		if a.IsValid() {
			return fmt.Errorf("%q is a non-canonical form of the IPv4 address %s (libc reads it so, and chronyd would drop a duplicate silently): write %s", h, a, a)
		}
		return fmt.Errorf("%q is neither an IPv4 address nor a host name (it is all numbers)", h)
	}
	if intRE.MatchString(labels[len(labels)-1]) {
		return fmt.Errorf("%q is neither an IPv4 address nor a host name (its last label is numeric)", h)
	}
	return nil
}

// inetAton reads h the way libc's inet_aton does (1 to 4 parts, each decimal, 0x-hex or
// 0-octal, the last filling the remaining bytes): numeric reports whether every part is a
// number, which makes h an address to libc rather than a name; a is the address, invalid when
// a part overflows.
func inetAton(h string) (a netip.Addr, numeric bool) {
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, allNumeric(parts)
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if p == "" || (digits == "" && base != 16) {
			return netip.Addr{}, false
		}
		if !numberRE[base].MatchString(digits) {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if digits == "" {
			v, err = 0, nil // "0x" alone is 0 to glibc
		}
		if err != nil {
			return netip.Addr{}, true
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, true
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) && len(vals) > 1 {
		return netip.Addr{}, true
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

var numberRE = map[int]*regexp.Regexp{
	8:  regexp.MustCompile(`^[0-7]+$`),
	10: regexp.MustCompile(`^[0-9]+$`),
	16: regexp.MustCompile(`^[0-9a-fA-F]*$`),
}

func allNumeric(parts []string) bool {
	for _, p := range parts {
		if !regexp.MustCompile(`^(0[xX][0-9a-fA-F]*|[0-9]+)$`).MatchString(p) {
			return false
		}
	}
	return true
}

// isIPv4Like says whether h is made only of digits and dots, so it must parse as an address.
func isIPv4Like(h string) bool {
	return h != "" && strings.Trim(h, "0123456789.") == "" && strings.Contains(h, ".")
}

// hostKey is how duplicates are found: names case-insensitively, addresses in canonical form.
func hostKey(h string) string {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// hasOption reports whether src carries option word (with or without a value).
func hasOption(src Source, word string) bool {
	for _, o := range src.Options {
		if o == word || strings.HasPrefix(o, word+" ") {
			return true
		}
	}
	return false
}
