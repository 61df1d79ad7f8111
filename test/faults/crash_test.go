package faults

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// exactlyOneError checks the log of a failing exit: every line JSON, and exactly one
// error-level line that contains reason.
func exactlyOneError(t *testing.T, logs, reason string) entrypointtest.LogLine {
	t.Helper()
	saying := linesSaying(errorLines(t, logs), reason)
	if len(saying) != 1 {
		t.Fatalf("want exactly one error line saying %q, got %d:\n%s", reason, len(saying), logs)
	}
	return saying[0]
}

// restartWorks starts the container again with the same RUN_DIR and STATE_DIR, which still
// hold the dead chronyd's pidfile and socket, and checks that chronyd comes up and stops
// cleanly.
func restartWorks(t *testing.T, c *entrypointtest.Container) {
	t.Helper()
	p := entrypointtest.Start(t, bin, c.Env)
	entrypointtest.WaitProbe(t, bin, p, c.Env, "live", 0, 10*time.Second)
	if strings.Contains(p.Logs.String(), "Another chronyd may already be running") {
		t.Errorf("the restart saw the stale pidfile:\n%s", p.Logs)
	}
	entrypointtest.Must(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Errorf("restarted container: exit %d after SIGTERM, want 0\n%s", code, p.Logs)
	}
}

// TestChronydKilled: SIGKILL of chronyd ends the container at once with 128+9 and one error
// line saying so; the next start, over the stale pidfile and socket, works.
func TestChronydKilled(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, up.SourceEntry())
	p := entrypointtest.Start(t, bin, c.Env)
	entrypointtest.WaitProbe(t, bin, p, c.Env, "live", 0, 10*time.Second)
	pidfile := filepath.Join(c.Run, "chronyd", "chronyd.pid")
	pid := entrypointtest.ReadPID(t, pidfile)

	t0 := time.Now()
	entrypointtest.Must(t, syscall.Kill(pid, syscall.SIGKILL))
	if code := p.Wait(t, 3*time.Second); code != 137 {
		t.Errorf("exit %d after SIGKILL of chronyd, want 137\n%s", code, p.Logs)
	}
	t.Logf("SIGKILL of chronyd to entrypoint exit: %v", time.Since(t0).Round(time.Millisecond))
	exactlyOneError(t, p.Logs.String(), "chronyd was killed by signal 9 (killed)")
	for _, stale := range []string{pidfile, filepath.Join(c.Run, "chronyd", "chronyd.sock")} {
		if _, err := os.Stat(stale); err != nil {
			t.Fatalf("%s: %v; the restart below would not prove stale files are handled", stale, err)
		}
	}
	restartWorks(t, c)
}

// TestCrashAtStart: chronyd dying at start-up on a fault that `chronyd -p` cannot see ends the
// container promptly with a non-zero code and chronyd's Fatal error in one error line; once
// the fault is gone the next start with the same directories works.
func TestCrashAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		dropIn string            // a *.conf in CHRONY_CONF_DIR
		reason map[string]string // chronyd's Fatal error, as logged, by release (chronytest.ByVersion)
	}{
		// Parses (so the -p check passes) but the device does not exist at start. Up to 4.6.1
		// the Fatal error is "Could not open PHC of DEV"; 4.9 logs that without "Fatal error"
		// (an info line) and then "Fatal error : Could not initialise refclock PHC DEV".
		{"refclock on a missing PHC device", "refclock PHC /dev/ptp-missing-for-test\n",
			map[string]string{"4.3": "Could not open PHC", "4.9": "Could not initialise refclock PHC /dev/ptp-missing-for-test"}},
		// Not here, because chronyd (4.3, 4.6.1 and 4.9 alike) logs them and keeps running: a missing NTS server key
		// (the entrypoint checks the pair before start: test/security) and an NTP port taken by
		// another socket ("Could not open NTP socket", then client only: TestNTPPortInUse).
	}
	up := chronytest.StartUpstream(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, up.SourceEntry())
			dropIn := filepath.Join(c.ConfDir, "fault.conf")
			entrypointtest.Must(t, os.WriteFile(dropIn, []byte(tt.dropIn), 0o644))
			p := entrypointtest.Start(t, bin, c.Env)
			code := p.Wait(t, 10*time.Second)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero\n%s", p.Logs)
			}
			line := exactlyOneError(t, p.Logs.String(), chronytest.ByVersion(t, tt.reason))
			t.Logf("exit %d; the error line: %s", code, line.Raw)
			if line.Logger != "chronyd" {
				t.Errorf("the reason came from logger %q, want chronyd's own Fatal error line", line.Logger)
			}
			entrypointtest.Must(t, os.Remove(dropIn))
			restartWorks(t, c)
		})
	}
}

// TestNTPPortInUse: chronyd (4.3, 4.6.1 and 4.9 alike) only logs "Could not open NTP socket" when its port is taken and
// runs on as a client, which would look healthy while serving nothing. The entrypoint refuses to
// start instead, with one error line naming NTP_PORT, and never starts chronyd.
func TestNTPPortInUse(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, up.SourceEntry())
	holder, err := net.ListenPacket("udp", ":"+strconv.Itoa(c.NTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	p := entrypointtest.Start(t, bin, c.Env)
	if code := p.Wait(t, 10*time.Second); code != 1 {
		t.Fatalf("exit %d with NTP_PORT taken, want 1\n%s", code, p.Logs)
	}
	exactlyOneError(t, p.Logs.String(), fmt.Sprintf("NTP_PORT=%d: UDP port %d is already in use", c.NTPPort, c.NTPPort))
	if strings.Contains(p.Logs.String(), "starting chronyd") {
		t.Errorf("chronyd was started although its port was taken:\n%s", p.Logs)
	}
	holder.Close()
	restartWorks(t, c)
}
