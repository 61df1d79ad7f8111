package main

import (
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/procstatus"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint built once for the black-box tests, the way the image builds it.
var bin string

func TestMain(m *testing.M) { entrypointtest.Main(m, &bin) }

// TestConfigCommand checks `entrypoint config` end to end: the effective file for a valid
// environment on stdout with exit 0, every problem of an invalid one on stderr with exit 1 and
// nothing on stdout. Paths are fixed so the goldens do not depend on the machine. It is a
// dry run of a start, so it gets what a start needs: a chronyd (for `chronyd -p`) and a user.
func TestConfigCommand(t *testing.T) {
	base := []string{"CHRONYD=" + chronytest.Chronyd(t), "CHRONY_USER=nobody", "CHRONY_CONF=/nonexistent/chrony.conf", "CLOCK_CONTROL=off", "PTP_SYSFS_DIR=/nonexistent/ptp"}
	mounted := filepath.Join(t.TempDir(), "chrony.conf")
	if err := os.WriteFile(mounted, []byte("server 192.0.2.1 iburst\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		code int
	}{
		{"defaults", nil, 0},
		{"servers-nts-client-only", []string{"NTP_SERVERS=time.cloudflare.com iburst,nts.netnod.se iburst maxpoll 8", "ENABLE_NTS=true", "ALLOW=none", "LOCAL_STRATUM=off"}, 0},
		{"allow-cidrs-port", []string{"ALLOW=10.0.0.0/8,fd00::/8", "NTP_PORT=1123", "NOCLIENTLOG=yes"}, 0},
		{"newline-injection", []string{"NTP_SERVERS=pool.ntp.org\nallow all"}, 1},
		{"several-errors", []string{"NTP_PORT=70000", "LOCAL_STRATUM=-1", "ALLOW=10.0.0.0/33"}, 1},
		{"near-miss", []string{"NTP_SERVER=pool.ntp.org"}, 1},
		{"mounted-with-render-vars", []string{"CHRONY_CONF=" + mounted, "NTP_SERVERS=a.example"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := entrypointtest.Run(t, bin, append(append([]string{}, base...), tt.env...), "config")
			if r.Code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, tt.code, r.Stdout, r.Stderr)
			}
			if tt.code == 0 {
				if r.Stderr != "" {
					t.Errorf("stderr not empty: %q", r.Stderr)
				}
				golden.Compare(t, *update, filepath.Join("testdata", "config-"+tt.name+".conf"), r.Stdout)
				return
			}
			if r.Stdout != "" {
				t.Errorf("an invalid environment printed a config:\n%s", r.Stdout)
			}
			golden.Compare(t, *update, filepath.Join("testdata", "config-"+tt.name+".err"), strings.ReplaceAll(r.Stderr, mounted, "MOUNTED"))
		})
	}
}

// TestCommandLine covers help, version and usage errors.
func TestCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{[]string{"--help"}, 0, "probe"},
		{[]string{"run", "--help"}, 0, "supervise chronyd"},
		{[]string{"config", "--help"}, 0, "READY_MAX_DISTANCE"},
		{[]string{"probe", "--help"}, 0, "could not ask chronyd"},
		{[]string{"probe", "ready", "--help"}, 0, "--timeout"},
		{[]string{"version"}, 0, "entrypoint dev"},
		{[]string{"--version"}, 0, "entrypoint dev"},
		{[]string{"no-such-command"}, 2, "no-such-command"},
		{[]string{"chronyd", "-x"}, 2, "CLOCK_CONTROL=off is chronyd -x"},
		{[]string{"-x"}, 2, "CLOCK_CONTROL=off is chronyd -x"},
		{[]string{"chronyc-tracking"}, 2, "did you mean `chronyc`?"},
		{[]string{"probe", "ready", "--no-such-flag"}, 2, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := entrypointtest.Run(t, bin, nil, tt.args...)
			if r.Code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s%s", r.Code, tt.code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stdout+r.Stderr, tt.want) {
				t.Errorf("output lacks %q:\n%s%s", tt.want, r.Stdout, r.Stderr)
			}
		})
	}
}

// TestConfigHelpListsEveryVariable: `config --help` is the in-image reference.
func TestConfigHelpListsEveryVariable(t *testing.T) {
	r := entrypointtest.Run(t, bin, nil, "config", "--help")
	for _, name := range variableNames() {
		if !strings.Contains(r.Stdout, name) {
			t.Errorf("config --help does not mention %s", name)
		}
	}
}

