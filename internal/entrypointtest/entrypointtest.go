package entrypointtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/proctest"
)

// ChronyUser is the user the container's chronyd runs as: nobody, as the test machine has no
// chrony user. ChronyUID and ChronyGID are its ids on Debian.
const (
	ChronyUser = "nobody"
	ChronyUID  = 65534
	ChronyGID  = 65534
)

// Path is the PATH every run gets, and nothing else from the test's environment.
const Path = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// runTimeout bounds one short command (config, probe).
const runTimeout = 30 * time.Second

// BuildTags are the Dockerfile's build tags for cmd/entrypoint: no urfave/cli doc generator
// nor "did you mean", and net/http without its bundled HTTP/2 (the entrypoint serves plain
// HTTP/1.1 to Prometheus and the kubelet). Every build of the entrypoint (the Dockerfile,
// Taskfile.yml, bench/lib.sh, the tests' builds) uses them; TestBuildTags checks the files.
const BuildTags = "urfave_cli_no_docs,urfave_cli_no_suggest,nethttpomithttp2"

// Build compiles cmd/entrypoint statically, the way the image builds it, into a fresh
// world-readable directory (the tests run it as nobody after the launch drops privileges).
// Meant for TestMain: it takes no testing.TB. cleanup removes the directory.
func Build() (bin string, cleanup func(), err error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", nil, fmt.Errorf("build entrypoint: cannot locate source file")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp("", "entrypoint-bin")
	if err != nil {
		return "", nil, fmt.Errorf("build entrypoint: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	bin = filepath.Join(dir, "entrypoint")
	build := exec.Command("go", "build", "-trimpath", "-tags", BuildTags, "-o", bin, "./cmd/entrypoint")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build entrypoint: %w\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build entrypoint: %w", err)
	}
	return bin, cleanup, nil
}

// Main is the TestMain of a black-box test package: it parses the flags, builds the
// entrypoint into *bin, runs the tests, removes the build and exits with the tests' code.
func Main(m *testing.M, bin *string) {
	flag.Parse()
	b, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Result is one finished run of the binary.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs bin with exactly env (plus Path) and a 30 s deadline, and returns its exit code
// and output. The test fails when bin cannot be run at all.
func Run(t testing.TB, bin string, env []string, args ...string) Result {
	t.Helper()
	r, err := TryRun(bin, runTimeout, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TryRun is Run with the deadline given, for goroutines other than the test's (which may not
// call t.Fatal) and for deadlines that are themselves what a test checks: it returns the error
// instead. A run killed at the deadline is a Result with Code -1, not an error. WaitDelay
// bounds the wait for output pipes a leftover child could hold open.
func TryRun(bin string, timeout time.Duration, env []string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{Path}, env...)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return Result{}, fmt.Errorf("run %s %v: %w", bin, args, err)
		}
		code = ee.ExitCode()
	}
	return Result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}

// Container is a directory layout like the image's, under one short directory (Unix socket
// paths must fit in 108 bytes): RUN_DIR a root-owned 1777 directory (a plain --tmpfs),
// STATE_DIR owned by the chrony user, an empty CHRONY_CONF_DIR, no mounted CHRONY_CONF.
type Container struct {
	Base, Run, State, ConfDir, Conf string
	HTTPAddr                        string
	NTPPort                         int
	// Env is the container's environment; change it with Set.
	Env []string
}

// NewContainer lays out a container whose chronyd syncs to servers (an NTP_SERVERS value),
// always with CLOCK_CONTROL=off: chronyd gets -x and can never touch this machine's clock.
// It serves NTP to 127.0.0.1 on a free port and HTTP on another.
func NewContainer(t testing.TB, servers string) *Container {
	t.Helper()
	base := chronytest.ShortTempDir(t)
	c := &Container{
		Base:     base,
		Run:      filepath.Join(base, "run"),
		State:    filepath.Join(base, "state"),
		ConfDir:  filepath.Join(base, "conf.d"),
		Conf:     filepath.Join(base, "chrony.conf"),
		HTTPAddr: "127.0.0.1:" + strconv.Itoa(chronytest.FreeTCPPort(t)),
		NTPPort:  chronytest.FreeUDPPort(t),
	}
	Must(t, os.Chmod(base, 0o755))
	Must(t, os.Mkdir(c.Run, 0o1777))
	Must(t, os.Chmod(c.Run, 0o1777))
	Must(t, os.Mkdir(c.State, 0o755))
	Must(t, os.Chown(c.State, ChronyUID, ChronyGID))
	Must(t, os.Mkdir(c.ConfDir, 0o755))
	c.Env = []string{
		"CHRONYD=" + chronytest.Chronyd(t),
		"CHRONY_USER=" + ChronyUser,
		"CHRONY_CONF=" + c.Conf,
		"CHRONY_CONF_DIR=" + c.ConfDir,
		"STATE_DIR=" + c.State,
		"RUN_DIR=" + c.Run,
		// -x always: no test may touch this machine's clock.
		"CLOCK_CONTROL=off",
		"NTP_PORT=" + strconv.Itoa(c.NTPPort),
		"ALLOW=127.0.0.1",
		"HTTP_ADDR=" + c.HTTPAddr,
		"LOG_FORMAT=json",
		"NTP_SERVERS=" + servers,
		// REFCLOCK=auto must not find the test machine's own PTP clocks (a cloud CI runner
		// has one): no such directory, no clocks.
		"PTP_SYSFS_DIR=" + filepath.Join(base, "no-ptp"),
	}
	return c
}

// Set replaces (or adds) NAME=value entries in c.Env. CLOCK_CONTROL cannot be changed: a
// test that tried would let chronyd touch the clock.
func (c *Container) Set(t testing.TB, kvs ...string) {
	t.Helper()
	for _, kv := range kvs {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("Set(%q): want NAME=value", kv)
		}
		if name == "CLOCK_CONTROL" {
			t.Fatalf("Set(%q): CLOCK_CONTROL stays off in tests", kv)
		}
		replaced := false
		for i, e := range c.Env {
			if strings.HasPrefix(e, name+"=") {
				c.Env[i], replaced = kv, true
			}
		}
		if !replaced {
			c.Env = append(c.Env, kv)
		}
	}
}

