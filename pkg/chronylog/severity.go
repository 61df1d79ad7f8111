package chronylog

import (
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap/zapcore"
)

// A chronyd message format and the severity chronyd logs it at. chronyd -d prints no severity
// (only "Fatal error : "), so the level is recovered from the message itself.
type severity struct {
	level  zapcore.Level
	format string // chronyd's printf format; %s, %d, %u and %f conversions only
}

// severities lists every message chronyd (4.3 to 4.8) logs with LOG(LOGS_WARN, ...) or
// LOG(LOGS_ERR, ...) on Linux, taken from those calls in chrony's sources (chronyc's own
// messages left out). A line that matches none is info: chronyd's LOGS_INFO messages are the
// ones not listed. The most specific format (most literal text) that matches decides.
//
// socketWarnings: chronyd logs a port it cannot bind ("Could not open NTP socket on ...") as an
// error and then runs on without it; the entrypoint logs it as a warning and decides itself
// what the missing port means (readiness), so that an error line keeps meaning "this stopped".
var severities = []severity{
	{zapcore.ErrorLevel, "Could not %s %s"},
	{zapcore.ErrorLevel, "Could not %s RTC interrupt : %s"},
	{zapcore.ErrorLevel, "Could not %s TLS session : %s"},
	{zapcore.ErrorLevel, "Could not access %s : %s"},
	{zapcore.ErrorLevel, "Could not add source %s"},
	{zapcore.ErrorLevel, "Could not add source %s : %s"},
	{zapcore.ErrorLevel, "Could not change %s to %s"},
	{zapcore.ErrorLevel, "Could not change %s to negotiated address %s"},
	{zapcore.ErrorLevel, "Could not change ownership of %s : %s"},
	{zapcore.ErrorLevel, "Could not connect to %s"},
	{zapcore.ErrorLevel, "Could not connect to %s : %s"},
	{zapcore.ErrorLevel, "Could not connect to signd socket %s : %s"},
	{zapcore.ErrorLevel, "Could not create directory %s : %s"},
	{zapcore.ErrorLevel, "Could not initialise %s : %s"},
	{zapcore.ErrorLevel, "Could not open %s : %s"},
	{zapcore.WarnLevel, "Could not open NTP socket on %s"},    // ERR in chrony; see socketWarnings,
	{zapcore.WarnLevel, "Could not open NTS-KE socket on %s"}, // ERR in chrony; see socketWarnings,
	{zapcore.ErrorLevel, "Could not open PHC (of) %s"},
	{zapcore.ErrorLevel, "Could not open RTC device %s : %s"},
	{zapcore.WarnLevel, "Could not open command socket on %s"}, // ERR in chrony; see socketWarnings,
	{zapcore.ErrorLevel, "Could not read flags %s : %s"},
	{zapcore.ErrorLevel, "Could not read time from %s : %s"},
	{zapcore.ErrorLevel, "Could not remove %s : %s"},
	{zapcore.ErrorLevel, "Could not replace %s with %s : %s"},
	{zapcore.ErrorLevel, "Could not resolve NTP server %s from %s"},
	{zapcore.ErrorLevel, "Could not send mail notification to user %s"},
	{zapcore.ErrorLevel, "Could not set RTC time"},
	{zapcore.ErrorLevel, "Could not set credentials : %s"},
	{zapcore.ErrorLevel, "Could not step system clock"},
	{zapcore.ErrorLevel, "Failed to open leap seconds list %s"},
	{zapcore.ErrorLevel, "Failed to parse leap seconds list %s"},
	{zapcore.ErrorLevel, "Missing AES-SIV-CMAC-256"},
	{zapcore.ErrorLevel, "Received invalid NTS-KE response from %s"},
	{zapcore.ErrorLevel, "Unknown local refid in orphan mode"},
	{zapcore.ErrorLevel, "Wrong owner of %s (%s != %u)"},
	{zapcore.ErrorLevel, "Wrong permissions on %s"},
	{zapcore.ErrorLevel, "ioctl(%s) failed : %s"},
	{zapcore.ErrorLevel, "mlockall() failed"},
	{zapcore.ErrorLevel, "pthread_setschedparam() failed"},
	{zapcore.ErrorLevel, "setrlimit() failed"},
	{zapcore.ErrorLevel, "time_pps_fetch() failed : %s"},
	{zapcore.WarnLevel, "Adjusting system clock for leap second"},
	{zapcore.WarnLevel, "Adjustment of %.1f seconds is invalid"},
	{zapcore.WarnLevel, "Adjustment of %.3f seconds exceeds the allowed maximum of %.3f seconds (%s)"},
	{zapcore.WarnLevel, "Assumed NTP time ends at %s!"},
	{zapcore.WarnLevel, "Backward time jump detected!"},
	{zapcore.WarnLevel, "CAP_SYS_TIME not present"},
	{zapcore.WarnLevel, "Could not decode key %u"},
	{zapcore.WarnLevel, "Could not load dump file for %s"},
	{zapcore.WarnLevel, "Could not open keyfile %s"},
	{zapcore.WarnLevel, "Could not parse key at line %u in file %s"},
	{zapcore.WarnLevel, "Could not read RTC LOCAL/UTC setting from %s"},
	{zapcore.WarnLevel, "Could not read coefficients from %s"},
	{zapcore.WarnLevel, "Could not read temperature from %s"},
	{zapcore.WarnLevel, "Could not read valid frequency and skew from driftfile %s"},
	{zapcore.WarnLevel, "Could not resolve address of initstepslew server %s"},
	{zapcore.WarnLevel, "Detected duplicate key %u"},
	{zapcore.WarnLevel, "Disabled command socket %s"},
	{zapcore.WarnLevel, "Failing to replace %s (%u attempts)"},
	{zapcore.WarnLevel, "Forward time jump detected!"},
	{zapcore.WarnLevel, "Frequency %.1f ppm exceeds allowed maximum"},
	{zapcore.WarnLevel, "Having write access to %s"},
	{zapcore.WarnLevel, "Ignoring leap second"},
	{zapcore.WarnLevel, "Invalid host %s"},
	{zapcore.WarnLevel, "Invalid length of %s key %u (expected %u bits)"},
	{zapcore.WarnLevel, "Invalid lock refid %s"},
	{zapcore.WarnLevel, "Invalid type in key %u"},
	{zapcore.WarnLevel, "Key %u is %s"},
	{zapcore.WarnLevel, "Leap second list %s failed check, ignoring"},
	{zapcore.WarnLevel, "Leap second list %s needs update"},
	{zapcore.WarnLevel, "Local refclock lost lock"},
	{zapcore.WarnLevel, "Missing read access to %s : %s"},
	{zapcore.WarnLevel, "NTS not supported with peers"},
	{zapcore.WarnLevel, "No ntsdumpdir to save server keys"},
	{zapcore.WarnLevel, "No suitable source for initstepslew"},
	{zapcore.WarnLevel, "No suitable source for synchronisation"},
	{zapcore.WarnLevel, "No valid rtcfile coefficients"},
	{zapcore.WarnLevel, "Out of order sample detected, discarding history for %s"},
	{zapcore.WarnLevel, "RTC time before last driftfile modification (ignored)"},
	{zapcore.WarnLevel, "Received KoD RATE from %s"},
	{zapcore.WarnLevel, "Reusable IPv6 socket missing IPV6_V6ONLY option"},
	{zapcore.WarnLevel, "Running with root privileges"},
	{zapcore.WarnLevel, "Setting filter length for %s to %d"},
	{zapcore.WarnLevel, "System clock interference detected (another NTP client?)"},
	{zapcore.WarnLevel, "System clock was stepped by %.6f seconds"},
	{zapcore.WarnLevel, "System clock was stepped for leap second"},
	{zapcore.WarnLevel, "System clock wrong by %.6f seconds"},
	{zapcore.WarnLevel, "System time ends at %s!"},
	{zapcore.WarnLevel, "Temperature compensation of %.3f ppm exceeds sanity limit of %.1f"},
	{zapcore.WarnLevel, "Timezone %s failed leap second check, ignoring"},
	{zapcore.WarnLevel, "Transmit ID not supported"},
	{zapcore.WarnLevel, "Unsupported %s in key %u"},
	{zapcore.WarnLevel, "logdir not specified"},
	{zapcore.WarnLevel, "maxtxbuffers too small"},
	{zapcore.ErrorLevel, "%s is not directory"},
	{zapcore.WarnLevel, "%s directive is no longer supported"},
	{zapcore.WarnLevel, "%s maxlockage too small for %s"},
	{zapcore.WarnLevel, "%s permissions on %s"},
}

