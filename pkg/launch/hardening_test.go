package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testbin"
	"github.com/chris-short/chrony/pkg/health"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestPlantedFiles: whatever the chrony user (or a compromised chronyd) left in RUN_DIR or
// STATE_DIR, a root start neither writes through it nor blocks on it: it stops with an error
// naming the path, and capreport (standing in for chronyd) never runs.
func TestPlantedFiles(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	bin := helperBinary(t)
	rootStart := []string{"--bounding-set=-all,+setuid,+setgid"}
	cases := []struct {
		name    string
		plant   func(t *testing.T, e *env) (path string)
		wantErr string
	}{
		{"symlink at RUN_DIR/chrony.conf to a root-owned file", func(t *testing.T, e *env) string {
			victim := filepath.Join(e.base, "victim")
			entrypointtest.Must(t, os.WriteFile(victim, []byte("precious\n"), 0o600))
			link := filepath.Join(e.run, "chrony.conf")
			entrypointtest.Must(t, os.Symlink(victim, link))
			entrypointtest.Must(t, os.Lchown(link, 65534, 65534))
			return link
		}, "is not a regular file"},
		{"FIFO at RUN_DIR/chrony.conf", func(t *testing.T, e *env) string {
			p := filepath.Join(e.run, "chrony.conf")
			entrypointtest.Must(t, syscall.Mkfifo(p, 0o666))
			entrypointtest.Must(t, os.Chown(p, 65534, 65534))
			return p
		}, "is not a regular file"},
		{"FIFO at STATE_DIR/drift", func(t *testing.T, e *env) string {
			p := filepath.Join(e.state, "drift")
			entrypointtest.Must(t, syscall.Mkfifo(p, 0o666))
			entrypointtest.Must(t, os.Chown(p, 65534, 65534))
			return p
		}, "is not a regular file"},
		{"symlink at RUN_DIR/chronyd/serving.json", func(t *testing.T, e *env) string {
			dir := filepath.Join(e.run, "chronyd")
			entrypointtest.Must(t, os.Mkdir(dir, 0o750))
			entrypointtest.Must(t, os.Chown(dir, 65534, 65534))
			p := filepath.Join(dir, "serving.json")
			entrypointtest.Must(t, os.Symlink(filepath.Join(e.base, "victim2"), p))
			return p
		}, "is not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, capreport)
			out := filepath.Join(e.out, "report.json")
			path := tc.plant(t, e)
			h := startHelper(t, bin, e, rootStart, "ALLOW=none", "CAPREPORT_OUT="+out)
			code := h.wait(t, 15*time.Second)
			if code == 0 || !strings.Contains(h.stderr.String(), tc.wantErr) || !strings.Contains(h.stderr.String(), path) {
				t.Errorf("code %d, want non-zero and %q naming %s in:\n%s", code, tc.wantErr, path, h.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("capreport ran")
			}
			if b, err := os.ReadFile(filepath.Join(e.base, "victim")); err == nil && string(b) != "precious\n" {
				t.Errorf("the symlink's target was overwritten: %q", b)
			}
			if _, err := os.Lstat(filepath.Join(e.base, "victim2")); err == nil {
				t.Errorf("a file was created through the symlink")
			}
		})
	}
}

// TestMissingRunDir: RUN_DIR is created (as the chrony user) before anything is written in it.
func TestMissingRunDir(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	e := newEnv(t, capreport)
	run := filepath.Join(e.out, "run-created")
	e.run = run
	h := startHelper(t, helperBinary(t), e, []string{"--bounding-set=-all,+setuid,+setgid"}, "ALLOW=none", "RUN_DIR="+run)
	h.waitStarted(t, e)
	fi, err := os.Stat(filepath.Join(run, "chrony.conf"))
	entrypointtest.Must(t, err)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
		t.Errorf("chrony.conf owned by %d, want the chrony user 65534 (written after the drop)", st.Uid)
	}
}

// ownNetns runs the launcher in a new network namespace whose ip_unprivileged_port_start is
// portStart (a new namespace starts at 1024, like a node's with hostNetwork).
func ownNetns(portStart int) []string {
	return []string{"unshare", "-n", "sh", "-c",
		fmt.Sprintf(`echo %d >/proc/sys/net/ipv4/ip_unprivileged_port_start && ip link set lo up && exec "$@"`, portStart), "sh"}
}

// holdsPort reports whether chronyd (pid) holds a UDP socket on port, as Ready checks it.
func holdsPort(pid, port int) health.Result {
	return health.Serving{NTPPort: port, NTPFrom: "test"}.Check(pid)
}

