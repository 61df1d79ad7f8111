package security

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/internal/testbin"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/config/configtest"
)

// maxExecString is the kernel's limit on one environment string (MAX_ARG_STRLEN, 32 pages):
// a longer value cannot reach the binary at all, so such cases run only at the config.Load level.
const maxExecString = 32 * 4096

// hostile are environments beyond configtest.Cases, each of which must be refused.
var hostile = []configtest.Case{
	// Directives smuggled in through values.
	{Name: "smuggle-bindcmdaddress-option", Env: []string{"NTP_SERVERS=a.example iburst bindcmdaddress 0.0.0.0"}},
	{Name: "smuggle-cmdallow-in-pool", Env: []string{"NTP_POOLS=p.example cmdallow all"}},
	{Name: "smuggle-cr-in-allow", Env: []string{"ALLOW=all\rcmdport 323"}},
	{Name: "smuggle-words-in-allow", Env: []string{"ALLOW=10.0.0.0/8 cmdport 323"}},
	{Name: "smuggle-words-in-path", Env: []string{"STATE_DIR=/var/lib/chrony cmdport 323"}},
	{Name: "smuggle-newline-in-path", Env: []string{"CHRONY_CONF_DIR=/etc/chrony/conf.d\ncmdport 323"}},
	{Name: "smuggle-newline-in-stratum", Env: []string{"LOCAL_STRATUM=10\ncmdallow all"}},
	{Name: "smuggle-include-glob", Env: []string{"CHRONY_CONF_DIR=/etc/*"}},
	{Name: "smuggle-vertical-tab", Env: []string{"NTP_SERVERS=a.example\vcmdport 323"}},
	// Huge values that still fit through exec.
	{Name: "huge-pools-100k", Env: []string{"NTP_POOLS=" + strings.Repeat("p", 100<<10)}},
	{Name: "huge-allow-list", Env: []string{"ALLOW=" + strings.Repeat("10.0.0.1,", 600) + "10.0.0.2"}},
	{Name: "huge-number", Env: []string{"LOCAL_STRATUM=" + strings.Repeat("9", 4000)}},
	// Unicode look-alikes and invisible characters.
	{Name: "fullwidth-digits-allow", Env: []string{"ALLOW=１０.0.0.0/8"}},
	{Name: "fullwidth-port", Env: []string{"NTP_PORT=１２３"}},
	{Name: "cyrillic-off", Env: []string{"CLOCK_CONTROL=оff"}},
	{Name: "cyrillic-true", Env: []string{"ENABLE_NTS=truе"}},
	{Name: "zero-width-space", Env: []string{"NTP_SERVERS=time\u200b.example"}},
	{Name: "right-to-left-override", Env: []string{"NTP_SERVERS=\u202egro.elpmaxe"}},
	{Name: "non-breaking-space", Env: []string{"NTP_SERVERS=a.example\u00a0iburst"}},
	// Negative and overflowing numbers.
	{Name: "negative-port", Env: []string{"NTP_PORT=-123"}},
	{Name: "zero-port", Env: []string{"NTP_PORT=0"}},
	{Name: "plus-port", Env: []string{"NTP_PORT=+123"}},
	{Name: "nts-port-overflow", Env: []string{"NTS_SERVER_CERT=/c.pem", "NTS_SERVER_KEY=/k.pem", "NTS_PORT=65536"}},
	{Name: "stratum-zero", Env: []string{"LOCAL_STRATUM=0"}},
	{Name: "minpoll-far-negative", Env: []string{"NTP_SERVERS=a.example minpoll -99"}},
	{Name: "maxpoll-int32-overflow", Env: []string{"NTP_SERVERS=a.example maxpoll 2147483648"}},
	{Name: "offset-float-overflow", Env: []string{"NTP_SERVERS=a.example offset 1e309"}},
	{Name: "distance-int64-overflow", Env: []string{"READY_MAX_DISTANCE=9223372036854775808ns"}},
	// IPv6 literals with zones.
	{Name: "ipv6-zone-escaped", Env: []string{"NTP_SERVERS=fe80::1%25eth0"}},
	{Name: "ipv6-zone-in-pool", Env: []string{"NTP_POOLS=fe80::1%lo iburst"}},
	{Name: "ipv6-zone-in-allow-cidr", Env: []string{"ALLOW=fe80::%lo/64"}},
	// Empty lists.
	{Name: "servers-only-commas", Env: []string{"NTP_SERVERS=,"}},
	{Name: "pools-only-commas", Env: []string{"NTP_POOLS=,,,"}},
	{Name: "allow-blank-items", Env: []string{"ALLOW= , "}},
	// Duplicate sources.
	{Name: "duplicate-ipv4", Env: []string{"NTP_SERVERS=192.0.2.1,192.0.2.1 iburst"}},
	{Name: "duplicate-ipv6-spellings", Env: []string{"NTP_SERVERS=2001:db8::1,2001:DB8:0:0::1"}},
	{Name: "duplicate-server-and-pool", Env: []string{"NTP_SERVERS=a.example", "NTP_POOLS=A.example."}},
	// Typos of variable names.
	{Name: "typo-servres", Env: []string{"NTP_SERVRES=a.example"}},
	{Name: "typo-alow", Env: []string{"ALOW=all"}},
	{Name: "typo-nts-cert", Env: []string{"NTS_SERVER_CRT=/c.pem"}},
	{Name: "typo-clock-contrl", Env: []string{"CLOCK_CONTRL=off"}},
	// NTP_DIRECTIVES: an allow-list, and the same screening as every other value.
	{Name: "smuggle-directive-cmdallow", Env: []string{"NTP_DIRECTIVES=cmdallow all"}},
	{Name: "smuggle-directive-after-args", Env: []string{"NTP_DIRECTIVES=ratelimit interval 1 bindcmdaddress /tmp/s"}},
	{Name: "smuggle-directive-after-flag", Env: []string{"NTP_DIRECTIVES=rtcsync cmdport 323"}},
	{Name: "smuggle-directive-cr", Env: []string{"NTP_DIRECTIVES=rtcsync\rcmdport 323"}},
	{Name: "smuggle-directive-include", Env: []string{"NTP_DIRECTIVES=rtcsync,include /etc/shadow"}},
	{Name: "smuggle-directive-confdir", Env: []string{"NTP_DIRECTIVES=confdir /tmp"}},
	{Name: "smuggle-directive-fullwidth-comma", Env: []string{"NTP_DIRECTIVES=rtcsync\uff0ccmdallow all"}},
	{Name: "smuggle-directive-hash", Env: []string{"NTP_DIRECTIVES=makestep 1 3 # comment"}},
	{Name: "directive-huge-number", Env: []string{"NTP_DIRECTIVES=clientloglimit 99999999999999999999"}},
	{Name: "directive-negative-limit", Env: []string{"NTP_DIRECTIVES=ratelimit burst -1"}},
	// Quotes: one surrounding pair is stripped, any other stays an error.
	{Name: "quotes-doubled", Env: []string{"NTP_SERVERS=\"\"a.example\"\""}},
	{Name: "quotes-inside-pair", Env: []string{"NTP_SERVERS=\"a.example\",\"b.example\""}},
	{Name: "quotes-mixed-pair", Env: []string{"ALLOW='all\""}},
	// Numbers that libc reads as IPv4 addresses in non-canonical forms.
	{Name: "numeric-host-hex", Env: []string{"NTP_SERVERS=0x7f000003"}},
	{Name: "numeric-host-dotted-hex", Env: []string{"NTP_SERVERS=127.0.0.3,0x7f.0x0.0x0.0x3"}},
	{Name: "numeric-host-octal", Env: []string{"NTP_POOLS=0177.0.0.1"}},
	{Name: "numeric-host-decimal", Env: []string{"NTP_SERVERS=2130706433"}},
	{Name: "numeric-host-http-addr", Env: []string{"HTTP_ADDR=0x7f.1:9123"}},
	// Other images' switches that contradict ours.
	{Name: "sysclk-against-clock-control", Env: []string{"ENABLE_SYSCLK=yes", "CLOCK_CONTROL=off"}},
	{Name: "ip-family-against-source", Env: []string{"IP_FAMILY=4", "NTP_SERVERS=::1"}},
	{Name: "micro-sign-not-unit", Env: []string{"READY_MAX_DISTANCE=1\u00b5"}},
	// REFCLOCK and TIME_SOURCE: the refclock line is built from allow-listed words only.
	{Name: "smuggle-refclock-newline", Env: []string{"REFCLOCK=/dev/ptp0\ncmdallow all"}},
	{Name: "smuggle-refclock-cr", Env: []string{"REFCLOCK=/dev/ptp0 poll 0\rbindcmdaddress 0.0.0.0"}},
	{Name: "smuggle-refclock-directive", Env: []string{"REFCLOCK=/dev/ptp0 poll 0 cmdport 323"}},
	{Name: "smuggle-refclock-driver-options", Env: []string{"REFCLOCK=PHC /dev/ptp0:extpps:pin=0 poll 0"}},
	{Name: "smuggle-refclock-refid-words", Env: []string{"REFCLOCK=SOCK /run/x.sock refid cmdallow"}},
	{Name: "smuggle-refclock-hash", Env: []string{"REFCLOCK=/dev/ptp0 # poll 0"}},
	{Name: "smuggle-refclock-include-glob", Env: []string{"REFCLOCK=/dev/ptp*"}},
	{Name: "smuggle-refclock-other-driver", Env: []string{"REFCLOCK=PPS /dev/pps0"}},
	{Name: "refclock-relative-path", Env: []string{"REFCLOCK=dev/ptp0"}},
	{Name: "refclock-traversal", Env: []string{"REFCLOCK=/dev/../proc/self/mem"}},
	{Name: "refclock-fullwidth-path", Env: []string{"REFCLOCK=/dev/ｐｔｐ0"}},
	{Name: "refclock-huge-poll", Env: []string{"REFCLOCK=/dev/ptp0 poll 99999999999999999999"}},
	{Name: "refclock-nan-offset", Env: []string{"REFCLOCK=/dev/ptp0 offset nan"}},
	{Name: "smuggle-time-source-words", Env: []string{"TIME_SOURCE=aws cmdallow all"}},
	{Name: "smuggle-time-source-newline", Env: []string{"TIME_SOURCE=gcp\nallow all"}},
	{Name: "time-source-cyrillic", Env: []string{"TIME_SOURCE=аws"}},
	{Name: "smear-mix-gcp-and-cloudflare", Env: []string{"TIME_SOURCE=gcp", "NTP_SERVERS=time.cloudflare.com"}},
	{Name: "typo-refclok", Env: []string{"REFCLOK=auto"}},
	// Bad NTS settings.
	{Name: "nts-key-without-cert", Env: []string{"NTS_SERVER_KEY=/k.pem"}},
	{Name: "nts-relative-cert", Env: []string{"NTS_SERVER_CERT=tls.crt", "NTS_SERVER_KEY=/k.pem"}},
}

