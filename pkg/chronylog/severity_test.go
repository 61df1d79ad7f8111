package chronylog

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

// regexpLevelOf is the reference the hand-written matcher replaced: every format compiled into
// an anchored regular expression (%s as .*, integers as -?[0-9]+, %f as a decimal), the most
// literal text first.
func regexpLevelOf(t *testing.T) func(string) zapcore.Level {
	conversion := regexp.MustCompile(`%(\.\d+)?[sdufl]+`)
	type compiled struct {
		level   zapcore.Level
		re      *regexp.Regexp
		literal int
	}
	var table []compiled
	for _, s := range severities {
		var b strings.Builder
		b.WriteString("^")
		last := 0
		for _, loc := range conversion.FindAllStringIndex(s.format, -1) {
			b.WriteString(regexp.QuoteMeta(s.format[last:loc[0]]))
			switch s.format[loc[1]-1] {
			case 's':
				b.WriteString(".*")
			case 'f':
				b.WriteString(`[-+]?[0-9.]+(e[-+]?[0-9]+)?`)
			default:
				b.WriteString(`-?[0-9]+`)
			}
			last = loc[1]
		}
		b.WriteString(regexp.QuoteMeta(s.format[last:]) + "$")
		table = append(table, compiled{s.level, regexp.MustCompile(b.String()), len(conversion.ReplaceAllString(s.format, ""))})
	}
	sort.SliceStable(table, func(i, j int) bool { return table[i].literal > table[j].literal })
	return func(m string) zapcore.Level {
		for _, c := range table {
			if c.re.MatchString(m) {
				return c.level
			}
		}
		return zapcore.InfoLevel
	}
}

// TestMatcherAgreesWithRegexp: on every format of the table filled with typical and odd
// values, on near misses of each (text added, cut, a number replaced by a word) and on the
// test lines, levelOf gives the level the regular expressions gave.
func TestMatcherAgreesWithRegexp(t *testing.T) {
	ref := regexpLevelOf(t)
	fills := map[byte][]string{
		's': {"", "x", "127.0.0.1:123", "a : b", "/run/chrony (UID != 100)", "%s", "12"},
		'd': {"0", "12", "-3", "1.5", "x"},
		'f': {"0.5", "-1.500000", "+2", "1e-05", "3.25e+10", ".", "-", "1e", "x"},
	}
	var msgs []string
	for _, s := range severities {
		parts := splitFormat(s.format)
		// Every conversion filled with the n-th value of its kind (the last one reused).
		for n := range 9 {
			var b strings.Builder
			for _, p := range parts {
				if p.conv == 0 {
					b.WriteString(p.text)
					continue
				}
				f := fills[p.conv]
				if p.conv == 'u' {
					f = fills['d']
				}
				b.WriteString(f[min(n, len(f)-1)])
			}
			m := b.String()
			msgs = append(msgs, m, m+" extra", "x"+m, strings.TrimSuffix(m, m[max(len(m)-1, 0):]), m+"\r")
		}
		msgs = append(msgs, s.format)
	}
	for _, l := range lines {
		msgs = append(msgs, Parse(l.line).Message)
	}
	levels := map[zapcore.Level]int{}
	for _, m := range msgs {
		want := ref(m)
		levels[want]++
		if got := levelOf(m); got != want {
			t.Errorf("levelOf(%q) = %v, the regular expressions gave %v", m, got, want)
		}
	}
	// The corpus exercises every level.
	for _, l := range []zapcore.Level{zapcore.InfoLevel, zapcore.WarnLevel, zapcore.ErrorLevel} {
		if levels[l] == 0 {
			t.Errorf("no message of level %v in the corpus", l)
		}
	}
	t.Logf("%d messages: %v", len(msgs), levels)
}

func TestSplitFormat(t *testing.T) {
	for _, tc := range []struct {
		format string
		want   []part
	}{
		{"Key %u is %s", []part{{text: "Key "}, {conv: 'u'}, {text: " is "}, {conv: 's'}}},
		{"Adjustment of %.1f seconds is invalid", []part{{text: "Adjustment of "}, {conv: 'f'}, {text: " seconds is invalid"}}},
		{"%s is not directory", []part{{conv: 's'}, {text: " is not directory"}}},
		{"%lu and 100%", []part{{conv: 'u'}, {text: " and 100%"}}},
		{"50%.x done", []part{{text: "50%.x done"}}},
		{"mlockall() failed", []part{{text: "mlockall() failed"}}},
	} {
		got := splitFormat(tc.format)
		if len(got) != len(tc.want) {
			t.Errorf("splitFormat(%q) = %v, want %v", tc.format, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("splitFormat(%q) = %v, want %v", tc.format, got, tc.want)
				break
			}
		}
	}
}
