package faults

import (
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// validDrift is chronyd's drift file: frequency and skew in ppm.
var validDrift = regexp.MustCompile(`^\s*-?\d+\.\d+\s+\d+\.\d+\s*$`)

// runAndStop starts the container, waits for it to be live and synchronised, stops it with
// SIGTERM and returns its log. Exit code 0 is required.
func runAndStop(t *testing.T, c *entrypointtest.Container) string {
	t.Helper()
	p := entrypointtest.Start(t, bin, c.Env)
	entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 15*time.Second)
	entrypointtest.Must(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\n%s", code, p.Logs)
	}
	return p.Logs.String()
}

// checkDrift requires a valid drift file owned by the chrony user and returns its mtime.
func checkDrift(t *testing.T, path string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("drift file after a clean stop: %v", err)
	}
	if !validDrift.Match(b) {
		t.Errorf("drift file %q is not frequency and skew", b)
	}
	fi, err := os.Stat(path)
	entrypointtest.Must(t, err)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != entrypointtest.ChronyUID {
		t.Errorf("drift file owned by uid %d, want the chrony user %d", st.Uid, entrypointtest.ChronyUID)
	}
	return fi.ModTime()
}

// TestDriftFile: written on every clean stop; a corrupt or an unreadable (root-owned, mode
// 000) drift file does not stop start-up and is replaced by a valid one at the next clean
// stop. chronyd 4.3 logs the corrupt one and says nothing about the unreadable one.
func TestDriftFile(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)

	t.Run("written on every clean stop", func(t *testing.T) {
		c := entrypointtest.NewContainer(t, up.SourceEntry())
		drift := filepath.Join(c.State, "drift")
		runAndStop(t, c)
		first := checkDrift(t, drift)
		runAndStop(t, c)
		if second := checkDrift(t, drift); !second.After(first) {
			t.Errorf("drift file mtime %v after the second stop, not after %v: not rewritten", second, first)
		}
	})

	tests := []struct {
		name    string
		prepare func(t *testing.T, drift string)
		wantLog string // the one log line about it: chronyd's, or the entrypoint's when chronyd says nothing
	}{
		{"corrupt", func(t *testing.T, drift string) {
			entrypointtest.Must(t, os.WriteFile(drift, []byte("\x00\xffgarbage\x01 not a number\n"), 0o644))
			entrypointtest.Must(t, os.Chown(drift, entrypointtest.ChronyUID, entrypointtest.ChronyGID))
		}, "Could not read valid frequency and skew from driftfile"},
		{"unreadable", func(t *testing.T, drift string) {
			entrypointtest.Must(t, os.WriteFile(drift, []byte("1.0 0.1\n"), 0o000))
			entrypointtest.Must(t, os.Chmod(drift, 0o000)) // umask-proof
		}, "drift file unreadable: chronyd starts without its learnt frequency"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" does not stop start-up", func(t *testing.T) {
			c := entrypointtest.NewContainer(t, up.SourceEntry())
			drift := filepath.Join(c.State, "drift")
			tt.prepare(t, drift)
			logs := runAndStop(t, c)
			lines, err := entrypointtest.ParseLogs(logs)
			entrypointtest.Must(t, err)
			if len(linesSaying(lines, tt.wantLog)) != 1 {
				t.Errorf("want one log line %q:\n%s", tt.wantLog, logs)
			}
			checkDrift(t, drift)
		})
	}
}