// Unset removes NAME entries from c.Env, for a container that must not have them at all (an
// empty value is not the same as unset). CLOCK_CONTROL cannot be removed: its default is auto.
func (c *Container) Unset(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if name == "CLOCK_CONTROL" {
			t.Fatalf("Unset(%q): CLOCK_CONTROL stays off in tests", name)
		}
		c.Env = slices.DeleteFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
	}
}

// Sources joins chronytest instances into an NTP_SERVERS value with fast polling.
func Sources(ups ...*chronytest.Instance) string {
	entries := make([]string, len(ups))
	for i, up := range ups {
		entries[i] = up.SourceEntry()
	}
	return strings.Join(entries, ",")
}

// Proc is one running entrypoint (`run`), its output collected.
type Proc struct {
	Cmd  *exec.Cmd
	Logs *SyncBuffer

	done chan struct{}
	err  error
}

// Start runs bin with env (plus Path) and stops it when the test ends with proctest.Stop:
// SIGTERM, then SIGKILL after 5 s, which fails the test. WaitDelay bounds the wait for output
// pipes a surviving child could hold open.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{Path}, env...)
	p := &Proc{Cmd: cmd, Logs: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { proctest.Stop(t, "entrypoint", cmd.Process, p.done, 5*time.Second) })
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what waiting for the process returned once it has exited: nil only for exit 0 with
// its output pipes closed in time (a surviving child holding them is an error too).
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return errors.New("entrypoint still running")
	}
}

// Wait waits at most within for the process to exit and returns its exit code (-1 when a
// signal killed it); the test fails when it is still running.
func (p *Proc) Wait(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("entrypoint still running after %v\n%s", within, p.Logs)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// WaitProbe runs `probe NAME` every 200 ms until it exits with want, for at most within, and
// returns the last result. The test fails on the deadline or when p exits first.
func WaitProbe(t testing.TB, bin string, p *Proc, env []string, name string, want int, within time.Duration) Result {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := Run(t, bin, env, "probe", name)
		if r.Code == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe %s: still exit %d (%s%s) after %v, want %d\nlogs:\n%s", name, r.Code, r.Stdout, r.Stderr, within, want, p.Logs)
		}
		select {
		case <-p.done:
			t.Fatalf("entrypoint exited while waiting for probe %s to exit %d: %v\n%s", name, want, p.err, p.Logs)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LogLine is one JSON log entry of the entrypoint.
type LogLine struct {
	Level  string         `json:"level"`
	Logger string         `json:"logger"`
	Msg    string         `json:"msg"`
	Error  string         `json:"error"`
	Fields map[string]any `json:"-"`
	Raw    string         `json:"-"`
}

// ParseLogs splits LOG_FORMAT=json output into entries; a line that is not JSON is an error
// (nothing may bypass the logger).
func ParseLogs(out string) ([]LogLine, error) {
	var lines []LogLine
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		if raw == "" {
			continue
		}
		var l LogLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return lines, fmt.Errorf("log line is not JSON: %q: %w", raw, err)
		}
		if err := json.Unmarshal([]byte(raw), &l.Fields); err != nil {
			return lines, fmt.Errorf("log line is not a JSON object: %q: %w", raw, err)
		}
		l.Raw = raw
		lines = append(lines, l)
	}
	return lines, nil
}

// Errors returns the entries at error level or above.
func Errors(lines []LogLine) []LogLine {
	var errs []LogLine
	for _, l := range lines {
		switch l.Level {
		case "error", "dpanic", "panic", "fatal":
			errs = append(errs, l)
		}
	}
	return errs
}

// SyncBuffer collects a child's output written from two pipes at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ReadPID reads a pidfile.
func ReadPID(t testing.TB, path string) int {
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

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
