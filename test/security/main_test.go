package security

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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint and capreport the chronyd stand-in, built once like the image builds
// them, in a directory nobody may enter (the entrypoint drops to nobody).
var bin, capreport string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "security-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "entrypoint")
	capreport = filepath.Join(dir, "capreport")
	for out, pkg := range map[string]string{bin: "./cmd/entrypoint", capreport: "./internal/testbin/capreport"} {
		build := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		build.Dir = filepath.Join("..", "..")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
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

// runBin runs the entrypoint with exactly env (plus PATH), bounded by timeout.
func runBin(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	r, err := tryBin(timeout, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryBin is runBin for goroutines other than the test's: it returns the error instead.
func tryBin(timeout time.Duration, env []string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return result{}, fmt.Errorf("run entrypoint %v: %w", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}, nil
}

// container is a directory layout like the image's: RUN_DIR a root-owned 1777 directory (a
// plain --tmpfs), STATE_DIR owned by nobody (the chrony user here).
type container struct {
	base, run, state, confDir string
	ntpPort                   int
	httpAddr                  string
	env                       []string
	cmd                       *exec.Cmd
	logs                      *syncBuffer
	exited                    <-chan error
}

// newContainer lays out a container serving 127.0.0.1 and syncing to upstream (nil: no source
// at all, only the variables the caller adds). CLOCK_CONTROL=off: chronyd always gets -x.
func newContainer(t *testing.T, upstream *chronytest.Instance) *container {
	t.Helper()
	base := chronytest.ShortTempDir(t)
	c := &container{
		base:     base,
		run:      filepath.Join(base, "run"),
		state:    filepath.Join(base, "state"),
		confDir:  filepath.Join(base, "conf.d"),
		ntpPort:  chronytest.FreeUDPPort(t),
		httpAddr: "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
		logs:     &syncBuffer{},
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
		"CLOCK_CONTROL=off",
		"NTP_PORT=" + strconv.Itoa(c.ntpPort),
		"ALLOW=127.0.0.1",
		"HTTP_ADDR=" + c.httpAddr,
		"LOG_FORMAT=json",
	}
	if upstream != nil {
		c.env = append(c.env, fmt.Sprintf("NTP_SERVERS=127.0.0.1 port %d iburst minpoll -2 maxpoll 0", upstream.Port))
	}
	return c
}

// start runs the entrypoint; it gets SIGTERM, then SIGKILL after 5 s, when the test ends.
func (c *container) start(t *testing.T) {
	t.Helper()
	c.cmd = exec.Command(bin)
	c.cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, c.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	c.cmd.WaitDelay = 2 * time.Second
	must(t, c.cmd.Start())
	waitErr := make(chan error, 1)
	done := make(chan struct{})
	go func() { waitErr <- c.cmd.Wait(); close(done) }()
	c.exited = waitErr
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
	})
}

// waitProbe runs `entrypoint probe <which>` until it exits 0, at most within deadline.
func (c *container) waitProbe(t *testing.T, which string, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		r := runBin(t, 5*time.Second, c.env, "probe", which)
		if r.code == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("probe %s: exit %d within %v: %s%s\nlogs:\n%s", which, r.code, deadline, r.stdout, r.stderr, c.logs)
		}
		select {
		case err := <-c.exited:
			t.Fatalf("entrypoint exited early: %v\n%s", err, c.logs)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// chronydPID reads chronyd's pidfile in RUN_DIR.
func (c *container) chronydPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.run, "chronyd", "chronyd.pid"))
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	return pid
}

// metrics returns /metrics' body.
func (c *container) metrics(t *testing.T) string {
	t.Helper()
	body, code, err := get("http://"+c.httpAddr+"/metrics", 5*time.Second)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	return body
}

// metricValue is the value of an unlabelled sample in exposition text, or -1 when absent.
func metricValue(body, name string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func get(url string, timeout time.Duration) (string, int, error) {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), resp.StatusCode, err
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test ./test/security -update writes it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// syncBuffer collects a child's output written from two pipes at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