// matcher is severities split into patterns, on first use: `entrypoint probe` never logs a
// chronyd line and pays nothing for the table. A pattern is literal text and conversions
// matched by hand rather than by regular expressions, which kept about 0.47 MB of compiled
// programs alive in PID 1 for as long as it ran.
var matcher = sync.OnceValue(func() []pattern { return compileSeverities(severities) })

// pattern is one format split at its conversions, parts alternating literal text and
// conversions as the format has them.
type pattern struct {
	level   zapcore.Level
	parts   []part
	literal int // characters of the format outside conversions
}

// part is literal text (conv 0) or a printf conversion: 's' matches any text, 'd' and 'u' an
// optionally negative integer, 'f' a decimal number with an optional sign and exponent.
type part struct {
	text string
	conv byte
}

func compileSeverities(table []severity) []pattern {
	out := make([]pattern, 0, len(table))
	for _, s := range table {
		p := pattern{level: s.level, parts: splitFormat(s.format)}
		for _, pt := range p.parts {
			p.literal += len(pt.text)
		}
		out = append(out, p)
	}
	// Most literal text first: "Could not open keyfile %s" (a warning) must be tried before
	// "Could not open %s : %s" and "Could not %s %s" (errors) can claim its lines.
	sort.SliceStable(out, func(i, j int) bool { return out[i].literal > out[j].literal })
	return out
}

