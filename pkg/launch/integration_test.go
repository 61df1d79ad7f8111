package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// startChronyd launches the real chronyd through Run, started as root (the launcher drops to
// nobody), CLOCK_CONTROL=off so it always gets -x, syncing to a loopback upstream.
func startChronyd(t *testing.T, e *env, up *chronytest.Instance) (*helper, int) {
	t.Helper()
	t0 := time.Now()
	h := startHelper(t, helperBinary(t), e, nil,
		"CLOCK_CONTROL=off", "ALLOW=none", "LOCAL_STRATUM=off",
		fmt.Sprintf("NTP_SERVERS=127.0.0.1 port %d iburst minpoll -2 maxpoll 0", up.Port))
	pid := h.waitStarted(t, e)
	t.Logf("launcher exec to chronyd started: %v", time.Since(t0))
	return h, pid
}

func chronyc(t *testing.T) string {
	return chronytest.Chronyc(t)
}

// waitSynced polls `chronyc -h socket tracking` (at most 15 s) until the leap status is Normal.
func waitSynced(t *testing.T, h *helper, socket string) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(15 * time.Second)
	for {
		out, err := exec.Command(chronyc(t), "-n", "-h", socket, "tracking").CombinedOutput()
		if err == nil && strings.Contains(string(out), "Leap status     : Normal") {
			return time.Since(t0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synchronised within 15s: %v\n%s\nlauncher:\n%s", err, out, h.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestChronyd(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	up := chronytest.StartUpstream(t)

	t.Run("synchronises, and SIGTERM ends it with 0 within 2s writing the drift file", func(t *testing.T) {
		e := newEnv(t, chronyd)
		h, _ := startChronyd(t, e, up)
		took := waitSynced(t, h, filepath.Join(e.run, "chronyd", "chronyd.sock"))
		t.Logf("synchronised %v after start; launcher VmRSS %s", took, procStatus(t, h.cmd.Process.Pid)["VmRSS"])
		t0 := time.Now()
		entrypointtest.Must(t, h.cmd.Process.Signal(syscall.SIGTERM))
		if code := h.wait(t, 2*time.Second); code != 0 {
			t.Errorf("exit %d, want 0:\n%s", code, h.stderr)
		}
		t.Logf("stopped %v after SIGTERM", time.Since(t0))
		if fi, err := os.Stat(filepath.Join(e.state, "drift")); err != nil || fi.Size() == 0 {
			t.Errorf("drift file: %v", err)
		}
		if !strings.Contains(h.stderr.String(), "chronyd version 4") {
			t.Errorf("chronyd's own log lines missing:\n%s", h.stderr)
		}
	})

	t.Run("SIGKILL of chronyd ends the launcher with 137 and says so", func(t *testing.T) {
		e := newEnv(t, chronyd)
		h, pid := startChronyd(t, e, up)
		entrypointtest.Must(t, syscall.Kill(pid, syscall.SIGKILL))
		if code := h.wait(t, 3*time.Second); code != 137 {
			t.Errorf("exit %d, want 137", code)
		}
		if !strings.Contains(h.stderr.String(), "chronyd was killed by signal 9 (killed)") {
			t.Errorf("no log line naming signal 9:\n%s", h.stderr)
		}
	})

	t.Run("a stale pidfile naming a live pid does not stop a restart", func(t *testing.T) {
		e := newEnv(t, chronyd)
		dir := filepath.Join(e.run, "chronyd")
		entrypointtest.Must(t, os.Mkdir(dir, 0o750))
		entrypointtest.Must(t, os.Chown(dir, 65534, 65534))
		entrypointtest.Must(t, os.WriteFile(filepath.Join(dir, "chronyd.pid"), fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644))
		h, _ := startChronyd(t, e, up)
		waitSynced(t, h, filepath.Join(dir, "chronyd.sock"))
		if strings.Contains(h.stderr.String(), "Another chronyd may already be running") {
			t.Errorf("chronyd saw the stale pidfile:\n%s", h.stderr)
		}
	})
}
