package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

// silentChronyd binds a command socket where the container's chronyd would have it, which
// takes requests and never answers, and returns the container.
func silentChronyd(t *testing.T) *entrypointtest.Container {
	t.Helper()
	c := entrypointtest.NewContainer(t, "")
	c.Unset(t, "NTP_SERVERS")
	dir := filepath.Join(c.Run, "chronyd")
	entrypointtest.Must(t, os.Mkdir(dir, 0o755))
	sock := filepath.Join(dir, "chronyd.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	entrypointtest.Must(t, err)
	t.Cleanup(func() { conn.Close() })
	entrypointtest.Must(t, os.Chmod(sock, 0o666))
	return c
}

// TestProbeTimeout: `--timeout 0s` is the documented default (3 s), not the request layer's
// 2 s; a negative one is refused naming the flag; and a probe that could not ask says so once.
func TestProbeTimeout(t *testing.T) {
	c := silentChronyd(t)
	tests := []struct {
		args    []string
		atLeast time.Duration
		want    string // the whole output contains it exactly once
	}{
		{[]string{"probe", "live", "--timeout", "0s"}, 2900 * time.Millisecond, "no reply from chronyd"},
		{[]string{"probe", "ready", "--timeout", "0s"}, 2900 * time.Millisecond, "cannot ask chronyd"},
		{[]string{"probe", "ready", "--timeout", "300ms"}, 250 * time.Millisecond, "cannot ask chronyd"},
		{[]string{"probe", "ready", "--timeout", "-1s"}, 0, "--timeout"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t0 := time.Now()
			r := entrypointtest.Run(t, bin, c.Env, tt.args...)
			took := time.Since(t0)
			out := r.Stdout + r.Stderr
			if r.Code != exitCantAsk {
				t.Errorf("exit %d, want %d: %s", r.Code, exitCantAsk, out)
			}
			if took < tt.atLeast {
				t.Errorf("gave up after %v, want at least %v: %s", took, tt.atLeast, out)
			}
			if n := strings.Count(out, tt.want); n != 1 {
				t.Errorf("output says %q %d times, want once: %q", tt.want, n, out)
			}
		})
	}
}