// TestMountedConf runs the real chronyd (-x) with a mounted CHRONY_CONF in its own network
// namespace: ports and capabilities come from what chronyd will use, not from the defaults of
// NTP_PORT and ALLOW, and the UDP command port stays closed unless the file opens one.
func TestMountedConf(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	bin := helperBinary(t)
	nonRoot := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"}
	rootStart := []string{"--bounding-set=-all,+setuid,+setgid"}
	cases := []struct {
		name      string
		portStart int
		setpriv   []string
		conf      string
		holds     []int // UDP ports chronyd must hold
		free      []int // UDP ports chronyd must not hold
		wantLog   string
	}{
		{"non-root, port floor 1024, file serves on 11123", 1024, nonRoot,
			"allow\nport 11123\nlocal stratum 8\n", []int{11123}, []int{123, 323}, ""},
		{"non-root, port floor 1024, file says port 0", 1024, nonRoot,
			"port 0\nserver 127.0.0.1 iburst\n", nil, []int{123, 323}, ""},
		{"root, port floor 0: no command port on loopback", 0, rootStart,
			"allow\nport 11123\nlocal stratum 8\n", []int{11123}, []int{323}, ""},
		{"root, port floor 0, the file's own cmdport stays, with a warning", 0, rootStart,
			"allow\nport 11123\nlocal stratum 8\ncmdport 10323\n", []int{11123, 10323}, nil, "opens chronyd's UDP command port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, chronyd)
			entrypointtest.Must(t, os.WriteFile(filepath.Join(e.base, "mounted.conf"), []byte(tc.conf), 0o644))
			h := startHelperIn(t, ownNetns(tc.portStart), bin, e, tc.setpriv, "CLOCK_CONTROL=off")
			pid := h.waitStarted(t, e)
			// chronyd opens its sockets just after it starts: wait for the first port.
			deadline := time.Now().Add(10 * time.Second)
			for _, p := range tc.holds {
				for r := holdsPort(pid, p); !r.OK; r = holdsPort(pid, p) {
					if time.Now().After(deadline) {
						t.Fatalf("port %d: %s\n%s", p, r.Reason, h.stderr)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			for _, p := range tc.free {
				if r := holdsPort(pid, p); r.OK || r.Err != nil {
					t.Errorf("chronyd holds UDP port %d (or cannot tell: %v):\n%s", p, r.Err, h.stderr)
				}
			}
			if tc.wantLog != "" && !strings.Contains(h.stderr.String(), tc.wantLog) {
				t.Errorf("no %q in:\n%s", tc.wantLog, h.stderr)
			}
		})
	}
}

// TestServingFile: a start writes what chronyd must serve (the ports and the variables that
// set them) where the probes read it, and the chronyd it started holds those ports, NTS-KE
// included, so Ready's port check passes (health's TestServing covers the chronyd that could
// not open its port).
func TestServingFile(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	up := chronytest.StartUpstream(t)
	for _, nts := range []bool{false, true} {
		t.Run(fmt.Sprintf("nts=%v", nts), func(t *testing.T) {
			e := newEnv(t, chronyd)
			port := chronytest.FreeUDPPort(t)
			vars := []string{"CLOCK_CONTROL=off", "ALLOW=all", "LOCAL_STRATUM=off",
				fmt.Sprintf("NTP_PORT=%d", port),
				fmt.Sprintf("NTP_SERVERS=127.0.0.1 port %d iburst minpoll -2 maxpoll 0", up.Port)}
			want := health.Serving{NTPPort: port, NTPFrom: fmt.Sprintf("NTP_PORT=%d", port)}
			if nts {
				tls := filepath.Join(e.base, "tls")
				entrypointtest.Must(t, os.Mkdir(tls, 0o755))
				cert, key := writePair(t, tls)
				ntsPort := chronytest.FreeTCPPort(t)
				vars = append(vars, "NTS_SERVER_CERT="+cert, "NTS_SERVER_KEY="+key, fmt.Sprintf("NTS_PORT=%d", ntsPort))
				want.NTSKEPort, want.NTSKEFrom = ntsPort, fmt.Sprintf("NTS_PORT=%d", ntsPort)
			}
			h := startHelper(t, helperBinary(t), e, nil, vars...)
			h.waitStarted(t, e)
			waitSynced(t, h, filepath.Join(e.run, "chronyd", "chronyd.sock"))
			got, err := health.ReadServing(filepath.Join(e.run, "chronyd", "serving.json"))
			entrypointtest.Must(t, err)
			if got != want {
				t.Errorf("serving.json = %+v, want %+v", got, want)
			}
			p := health.Prober{
				Socket: filepath.Join(e.run, "chronyd", "chronyd.sock"), ClientDir: e.run,
				ServingFile: filepath.Join(e.run, "chronyd", "serving.json"), PIDFile: filepath.Join(e.run, "chronyd", "chronyd.pid"),
				Thresholds: health.Thresholds{MaxDistance: 10 * time.Second},
			}
			if r := p.Ready(context.Background()); !r.OK {
				t.Errorf("not ready: %s\n%s", r.Reason, h.stderr)
			}
		})
	}
}

// TestSocketFailureWarns: chronyd's "Could not open NTP socket" is logged as a warning that
// names the port and what sets it; other lines keep chronylog's level.
func TestSocketFailureWarns(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	serving := health.Serving{NTPPort: 123, NTPFrom: "NTP_PORT=123"}
	logChronyd(zap.New(core), "2026-11-30T23:14:05Z Could not open NTP socket on 0.0.0.0:123", serving)
	logChronyd(zap.New(core), "2026-11-30T23:14:05Z Selected source 127.0.0.1", serving)
	all := logs.All()
	if len(all) != 2 || all[0].Level != zapcore.WarnLevel || !strings.HasPrefix(all[0].Message, "Could not open NTP socket on 0.0.0.0:123") ||
		all[0].ContextMap()["ntp_port_from"] != "NTP_PORT=123" || all[1].Level != zapcore.InfoLevel {
		t.Errorf("logged %+v", all)
	}
}
