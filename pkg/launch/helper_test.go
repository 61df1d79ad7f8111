package launch

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/pkg/config"
	"go.uber.org/zap"
)

// Run changes the credentials of the whole process, so tests run it in a child: this test
// binary re-executed (under setpriv, which sets the starting privileges) with LAUNCH_HELPER=1.
// The child writes "pid socket" to LAUNCH_STARTED once chronyd runs, and exits with chronyd's code.
func TestMain(m *testing.M) {
	if os.Getenv("LAUNCH_HELPER") == "1" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

func helperMain() int {
	log, _ := zap.NewDevelopment()
	s, err := config.Load(os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch error:", err)
		return 2
	}
	code, err := start(s, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch error:", err)
	}
	return code
}

// start is cmd's sequence: gather, decide, execute, then (as cmd serves HTTP) say that
// chronyd runs, and wait.
func start(s *config.Settings, log *zap.Logger) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	facts, err := Gather(ctx, s, log)
	if err != nil {
		return 1, err
	}
	plan, err := Decide(s, facts)
	if err != nil {
		return 1, err
	}
	r, err := Execute(ctx, plan, log, Options{Env: os.Environ(), ShutdownTimeout: 5 * time.Second})
	if err != nil {
		return 1, err
	}
	if err := os.WriteFile(os.Getenv("LAUNCH_STARTED"), fmt.Appendf(nil, "%d %s\n", r.PID, plan.Layout.Socket()), 0o644); err != nil {
		cancel()
		_, _ = r.Wait()
		return 1, err
	}
	return r.Wait()
}

// env is a test's directories and environment for the helper.
type env struct {
	base, run, state, out string
	started               string
	vars                  []string
}

// newEnv lays out what a container gets: RUN_DIR a root-owned 1777 directory (a plain tmpfs),
// STATE_DIR owned by nobody, an output directory anyone may write.
func newEnv(t *testing.T, chronyd string) *env {
	t.Helper()
	base := chronytest.ShortTempDir(t)
	e := &env{base: base, run: filepath.Join(base, "run"), state: filepath.Join(base, "state"), out: filepath.Join(base, "out")}
	entrypointtest.Must(t, os.Chmod(base, 0o755))
	entrypointtest.Must(t, os.Mkdir(e.run, 0o755))
	entrypointtest.Must(t, os.Chmod(e.run, 0o1777))
	entrypointtest.Must(t, os.Mkdir(e.state, 0o755))
	entrypointtest.Must(t, os.Chown(e.state, 65534, 65534))
	entrypointtest.Must(t, os.Mkdir(e.out, 0o777))
	entrypointtest.Must(t, os.Chmod(e.out, 0o777))
	e.started = filepath.Join(e.out, "started")
	e.vars = []string{
		"LAUNCH_HELPER=1",
		"LAUNCH_STARTED=" + e.started,
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"CHRONYD=" + chronyd,
		"CHRONY_USER=nobody",
		"CHRONY_CONF=" + filepath.Join(base, "mounted.conf"),
		"CHRONY_CONF_DIR=" + filepath.Join(base, "conf.d"),
		"STATE_DIR=" + e.state,
		"RUN_DIR=" + e.run,
		"HTTP_ADDR=off",
		"LOG_FORMAT=console",
		"PTP_SYSFS_DIR=" + filepath.Join(base, "no-ptp"), // not the test machine's PTP clocks
	}
	return e
}

// helperBinary is this test binary copied where an unprivileged user may execute it.
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	entrypointtest.Must(t, err)
	dir := chronytest.ShortTempDir(t)
	entrypointtest.Must(t, os.Chmod(dir, 0o755))
	dst := filepath.Join(dir, "launch.test")
	src, err := os.Open(self)
	entrypointtest.Must(t, err)
	defer src.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	entrypointtest.Must(t, err)
	_, err = io.Copy(f, src)
	entrypointtest.Must(t, err)
	entrypointtest.Must(t, f.Close())
	return dst
}

// helper is one running launcher.
type helper struct {
	cmd    *exec.Cmd
	stderr *entrypointtest.SyncBuffer
	done   chan struct{}
	code   int
}

// startHelper runs the launcher under setpriv with the given options and extra variables.
func startHelper(t *testing.T, bin string, e *env, setpriv []string, vars ...string) *helper {
	t.Helper()
	return startHelperIn(t, nil, bin, e, setpriv, vars...)
}

// startHelperIn is startHelper behind wrap, a command line that ends by running its
// arguments (`unshare -n sh -c '...; exec "$@"' sh`): setpriv and the launcher follow it.
func startHelperIn(t *testing.T, wrap []string, bin string, e *env, setpriv []string, vars ...string) *helper {
	t.Helper()
	args := append(append(append([]string{}, wrap...), "setpriv"), setpriv...)
	args = append(args, bin, "-test.run=^$")
	h := &helper{cmd: exec.Command(args[0], args[1:]...), stderr: &entrypointtest.SyncBuffer{}, done: make(chan struct{})}
	h.cmd.Env = append(append([]string{}, e.vars...), vars...)
	h.cmd.Stdout = h.stderr
	h.cmd.Stderr = h.stderr
	entrypointtest.Must(t, h.cmd.Start())
	go func() {
		_ = h.cmd.Wait()
		h.code = h.cmd.ProcessState.ExitCode()
		if ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			h.code = 128 + int(ws.Signal())
		}
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			_ = h.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-h.done:
			case <-time.After(10 * time.Second):
				_ = h.cmd.Process.Kill()
				<-h.done
			}
		}
	})
	return h
}

// waitStarted waits (at most 15 s) for the launcher to report chronyd started, and returns
// chronyd's pid. It fails the test if the launcher exits first.
func (h *helper) waitStarted(t *testing.T, e *env) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(e.started); err == nil && strings.HasSuffix(string(b), "\n") {
			var pid int
			var sock string
			if _, err := fmt.Sscan(string(b), &pid, &sock); err == nil {
				return pid
			}
		}
		select {
		case <-h.done:
			t.Fatalf("launcher exited (%d) before chronyd started:\n%s", h.code, h.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("chronyd not started within 15s:\n%s", h.stderr)
	return 0
}

// wait waits (at most d) for the launcher to exit and returns its code.
func (h *helper) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-h.done:
		return h.code
	case <-time.After(d):
		t.Fatalf("launcher still running after %v:\n%s", d, h.stderr)
		return 0
	}
}
