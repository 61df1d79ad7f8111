package chronysyntax

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Source is one server or pool line's host and its validated options, each option in chrony's
// own syntax ("iburst", "maxpoll 6").
type Source struct {
	Host    string
	Options []string
}

// Has reports whether s carries option (with or without a value).
func (s Source) Has(option string) bool {
	for _, o := range s.Options {
		if o == option || strings.HasPrefix(o, option+" ") {
			return true
		}
	}
	return false
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
	"maxsources": {optInt, 1, 16, "1..16"}, // pools only: the caller checks that

	"maxdelay":         {optFloat, 0, 1000, "0..1000 seconds"},
	"maxdelayratio":    {optFloat, 1, 1e6, "1..1000000"},
	"maxdelaydevratio": {optFloat, 0, 1e6, "0..1000000"},
	"mindelay":         {optFloat, 0, 1000, "0..1000 seconds"},
	"asymmetry":        {optFloat, -0.5, 0.5, "-0.5..0.5"},
	"offset":           {optFloat, -1000, 1000, "-1000..1000 seconds"},

	"extfield": {kind: optExtField},
}

// SourceOptionList is the documented allow-list of source options, in a stable order.
const SourceOptionList = "iburst, burst, prefer, noselect, trust, require, nts, xleave, auto_offline, offline, copy, " +
	"port N, ntsport N, minpoll N, maxpoll N, presend N, polltarget N, minsamples N, maxsamples N, filter N, " +
	"key N, version N, certset N, maxsources N (pools only), maxdelay S, maxdelayratio R, maxdelaydevratio R, mindelay S, asymmetry R, " +
	"offset S, extfield F323"

var labelRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`) })

// ParseSource reads one source, `HOST [OPTION ...]`: the host an IP address or a DNS name,
// each option from the allow-list (SourceOptionList) with its argument in range, each at most
// once. maxsources is allowed here: whether the line is a pool is the caller's to check.
func ParseSource(item string) (Source, error) {
	words := strings.Fields(item)
	if len(words) == 0 {
		return Source{}, fmt.Errorf("%q names no host", item)
	}
	src := Source{Host: words[0]}
	if err := CheckHost(src.Host); err != nil {
		return Source{}, err
	}
	used := map[string]bool{}
	for i := 1; i < len(words); i++ {
		word := strings.ToLower(words[i])
		spec, ok := options[word]
		if !ok {
			return Source{}, fmt.Errorf("%s: unknown option %q (allowed: %s)", src.Host, words[i], SourceOptionList)
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

// pollBounds are the minpoll and maxpoll of opts (chrony's defaults for those not given); ok
// says whether either was given.
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

// CheckHost accepts an IP literal or a DNS name made of RFC 1123 labels.
func CheckHost(h string) error {
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
		if !labelRE().MatchString(l) {
			return fmt.Errorf("%q is not a host name: label %q must be 1..63 letters, digits or inner hyphens", h, l)
		}
	}
	if a, numeric := inetAton(name); numeric {
		if a.IsValid() {
			return fmt.Errorf("%q is a non-canonical form of the IPv4 address %s (libc reads it so, and chronyd would drop a duplicate silently): write %s", h, a, a)
		}
		return fmt.Errorf("%q is neither an IPv4 address nor a host name (it is all numbers)", h)
	}
	if intRE().MatchString(labels[len(labels)-1]) {
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
		if !numberRE()[base].MatchString(digits) {
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

var numberRE = sync.OnceValue(func() map[int]*regexp.Regexp {
	return map[int]*regexp.Regexp{
		8:  regexp.MustCompile(`^[0-7]+$`),
		10: regexp.MustCompile(`^[0-9]+$`),
		16: regexp.MustCompile(`^[0-9a-fA-F]*$`),
	}
})

var numericRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(0[xX][0-9a-fA-F]*|[0-9]+)$`) })

func allNumeric(parts []string) bool {
	for _, p := range parts {
		if !numericRE().MatchString(p) {
			return false
		}
	}
	return true
}

// isIPv4Like says whether h is made only of digits and dots, so it must parse as an address.
func isIPv4Like(h string) bool {
	return h != "" && strings.Trim(h, "0123456789.") == "" && strings.Contains(h, ".")
}