// splitFormat splits a printf format into literal text and conversions: "%" then an optional
// precision (".3") then length and conversion letters from "sdufl" ("%lu" is one 'u').
func splitFormat(format string) []part {
	var parts []part
	lit := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		if j < len(format) && format[j] == '.' {
			k := j + 1
			for k < len(format) && isDigit(format[k]) {
				k++
			}
			if k == j+1 {
				continue // "%." without digits: literal text
			}
			j = k
		}
		k := j
		for k < len(format) && strings.IndexByte("sdufl", format[k]) >= 0 {
			k++
		}
		if k == j {
			continue // not a conversion: literal text
		}
		if i > lit {
			parts = append(parts, part{text: format[lit:i]})
		}
		conv := format[k-1]
		if conv == 'l' {
			conv = 'd'
		}
		parts = append(parts, part{conv: conv})
		lit, i = k, k-1
	}
	if lit < len(format) {
		parts = append(parts, part{text: format[lit:]})
	}
	return parts
}

// matches reports whether all of s is parts: literal text exactly, each conversion some run of
// what it can print. It backtracks over the lengths a conversion may take (chronyd's formats
// have at most three conversions, and lines are short).
func matches(parts []part, s string) bool {
	if len(parts) == 0 {
		return s == ""
	}
	p, rest := parts[0], parts[1:]
	switch p.conv {
	case 0:
		tail, ok := strings.CutPrefix(s, p.text)
		return ok && matches(rest, tail)
	case 's':
		// Where the next literal text starts, when there is one; else anywhere.
		if len(rest) > 0 && rest[0].conv == 0 {
			for i := len(s) - len(rest[0].text); i >= 0; i-- {
				if strings.HasPrefix(s[i:], rest[0].text) && matches(rest, s[i:]) {
					return true
				}
			}
			return false
		}
		for i := len(s); i >= 0; i-- {
			if matches(rest, s[i:]) {
				return true
			}
		}
		return false
	default:
		for n := numberPrefix(s, p.conv == 'f'); n > 0; n-- {
			if numberLike(s[:n], p.conv == 'f') && matches(rest, s[n:]) {
				return true
			}
		}
		return false
	}
}

// numberPrefix is the length of the longest prefix of s made of characters a number can hold.
func numberPrefix(s string, float bool) int {
	n := 0
	for n < len(s) && (isDigit(s[n]) || strings.IndexByte("-+.e", s[n]) >= 0 && (float || s[n] == '-')) {
		n++
	}
	return n
}

// numberLike reports whether s is an integer (-?[0-9]+) or, when float, a decimal as chronyd
// prints %f ([-+]?[0-9.]+(e[-+]?[0-9]+)?).
func numberLike(s string, float bool) bool {
	if !float {
		s = strings.TrimPrefix(s, "-")
		return s != "" && strings.Trim(s, "0123456789") == ""
	}
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	mant, exp, hasExp := strings.Cut(s, "e")
	if mant == "" || strings.Trim(mant, "0123456789.") != "" {
		return false
	}
	if !hasExp {
		return true
	}
	if exp != "" && (exp[0] == '-' || exp[0] == '+') {
		exp = exp[1:]
	}
	return exp != "" && strings.Trim(exp, "0123456789") == ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// levelOf is the severity chronyd logged message at: warn or error for the messages in
// severities, info for every other.
func levelOf(message string) zapcore.Level {
	for _, p := range matcher() {
		if matches(p.parts, message) {
			return p.level
		}
	}
	return zapcore.InfoLevel
}
