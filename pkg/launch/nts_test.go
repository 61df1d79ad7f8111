package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testbin"
	"github.com/chris-short/chrony/internal/testcert"
)

// writePair writes a server certificate for localhost and its key into dir, both readable by
// anyone, and returns their paths.
func writePair(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	p := testcert.Write(t, dir, []string{"localhost"}, nil, -1, -1, 0o644)
	return p.Cert, p.Key
}

// TestNTSKeyPairCheckedBeforeStart: chronyd given an unusable NTS certificate or key logs it
// and serves without NTS, so Run checks the pair first, as chronyd's user (the launcher starts
// as root and drops to nobody: a file only root may read must be refused), and never starts
// chronyd (capreport stands in: its report must not exist).
func TestNTSKeyPairCheckedBeforeStart(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	tests := []struct {
		name  string
		setup func(t *testing.T, cert, key, other string)
		want  string // in the launcher's output; "" means chronyd starts
	}{
		{"readable pair starts chronyd", func(t *testing.T, cert, key, other string) {}, ""},
		{"certificate mode 000", func(t *testing.T, cert, key, other string) { entrypointtest.Must(t, os.Chmod(cert, 0)) }, "NTS_SERVER_CERT "},
		{"key mode 000", func(t *testing.T, cert, key, other string) { entrypointtest.Must(t, os.Chmod(key, 0)) }, "NTS_SERVER_KEY "},
		{"certificate is a FIFO", func(t *testing.T, cert, key, other string) {
			entrypointtest.Must(t, os.Remove(cert))
			entrypointtest.Must(t, syscall.Mkfifo(cert, 0o644))
		}, "not a regular file"},
		{"key of another certificate", func(t *testing.T, cert, key, other string) {
			_, otherKey := writePair(t, other)
			entrypointtest.Must(t, os.Rename(otherKey, key))
		}, "not a usable certificate and matching key"},
		{"key is a certificate", func(t *testing.T, cert, key, other string) {
			b, err := os.ReadFile(cert)
			entrypointtest.Must(t, err)
			entrypointtest.Must(t, os.WriteFile(key, b, 0o644))
		}, "not a usable certificate and matching key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, capreport)
			tls := filepath.Join(e.base, "tls")
			entrypointtest.Must(t, os.Mkdir(tls, 0o755))
			cert, key := writePair(t, tls)
			tt.setup(t, cert, key, t.TempDir())
			report := filepath.Join(e.out, "report.json")
			h := startHelper(t, helperBinary(t), e, []string{"--bounding-set=-all,+setuid,+setgid"},
				"CLOCK_CONTROL=off", "ALLOW=127.0.0.1", "NTP_PORT=1123", "NTS_SERVER_CERT="+cert, "NTS_SERVER_KEY="+key,
				"CAPREPORT_OUT="+report)
			if tt.want == "" {
				h.waitStarted(t, e)
				if _, err := os.Stat(report); err != nil {
					t.Errorf("chronyd stand-in did not run: %v\n%s", err, h.stderr)
				}
				return
			}
			code := h.wait(t, 15*time.Second)
			if code != 1 || !strings.Contains(h.stderr.String(), tt.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, tt.want, h.stderr)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("chronyd stand-in was started despite the bad pair")
			}
		})
	}
}

// TestRestartForRenewedCertificate: a renewed pair restarts chronyd (capreport stands in) with
// the capabilities it was started with, -r added to its argv, and the stale pidfile the old
// one left removed first. Meanwhile the entrypoint holds chronyd's capabilities permitted and
// inheritable, never effective; SIGTERM then ends everything with 0.
func TestRestartForRenewedCertificate(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	e := newEnv(t, capreport)
	tls := filepath.Join(e.base, "tls")
	entrypointtest.Must(t, os.Mkdir(tls, 0o755))
	cert, key := writePair(t, tls)
	out := filepath.Join(e.out, "report.json")
	pidfile := filepath.Join(e.run, "chronyd", "chronyd.pid")
	// A root start with SYS_TIME: clock control on (capreport never touches the clock).
	h := startHelper(t, helperBinary(t), e, []string{"--bounding-set=-all,+setuid,+setgid,+sys_time"},
		"ALLOW=127.0.0.1", "NTP_PORT=11123", "NTS_SERVER_CERT="+cert, "NTS_SERVER_KEY="+key, "NTS_WATCH_INTERVAL=1s",
		"CAPREPORT_OUT="+out, "CAPREPORT_PIDFILE="+pidfile)
	first := h.waitStarted(t, e)
	waitPID := func(not int) int {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if b, err := os.ReadFile(pidfile); err == nil && strings.HasSuffix(string(b), "\n") {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != not {
					return pid
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no chronyd other than %d wrote %s:\n%s", not, pidfile, h.stderr)
		return 0
	}
	if pid := waitPID(0); pid != first {
		t.Fatalf("pidfile names %d, chronyd is %d", pid, first)
	}
	st := procStatus(t, h.cmd.Process.Pid)
	for k, want := range map[string]string{"CapPrm": capSysTime, "CapInh": capSysTime, "CapEff": capNone, "CapAmb": capNone} {
		if st[k] != want {
			t.Errorf("entrypoint %s = %s, want %s", k, st[k], want)
		}
	}

	renewed := testcert.Write(t, t.TempDir(), []string{"renewed"}, nil, -1, -1, 0o644)
	entrypointtest.Must(t, os.Rename(renewed.Cert, cert))
	entrypointtest.Must(t, os.Rename(renewed.Key, key))
	second := waitPID(first)
	var r report
	b, err := os.ReadFile(out)
	entrypointtest.Must(t, err)
	entrypointtest.Must(t, json.Unmarshal(b, &r))
	for name, got := range map[string]string{"CapPrm": r.CapPrm, "CapEff": r.CapEff, "CapAmb": r.CapAmb} {
		if got != capSysTime {
			t.Errorf("restarted chronyd %s = %s, want %s", name, got, capSysTime)
		}
	}
	if !slices.Contains(r.Argv, "-r") || slices.Contains(r.Argv, "-x") {
		t.Errorf("restarted chronyd argv %q: want -r, and no -x (clock control)", r.Argv)
	}
	if !strings.Contains(h.stderr.String(), "chronyd restarted with the renewed NTS certificate") {
		t.Errorf("restart not logged:\n%s", h.stderr)
	}
	entrypointtest.Must(t, h.cmd.Process.Signal(syscall.SIGTERM))
	if code := h.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, h.stderr)
	}
	if running(second) {
		t.Errorf("the restarted chronyd %d outlived the entrypoint", second)
	}
}

// running says whether pid is a live process (not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}
