package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/golden"
)

// mountTmpfs mounts a tmpfs at dir with opts for the test and unmounts it at the end.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs (%s) on %s: %v (the disk tests need root)", opts, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// TestStateDirUnusable: a read-only or full STATE_DIR stops the container before chronyd
// starts, with exit 1 and exactly one error line naming the path and the fix. Full is an
// error, not a warning: chronyd would run but lose the drift file (and NTS keys) at every
// stop, silently; a restart loop with one clear line is easier to notice and fix.
func TestStateDirUnusable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, state string)
	}{
		{"read-only", func(t *testing.T, state string) {
			mountTmpfs(t, state, fmt.Sprintf("ro,mode=0755,uid=%d,gid=%d", entrypointtest.ChronyUID, entrypointtest.ChronyGID))
		}},
		{"full", func(t *testing.T, state string) {
			mountTmpfs(t, state, fmt.Sprintf("size=16k,mode=0755,uid=%d,gid=%d", entrypointtest.ChronyUID, entrypointtest.ChronyGID))
			f, err := os.Create(filepath.Join(state, "filler"))
			entrypointtest.Must(t, err)
			defer f.Close()
			block := make([]byte, 4096)
			for range 64 { // bounded: 256 KiB at most into a 16 KiB tmpfs
				if _, err := f.Write(block); err != nil {
					return // ENOSPC: full
				}
			}
			t.Fatal("16k tmpfs took 256 KiB: not full")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, "127.0.0.1 port 9 iburst") // never reached
			tt.prepare(t, c.State)
			p := entrypointtest.Start(t, bin, c.Env)
			if code := p.Wait(t, 10*time.Second); code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, p.Logs)
			}
			logs := p.Logs.String()
			if strings.Contains(logs, "starting chronyd") {
				t.Errorf("chronyd was started:\n%s", logs)
			}
			errs := errorLines(t, logs)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error line, got %d:\n%s", len(errs), logs)
			}
			golden.Compare(t, *update, filepath.Join("testdata", "state-dir-"+tt.name+".err"), strings.ReplaceAll(errs[0].Error, c.State, "STATE_DIR")+"\n")
		})
	}
}

// TestRunDirReadOnly: the old quick start (docker run --read-only without --tmpfs /run/chrony)
// stops with exit 1 and one error line that names RUN_DIR and the fix, chronyd never started.
func TestRunDirReadOnly(t *testing.T) {
	t.Parallel()
	c := entrypointtest.NewContainer(t, "127.0.0.1 port 9 iburst") // never reached
	mountTmpfs(t, c.Run, "ro,mode=0755")
	p := entrypointtest.Start(t, bin, c.Env)
	if code := p.Wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, p.Logs)
	}
	logs := p.Logs.String()
	if strings.Contains(logs, "starting chronyd") {
		t.Errorf("chronyd was started:\n%s", logs)
	}
	errs := errorLines(t, logs)
	if len(errs) != 1 {
		t.Fatalf("want exactly one error line, got %d:\n%s", len(errs), logs)
	}
	golden.Compare(t, *update, filepath.Join("testdata", "run-dir-read-only.err"), strings.ReplaceAll(errs[0].Error, c.Run, "RUN_DIR")+"\n")
}