// TestRunSyncsServesAndStops is the whole product on loopback: the binary launches the real
// chronyd (-x) as an unprivileged user, it synchronises to a local upstream, the probes and
// HTTP endpoints say so, nothing runs as root, and SIGTERM ends it with 0 within 2 s and the
// drift file written.
func TestRunSyncsServesAndStops(t *testing.T) {
	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, up.SourceEntry())
	p := entrypointtest.Start(t, bin, c.Env)

	// Ready within 20 s (sync with sub-second polling takes about 1 s here).
	ready := entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 20*time.Second)
	if !strings.HasPrefix(ready.Stdout, "ready: ") || !strings.Contains(ready.Stdout, "127.0.0.1") {
		t.Errorf("probe ready line = %q, want the reason naming the source", ready.Stdout)
	}
	if live := entrypointtest.Run(t, bin, c.Env, "probe", "live"); live.Code != 0 {
		t.Errorf("probe live: exit %d: %s%s", live.Code, live.Stdout, live.Stderr)
	}

	for path, want := range map[string]string{
		"/healthz": "", "/readyz": "synchronised", "/metrics": "chrony_tracking_stratum 2",
	} {
		body, code := httpGet(t, "http://"+c.HTTPAddr+path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, body lacks %q:\n%.2000s", path, code, want, body)
		}
	}
	body, _ := httpGet(t, "http://"+c.HTTPAddr+"/metrics")
	for _, want := range []string{
		"\nchrony_up 1\n",
		// The supervisor's own facts, from the launch plan and the build.
		"\nchrony_container_clock_control{reason=\"clock_control_off\"} 0\n",
		// Readiness as /readyz judges it, as a gauge with a one-word reason.
		"\nchrony_container_ready{reason=\"synchronised\"} 1\n",
		"\nchrony_container_build_info{goversion=",
		"\nchrony_container_chronyd_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%.4000s", want, body)
		}
	}

	// Nothing in the "container" runs as root or holds a capability: neither PID 1 nor chronyd.
	chronydPID := entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid"))
	for _, pid := range []int{p.Cmd.Process.Pid, chronydPID} {
		uid, capEff := procStatus(t, pid)
		if uid == "0" || capEff != "0000000000000000" {
			t.Errorf("pid %d runs with uid %s and CapEff %s; want non-root without capabilities", pid, uid, capEff)
		}
	}

	start := time.Now()
	entrypointtest.Must(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	p.Wait(t, 5*time.Second)
	if err := p.Err(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0\n%s", err, p.Logs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("SIGTERM to exit took %v, want < 2 s", d)
	}
	if _, err := os.Stat(filepath.Join(c.State, "drift")); err != nil {
		t.Errorf("drift file not written on stop: %v", err)
	}
	// Probes and the metrics collector bind client sockets in RUN_DIR; none may outlive them.
	if left, _ := filepath.Glob(filepath.Join(c.Run, "client-*")); len(left) != 0 {
		t.Errorf("client sockets left in RUN_DIR after exit: %v", left)
	}
	if live := entrypointtest.Run(t, bin, c.Env, "probe", "live"); live.Code != 2 {
		t.Errorf("probe live with chronyd stopped: exit %d, want 2: %s%s", live.Code, live.Stdout, live.Stderr)
	}
	// The probe says "cannot ask chronyd" and then the error, not a second "cannot ...".
	if ready := entrypointtest.Run(t, bin, c.Env, "probe", "ready"); ready.Code != 2 || strings.Count(ready.Stderr, "cannot") != 1 {
		t.Errorf("probe ready with chronyd stopped: exit %d, %q; want 2 and one \"cannot\"", ready.Code, ready.Stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(p.Logs.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// TestProbeReadyFailsWithoutSource: chronyd answers (live) but has no reachable source, so it
// is not ready, and the probe says why.
func TestProbeReadyFailsWithoutSource(t *testing.T) {
	dead := &chronytest.Instance{Port: chronytest.FreeUDPPort(t)}
	c := entrypointtest.NewContainer(t, dead.SourceEntry())
	p := entrypointtest.Start(t, bin, c.Env)

	entrypointtest.WaitProbe(t, bin, p, c.Env, "live", 0, 10*time.Second)
	r := entrypointtest.Run(t, bin, c.Env, "probe", "ready")
	if r.Code != 1 || !strings.HasPrefix(r.Stdout, "not ready: ") {
		t.Errorf("probe ready without a source: exit %d, %q; want 1 and a reason", r.Code, r.Stdout)
	}
	body, code := httpGet(t, "http://"+c.HTTPAddr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "fail: ") || !strings.Contains(body, "NTP_SERVERS") {
		t.Errorf("/readyz without a source: %d %q; want 503 and a reason naming NTP_SERVERS", code, body)
	}
}

func httpGet(t testing.TB, url string) (string, int) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), resp.StatusCode
}

// procStatus returns the real uid and effective capabilities of pid.
func procStatus(t *testing.T, pid int) (uid, capEff string) {
	t.Helper()
	st, err := procstatus.Read(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st.First("Uid"), st["CapEff"]
}
