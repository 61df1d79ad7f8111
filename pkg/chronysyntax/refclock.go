package chronysyntax

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// maxSocketPath is the longest Unix socket path the kernel accepts (sun_path without its NUL):
// a SOCK refclock's path must fit.
const maxSocketPath = 107

// refclockOptions is the allow-list of refclock options, with chrony.conf(5)'s ranges (each
// tried with Debian's chronyd 4.3 -p). refid and lock take a reference id: checked apart.
var refclockOptions = map[string]optSpec{
	"prefer": {kind: optFlag}, "noselect": {kind: optFlag}, "trust": {kind: optFlag},
	"require": {kind: optFlag}, "tai": {kind: optFlag}, "pps": {kind: optFlag},

	"poll":          {optInt, -6, 24, "-6..24 (a power of 2 in seconds)"},
	"dpoll":         {optInt, -6, 24, "-6..24 (a power of 2 in seconds)"},
	"filter":        {optInt, 1, 4096, "1..4096 samples"},
	"rate":          {optInt, 1, 1000000, "1..1000000 pulses per second"},
	"stratum":       {optInt, 0, 15, "0..15"},
	"maxlockage":    {optInt, 1, math.MaxInt32, "1 or more pulses"},
	"offset":        {optFloat, -1000, 1000, "-1000..1000 seconds"},
	"delay":         {optFloat, 0, 1000, "0..1000 seconds"},
	"precision":     {optFloat, 0, 1, "0..1 seconds"},
	"maxdispersion": {optFloat, 0, 1000, "0..1000 seconds"},
	"width":         {optFloat, 0, 1, "0..1 seconds"},
}

// RefclockOptionList is the documented allow-list of refclock options, in a stable order.
const RefclockOptionList = "prefer, noselect, trust, require, tai, pps, poll N, dpoll N, filter N, rate N, stratum N, " +
	"maxlockage N, offset S, delay S, precision S, maxdispersion S, width S, refid ID, lock ID"

// refidRE is a reference id: 1..4 letters or digits, as chronyc shows it.
var refidRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9]{1,4}$`) })

// shmSegment is an SHM refclock's segment number.
var shmSegment = optSpec{optInt, 0, 255, "0..255"}

// ParseRefclock checks the rest of a `refclock DRIVER PARAM [OPTION ...]` line: PARAM for the
// driver (PHC and SOCK a path, SHM a segment number) and each option from the allow-list
// (RefclockOptionList), at most once. It returns the options in chrony's syntax.
func ParseRefclock(driver, param string, options []string) ([]string, error) {
	switch driver {
	case "SHM":
		if _, err := shmSegment.check(param); err != nil {
			return nil, fmt.Errorf("SHM segment %q: want 0..255 (gpsd uses 0..3)", param)
		}
	case "PHC", "SOCK":
		if err := checkRefclockPath(param); err != nil {
			return nil, fmt.Errorf("%s %q: %w", driver, param, err)
		}
	default:
		return nil, fmt.Errorf("driver %q: want PHC, SOCK or SHM", driver)
	}
	var out []string
	used := map[string]bool{}
	for i := 0; i < len(options); i++ {
		word := strings.ToLower(options[i])
		if used[word] {
			return nil, fmt.Errorf("option %s is given twice", word)
		}
		used[word] = true
		if word == "refid" || word == "lock" {
			if i+1 >= len(options) || !refidRE().MatchString(options[i+1]) {
				return nil, fmt.Errorf("option %s needs a reference id of 1..4 letters or digits", word)
			}
			i++
			out = append(out, word+" "+options[i])
			continue
		}
		spec, ok := refclockOptions[word]
		if !ok {
			return nil, fmt.Errorf("unknown refclock option %q (allowed: %s)", options[i], RefclockOptionList)
		}
		if spec.kind == optFlag {
			out = append(out, word)
			continue
		}
		if i+1 >= len(options) {
			return nil, fmt.Errorf("option %s needs a value (%s)", word, spec.describe())
		}
		i++
		arg, err := spec.check(options[i])
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", word, options[i], err)
		}
		out = append(out, word+" "+arg)
	}
	return out, nil
}

// checkRefclockPath accepts an absolute clean path that stays one word in chrony.conf. A
// colon would start chrony's driver options (PHC /dev/ptp0:nocrossts), which are not offered.
func checkRefclockPath(p string) error {
	switch {
	case !filepath.IsAbs(p):
		return errors.New("must be an absolute path (such as /dev/ptp0)")
	case filepath.Clean(p) != p:
		return fmt.Errorf("not a clean path; did you mean %s?", filepath.Clean(p))
	case strings.ContainsAny(p, ":*?[]{}"):
		return errors.New("must not contain ':' or glob characters")
	case len(p) > maxSocketPath:
		return fmt.Errorf("%d bytes long; the limit is %d", len(p), maxSocketPath)
	}
	return nil
}
