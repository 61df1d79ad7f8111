package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	entrypointtest.Must(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return p
}

// TestVersion: `version` and `--version` say which chronyd the entrypoint runs, or why they
// cannot, within a deadline.
func TestVersion(t *testing.T) {
	dir := t.TempDir()
	hung := script(t, dir, "hung-chronyd", "exec sleep 30")
	tests := []struct {
		name    string
		chronyd string
		want    string
		within  time.Duration
	}{
		{"real", chronytest.Chronyd(t), "chronyd (chrony) version 4.", 5 * time.Second},
		{"missing", "/nonexistent/chronyd", "chronyd: cannot run /nonexistent/chronyd --version (CHRONYD)", 5 * time.Second},
		{"hung", hung, "chronyd: " + hung + " --version did not answer within 3s", 10 * time.Second},
	}
	for _, tt := range tests {
		for _, arg := range []string{"version", "--version"} {
			t.Run(tt.name+" "+arg, func(t *testing.T) {
				t0 := time.Now()
				r := entrypointtest.Run(t, bin, []string{"CHRONYD=" + tt.chronyd}, arg)
				if r.Code != 0 {
					t.Errorf("exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
				}
				if !strings.HasPrefix(r.Stdout, "entrypoint dev (revision unknown, go") || !strings.Contains(r.Stdout, tt.want) {
					t.Errorf("output %q, want the entrypoint's version and %q", r.Stdout, tt.want)
				}
				if d := time.Since(t0); d > tt.within {
					t.Errorf("took %v, want at most %v", d, tt.within)
				}
			})
		}
	}
}

// TestChronycPassthrough: `entrypoint chronyc ARGS` (docker run IMAGE chronyc ARGS) replaces
// the entrypoint with chronyc, arguments untouched, and reaches a real chronyd.
func TestChronycPassthrough(t *testing.T) {
	t.Run("exec, not a child", func(t *testing.T) {
		dir := t.TempDir()
		script(t, dir, "chronyc", `echo "pid=$$ args=$*"`)
		cmd := exec.Command(bin, "chronyc", "-n", "-h", "192.0.2.1", "sources", "-v")
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		want := fmt.Sprintf("pid=%d args=-n -h 192.0.2.1 sources -v\n", cmd.Process.Pid)
		if string(out) != want {
			t.Errorf("chronyc saw %q, want %q", out, want)
		}
	})
	t.Run("points chronyc at this container's chronyd without -h", func(t *testing.T) {
		c := silentChronyd(t)
		dir := t.TempDir()
		script(t, dir, "chronyc", `echo "args=$*"`)
		r := entrypointtest.Run(t, bin, append([]string{"PATH=" + dir + ":/usr/bin:/bin"}, c.Env...), "chronyc", "tracking")
		want := "args=-h " + filepath.Join(c.Run, "chronyd", "chronyd.sock") + " tracking\n"
		if r.Code != 0 || r.Stdout != want {
			t.Errorf("exit %d, chronyc saw %q; want %q", r.Code, r.Stdout, want)
		}
	})
	t.Run("real chronyc", func(t *testing.T) {
		up := chronytest.StartUpstream(t)
		// chronytest.Chronyc: chronyc 4.8+ run as root would drop to a user this machine lacks.
		chronycDir := filepath.Dir(chronytest.Chronyc(t))
		r := entrypointtest.Run(t, bin, []string{"PATH=" + chronycDir + ":/usr/bin:/bin"}, "chronyc", "-h", up.Socket, "-n", "tracking")
		if r.Code != 0 || !strings.Contains(r.Stdout, "Reference ID") {
			t.Errorf("exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
	t.Run("no chronyc", func(t *testing.T) {
		r := entrypointtest.Run(t, bin, []string{"PATH=" + t.TempDir()}, "chronyc", "tracking")
		if r.Code != exitFailure || !strings.Contains(r.Stderr, "--entrypoint chronyc") {
			t.Errorf("exit %d: %s%s; want 1 and a hint", r.Code, r.Stdout, r.Stderr)
		}
	})
}
