package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/proctest"
)

// standIn writes a CHRONYD stand-in: `-p` (the entrypoint's config check) succeeds, any other
// call runs body.
func standIn(t *testing.T, body string) string {
	t.Helper()
	dir := chronytest.ShortTempDir(t)
	entrypointtest.Must(t, os.Chmod(dir, 0o755))
	path := filepath.Join(dir, "chronyd")
	script := "#!/bin/sh\ncase \" $* \" in *\" -p \"*) exit 0;; esac\n" + body
	entrypointtest.Must(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

// TestOrphansReaped: a chronyd stand-in leaves 50 orphaned grandchildren, which die while it
// still runs, then exits 0. The entrypoint reaps all 50 (its debug log names each), exits 0,
// and nothing is left for this test process, a child subreaper here so that any orphan the
// entrypoint missed would land on it.
func TestOrphansReaped(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) }()
	const orphans = 50
	chronyd := standIn(t, fmt.Sprintf("i=0\nwhile [ $i -lt %d ]; do (sleep 0.2 &); i=$((i+1)); done\nsleep 1\nexit 0\n", orphans))
	c := entrypointtest.NewContainer(t, "127.0.0.1 port 9 iburst")
	c.Set(t, "CHRONYD="+chronyd, "LOG_LEVEL=debug", "HTTP_ADDR=off")
	p := entrypointtest.Start(t, bin, c.Env)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d, want the stand-in's 0\n%s", code, p.Logs)
	}
	lines, err := entrypointtest.ParseLogs(p.Logs.String())
	entrypointtest.Must(t, err)
	if n := len(linesSaying(lines, "reaped orphan")); n != orphans {
		t.Errorf("entrypoint reaped %d orphans, want %d\n%s", n, orphans, p.Logs)
	}
	if kids := proctest.Children(t, os.Getpid()); len(kids) != 0 {
		t.Errorf("processes left under the test process after the entrypoint exited (pid: state): %v", kids)
	}
}

// TestSignalBurst: 100 SIGTERM, SIGINT and SIGHUP at the entrypoint in a burst do not lose
// chronyd's exit status: the stand-in exits 7 on the first TERM or INT it handles.
func TestSignalBurst(t *testing.T) {
	t.Parallel()
	chronyd := standIn(t, "trap 'sleep 0.3; exit 7' TERM INT\necho stand-in up\nsleep 30 &\nwait $!\nsleep 5\nexit 0\n")
	c := entrypointtest.NewContainer(t, "127.0.0.1 port 9 iburst")
	c.Set(t, "CHRONYD="+chronyd, "HTTP_ADDR=off")
	p := entrypointtest.Start(t, bin, c.Env)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs.String(), "stand-in up") {
		if time.Now().After(deadline) {
			t.Fatalf("stand-in did not start within 10 s\n%s", p.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigs := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
	for i := range 100 {
		if err := p.Cmd.Process.Signal(sigs[i%len(sigs)]); err != nil {
			break // exited already: the status must still be 7
		}
	}
	if code := p.Wait(t, 15*time.Second); code != 7 {
		t.Errorf("exit %d after a burst of 100 signals, want the stand-in's 7\n%s", code, p.Logs)
	}
}