// binaryCases are the environments run through the binary: every error case of
// configtest.Cases plus hostile, except those exec cannot pass (a NUL byte, a string over
// MAX_ARG_STRLEN), which TestHostileAtLoadLevel covers.
func binaryCases(t *testing.T) (run, loadOnly []configtest.Case) {
	t.Helper()
	for _, c := range append(append([]configtest.Case{}, configtest.Cases...), hostile...) {
		if _, err := config.Load(c.Env); err == nil {
			continue // a valid environment
		}
		// os/exec keeps only the last of a repeated name: such cases run in
		// test/switching's TestRepeatedVariableThroughBinary, which execs the raw list.
		passable := true
		names := map[string]bool{}
		for _, kv := range c.Env {
			name, _, _ := strings.Cut(kv, "=")
			if strings.ContainsRune(kv, 0) || len(kv) >= maxExecString || names[name] {
				passable = false
			}
			names[name] = true
		}
		if passable {
			run = append(run, c)
		} else {
			loadOnly = append(loadOnly, c)
		}
	}
	return run, loadOnly
}

// TestHostileEnvironments runs the entrypoint (run, the default command) with each hostile
// environment: exit 1, stderr (golden) lists every problem with a line naming its variable,
// and chronyd (capreport standing in) never starts.
func TestHostileEnvironments(t *testing.T) {
	cases, _ := binaryCases(t)
	if len(cases) < 40 {
		t.Fatalf("only %d hostile environments, want at least 40", len(cases))
	}
	for _, h := range hostile {
		if _, err := config.Load(h.Env); err == nil {
			t.Errorf("%s: accepted by config.Load: %v", h.Name, h.Env)
		}
	}
	capreport := testbin.Build(t, "capreport")
	dir := t.TempDir()
	report := filepath.Join(dir, "capreport.json")
	base := []string{
		"CHRONYD=" + capreport, "CAPREPORT_OUT=" + report,
		"CHRONY_USER=nobody", "CLOCK_CONTROL=off", "HTTP_ADDR=off",
		"CHRONY_CONF=/nonexistent/chrony.conf", "RUN_DIR=" + dir, "STATE_DIR=" + dir,
	}
	if _, err := config.Load(base); err != nil {
		t.Fatalf("the base environment itself is invalid: %v", err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := entrypointtest.Run(t, bin, append(append([]string{}, base...), c.Env...))
			if r.Code != 1 {
				t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("stdout not empty: %q", r.Stdout)
			}
			stderr := r.Stderr
			if strings.HasPrefix(stderr, "{") {
				stderr = plainFromJSON(t, stderr)
			}
			body, ok := strings.CutPrefix(stderr, "invalid environment:\n")
			if !ok {
				t.Fatalf("stderr does not start with \"invalid environment:\":\n%s", r.Stderr)
			}
			for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
				if !configtest.NamesVariable(line) {
					t.Errorf("error line names no variable: %q", line)
				}
			}
			golden.Compare(t, *update, filepath.Join("testdata", "hostile", c.Name+".err"), strings.ReplaceAll(stderr, dir, "DIR"))
			if _, err := os.Stat(report); err == nil {
				t.Fatalf("chronyd (capreport) was started")
			}
		})
	}
}

