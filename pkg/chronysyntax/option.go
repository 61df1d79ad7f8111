package chronysyntax

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// optKind is how an option's argument is checked.
type optKind int

const (
	optFlag  optKind = iota // no argument
	optInt                  // integer in [min, max]
	optFloat                // decimal in [min, max]
	optExtField
)

// optSpec is one option's (or directive argument's) grammar.
type optSpec struct {
	kind     optKind
	min, max float64
	why      string // the range as chrony's documentation gives it, for errors
}

var (
	intRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-?[0-9]+$`) })
	floatRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`) })
)

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
		if !intRE().MatchString(arg) {
			return "", fmt.Errorf("not an integer; want %s", s.why)
		}
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || float64(n) < s.min || float64(n) > s.max {
			return "", fmt.Errorf("out of range; want %s", s.why)
		}
		return strconv.FormatInt(n, 10), nil
	default:
		if !floatRE().MatchString(arg) {
			return "", fmt.Errorf("not a decimal number; want %s", s.why)
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < s.min || f > s.max {
			return "", fmt.Errorf("out of range; want %s", s.why)
		}
		return arg, nil
	}
}
