package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint built once for the black-box tests, the way the image builds it.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "entrypoint-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "entrypoint")
	// World-readable: the integration tests run it as nobody inside the launch.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build entrypoint: %v\n%s", err, out)
		os.Exit(1)
	}
	_ = os.Chmod(dir, 0o755)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the entrypoint with exactly env (plus PATH) and a deadline.
func runBin(t testing.TB, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./cmd/entrypoint -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestConfigCommand checks `entrypoint config` end to end: the effective file for a valid
// environment on stdout with exit 0, every problem of an invalid one on stderr with exit 1 and
// nothing on stdout. Paths are fixed so the goldens do not depend on the machine.
func TestConfigCommand(t *testing.T) {
	base := []string{"CHRONY_USER=nobody", "CHRONY_CONF=/nonexistent/chrony.conf", "CLOCK_CONTROL=off"}
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
			r := runBin(t, append(append([]string{}, base...), tt.env...), "config")
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.code == 0 {
				if r.stderr != "" {
					t.Errorf("stderr not empty: %q", r.stderr)
				}
				golden(t, "config-"+tt.name+".conf", r.stdout)
				return
			}
			if r.stdout != "" {
				t.Errorf("an invalid environment printed a config:\n%s", r.stdout)
			}
			golden(t, "config-"+tt.name+".err", strings.ReplaceAll(r.stderr, mounted, "MOUNTED"))
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
		{[]string{"no-such-command"}, 2, "no-such-command"},
		{[]string{"probe", "ready", "--no-such-flag"}, 2, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runBin(t, nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Errorf("output lacks %q:\n%s%s", tt.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestConfigHelpListsEveryVariable: `config --help` is the in-image reference.
func TestConfigHelpListsEveryVariable(t *testing.T) {
	r := runBin(t, nil, "config", "--help")
	for _, name := range variableNames() {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("config --help does not mention %s", name)
		}
	}
}

// container is a directory layout like the image's: RUN_DIR a root-owned 1777 directory (a
// plain --tmpfs), STATE_DIR owned by the chrony user (nobody here, as the host has no chrony).
type container struct {
	run, state, confDir string
	httpAddr            string
	env                 []string
}

func newContainer(t testing.TB, upstream *chronytest.Instance) *container {
	t.Helper()
	base := chronytest.ShortTempDir(t)
	c := &container{
		run:      filepath.Join(base, "run"),
		state:    filepath.Join(base, "state"),
		confDir:  filepath.Join(base, "conf.d"),
		httpAddr: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
	}
	must(t, os.Chmod(base, 0o755))
	must(t, os.Mkdir(c.run, 0o1777))
	must(t, os.Chmod(c.run, 0o1777))
	must(t, os.Mkdir(c.state, 0o755))
	must(t, os.Chown(c.state, 65534, 65534))
	must(t, os.Mkdir(c.confDir, 0o755))
	c.env = []string{
		"CHRONYD=" + chronytest.Chronyd(t),
		"CHRONY_USER=nobody",
		"CHRONY_CONF=" + filepath.Join(base, "chrony.conf"),
		"CHRONY_CONF_DIR=" + c.confDir,
		"STATE_DIR=" + c.state,
		"RUN_DIR=" + c.run,
		// -x always: no test may touch this machine's clock.
		"CLOCK_CONTROL=off",
		"NTP_PORT=" + strconv.Itoa(chronytest.FreeUDPPort(t)),
		"ALLOW=127.0.0.1",
		"HTTP_ADDR=" + c.httpAddr,
		"LOG_FORMAT=json",
		fmt.Sprintf("NTP_SERVERS=127.0.0.1 port %d iburst minpoll -2 maxpoll 0", upstream.Port),
	}
	return c
}

// TestRunSyncsServesAndStops is the whole product on loopback: the binary launches the real
// chronyd (-x) as an unprivileged user, it synchronises to a local upstream, the probes and
// HTTP endpoints say so, nothing runs as root, and SIGTERM ends it with 0 within 2 s and the
// drift file written.
func TestRunSyncsServesAndStops(t *testing.T) {
	up := chronytest.StartUpstream(t)
	c := newContainer(t, up)

	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, c.env...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	exited := startBin(t, cmd)

	// Ready within 20 s (sync with sub-second polling takes about 1 s here).
	var ready result
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready = runBin(t, c.env, "probe", "ready")
		if ready.code == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("entrypoint exited early: %v\n%s", err, logs.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
	if ready.code != 0 {
		t.Fatalf("probe ready: exit %d: %s%s\nlogs:\n%s", ready.code, ready.stdout, ready.stderr, logs.String())
	}
	if !strings.HasPrefix(ready.stdout, "ready: ") || !strings.Contains(ready.stdout, "127.0.0.1") {
		t.Errorf("probe ready line = %q, want the reason naming the source", ready.stdout)
	}
	if live := runBin(t, c.env, "probe", "live"); live.code != 0 {
		t.Errorf("probe live: exit %d: %s%s", live.code, live.stdout, live.stderr)
	}

	for path, want := range map[string]string{
		"/healthz": "", "/readyz": "synchronised", "/metrics": "chrony_tracking_stratum 2",
	} {
		body, code := httpGet(t, "http://"+c.httpAddr+path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, body lacks %q:\n%.2000s", path, code, want, body)
		}
	}
	body, _ := httpGet(t, "http://"+c.httpAddr+"/metrics")
	for _, want := range []string{
		"\nchrony_up 1\n",
		// The supervisor's own facts, from the launch plan and the build.
		"\nchrony_container_clock_control{reason=\"CLOCK_CONTROL=off\"} 0\n",
		"\nchrony_container_build_info{goversion=",
		"\nchrony_container_chronyd_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%.4000s", want, body)
		}
	}

	// Nothing in the "container" runs as root or holds a capability: neither PID 1 nor chronyd.
	chronydPID := readPID(t, filepath.Join(c.run, "chronyd", "chronyd.pid"))
	for _, pid := range []int{cmd.Process.Pid, chronydPID} {
		uid, capEff := procStatus(t, pid)
		if uid == "0" || capEff != "0000000000000000" {
			t.Errorf("pid %d runs with uid %s and CapEff %s; want non-root without capabilities", pid, uid, capEff)
		}
	}

	start := time.Now()
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0\n%s", err, logs.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("entrypoint still running 5 s after SIGTERM\n%s", logs.String())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("SIGTERM to exit took %v, want < 2 s", d)
	}
	if _, err := os.Stat(filepath.Join(c.state, "drift")); err != nil {
		t.Errorf("drift file not written on stop: %v", err)
	}
	if live := runBin(t, c.env, "probe", "live"); live.code != 2 {
		t.Errorf("probe live with chronyd stopped: exit %d, want 2: %s%s", live.code, live.stdout, live.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// TestProbeReadyFailsWithoutSource: chronyd answers (live) but has no reachable source, so it
// is not ready, and the probe says why.
func TestProbeReadyFailsWithoutSource(t *testing.T) {
	dead := chronytest.FreeUDPPort(t)
	up := &chronytest.Instance{Port: dead}
	c := newContainer(t, up)
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, c.env...)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	startBin(t, cmd)

	var live result
	deadline := time.Now().Add(10 * time.Second)
	for {
		live = runBin(t, c.env, "probe", "live")
		if live.code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if live.code != 0 {
		t.Fatalf("probe live: exit %d: %s%s\nlogs:\n%s", live.code, live.stdout, live.stderr, logs.String())
	}
	r := runBin(t, c.env, "probe", "ready")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "not ready: ") {
		t.Errorf("probe ready without a source: exit %d, %q; want 1 and a reason", r.code, r.stdout)
	}
	body, code := httpGet(t, "http://"+c.httpAddr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not") {
		t.Errorf("/readyz without a source: %d %q; want 503 and a reason", code, body)
	}
}

// startBin starts the entrypoint and stops it when the test ends: SIGTERM (it stops chronyd),
// then SIGKILL after 5 s. WaitDelay bounds the wait for output pipes that a surviving chronyd
// could hold open.
func startBin(t *testing.T, cmd *exec.Cmd) <-chan error {
	t.Helper()
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1) // for the test
	done := make(chan struct{})    // for the cleanup, which may run after the test took the error
	go func() { waitErr <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return waitErr
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

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read pidfile: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pidfile %s: %v", path, err)
	}
	return pid
}

// procStatus returns the real uid and effective capabilities of pid.
func procStatus(t *testing.T, pid int) (uid, capEff string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Uid:":
			uid = f[1]
		case "CapEff:":
			capEff = f[1]
		}
	}
	return uid, capEff
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