// plainFromJSON turns `run`'s configuration errors in json mode (one error-level object per
// problem, its message "invalid environment: " and the problem) into the plain form that
// console mode prints, so both are held to the same goldens. A line that is not such an
// object fails the test.
func plainFromJSON(t *testing.T, stderr string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("invalid environment:\n")
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var e struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("configuration error is not JSON: %q", line)
		}
		msg, ok := strings.CutPrefix(e.Msg, "invalid environment: ")
		if e.Level != "error" || !ok {
			t.Fatalf("configuration error %q: want level error and \"invalid environment: \"", line)
		}
		b.WriteString(msg + "\n")
	}
	return b.String()
}

// TestHostileAtLoadLevel covers what exec cannot deliver (a NUL byte ends a C string; a value
// over MAX_ARG_STRLEN makes execve fail with E2BIG; os/exec drops all but the last of a
// repeated name): config.Load itself must reject it with a
// VarError naming the variable.
func TestHostileAtLoadLevel(t *testing.T) {
	_, loadOnly := binaryCases(t)
	loadOnly = append(loadOnly,
		configtest.Case{Name: "nul-in-allow", Env: []string{"ALLOW=10.0.0.0/8\x00cmdallow all"}},
		configtest.Case{Name: "nul-in-path", Env: []string{"STATE_DIR=/var/lib/chrony\x00"}},
		configtest.Case{Name: "huge-allow-1m", Env: []string{"ALLOW=" + strings.Repeat("1", 1<<20)}},
	)
	if len(loadOnly) < 4 {
		t.Fatalf("only %d load-level cases; configtest.Cases lost its NUL or huge case?", len(loadOnly))
	}
	for _, c := range loadOnly {
		t.Run(c.Name, func(t *testing.T) {
			_, err := config.Load(c.Env)
			var ve *config.VarError
			if !errors.As(err, &ve) {
				t.Fatalf("Load: %v, want a VarError", err)
			}
			name, _, _ := strings.Cut(c.Env[0], "=")
			if ve.Name != name || !strings.HasPrefix(err.Error(), name+"=") {
				t.Errorf("error %q does not name %s", err, name)
			}
		})
	}
}
