package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/procstatus"

	"github.com/chris-short/chrony/internal/testbin"
)

// Capability masks as /proc/<pid>/status prints them.
const (
	capNone    = "0000000000000000"
	capSysTime = "0000000002000000" // bit 25
	capBindAnd = "0000000002000400" // SYS_TIME + NET_BIND_SERVICE (bit 10)
)

type report struct {
	Argv                                   []string
	UID, GID                               int
	Groups                                 []int
	CapEff, CapPrm, CapInh, CapAmb, CapBnd string
	NoNewPrivs                             string
}

// procStatus reads the status (Uid, capability lines) of a live process.
func procStatus(t *testing.T, pid int) procstatus.Status {
	t.Helper()
	st, err := procstatus.Read(pid)
	entrypointtest.Must(t, err)
	return st
}

// TestPrivileges starts the launcher with capreport as chronyd under each starting condition
// and checks what "chronyd" got and what the entrypoint kept.
func TestPrivileges(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	bin := helperBinary(t)
	nonRoot := []string{"--reuid=65534", "--regid=65534", "--clear-groups"}
	// Ports below ip_unprivileged_port_start need NET_BIND_SERVICE; Docker sets it to 0.
	bindCaps := capBindAnd
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil && strings.TrimSpace(string(b)) == "0" {
		bindCaps = capSysTime
	}
	cases := []struct {
		name    string
		setpriv []string
		vars    []string
		wantX   bool   // -x in argv
		wantCap string // chronyd's permitted, effective and ambient sets
		wantBnd string // chronyd's bounding set, when the entrypoint may narrow it
		wantErr string // launcher fails with this text; capreport never starts
	}{
		{
			name:    "a root with SETUID SETGID SYS_TIME",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid,+sys_time"},
			vars:    []string{"ALLOW=none"},
			wantCap: capSysTime,
		},
		{
			name:    "a root with SETPCAP narrows chronyd's bounding set",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid,+setpcap,+sys_time"},
			vars:    []string{"ALLOW=none"},
			wantCap: capSysTime, wantBnd: capSysTime,
		},
		{
			name:    "a root with NET_BIND_SERVICE and port 123",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid,+sys_time,+net_bind_service"},
			vars:    []string{"ALLOW=all", "NTP_PORT=123"},
			wantCap: bindCaps,
		},
		{
			name:    "a root with NET_BIND_SERVICE and a high port keeps no bind cap",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid,+sys_time,+net_bind_service"},
			vars:    []string{"ALLOW=all", "NTP_PORT=11123"},
			wantCap: capSysTime,
		},
		{
			name:    "b non-root with permitted SYS_TIME",
			setpriv: append(nonRoot, "--inh-caps=-all,+sys_time", "--ambient-caps=-all,+sys_time", "--bounding-set=-all,+sys_time"),
			vars:    []string{"ALLOW=none"},
			wantCap: capSysTime,
		},
		{
			name:    "c root without SYS_TIME, auto",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid"},
			vars:    []string{"ALLOW=none", "CLOCK_CONTROL=auto"},
			wantX:   true, wantCap: capNone,
		},
		{
			name:    "c non-root without anything, auto",
			setpriv: append(nonRoot, "--inh-caps=-all", "--bounding-set=-all"),
			vars:    []string{"ALLOW=none"},
			wantX:   true, wantCap: capNone,
		},
		{
			name:    "d off with SYS_TIME available",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid,+sys_time"},
			vars:    []string{"ALLOW=none", "CLOCK_CONTROL=off"},
			wantX:   true, wantCap: capNone,
		},
		{
			name:    "e on without SYS_TIME",
			setpriv: []string{"--bounding-set=-all,+setuid,+setgid"},
			vars:    []string{"ALLOW=none", "CLOCK_CONTROL=on"},
			wantErr: "CLOCK_CONTROL=on but the container was not given CAP_SYS_TIME: grant it: docker run --cap-add SYS_TIME; Kubernetes securityContext.capabilities.add: [\"SYS_TIME\"]",
		},
		{
			name:    "f SYS_TIME in bounding only, on",
			setpriv: append(nonRoot, "--inh-caps=-all", "--bounding-set=-all,+sys_time"),
			vars:    []string{"ALLOW=none", "CLOCK_CONTROL=on"},
			wantErr: "CAP_SYS_TIME is in the bounding set but not permitted to uid 65534: the runtime dropped it for a non-root user (Docker and Kubernetes do); either run as root with SETUID and SETGID",
		},
		{
			name:    "root without SETUID",
			setpriv: []string{"--bounding-set=-all,+setgid,+sys_time"},
			vars:    []string{"ALLOW=none"},
			wantErr: "running as root without CAP_SETUID and CAP_SETGID (permitted: cap_setgid,cap_sys_time), so the entrypoint cannot become nobody (uid 65534): grant them",
		},
		{
			name:    "non-root as another user than CHRONY_USER",
			setpriv: []string{"--reuid=1", "--regid=1", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"},
			vars:    []string{"ALLOW=none"},
			wantErr: `running as uid 1 but CHRONY_USER="nobody" is uid 65534`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, capreport)
			out := filepath.Join(e.out, "report.json")
			pidfile := filepath.Join(e.run, "chronyd", "chronyd.pid")
			h := startHelper(t, bin, e, tc.setpriv, append(tc.vars, "CAPREPORT_OUT="+out, "CAPREPORT_PIDFILE="+pidfile)...)
			if tc.wantErr != "" {
				code := h.wait(t, 15*time.Second)
				if code == 0 || !strings.Contains(h.stderr.String(), tc.wantErr) {
					t.Errorf("code %d, want non-zero and %q in:\n%s", code, tc.wantErr, h.stderr)
				}
				if _, err := os.Stat(out); err == nil {
					t.Errorf("capreport ran")
				}
				return
			}
			h.waitStarted(t, e)
			var r report
			deadline := time.Now().Add(10 * time.Second)
			for {
				b, err := os.ReadFile(out)
				if err == nil && json.Unmarshal(b, &r) == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no report: %v\n%s", err, h.stderr)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if r.UID != 65534 || r.GID != 65534 || len(r.Groups) != 0 {
				t.Errorf("chronyd ran as uid %d gid %d groups %v, want nobody 65534:65534 and no groups", r.UID, r.GID, r.Groups)
			}
			for name, got := range map[string]string{"CapPrm": r.CapPrm, "CapEff": r.CapEff, "CapAmb": r.CapAmb} {
				if got != tc.wantCap {
					t.Errorf("chronyd %s = %s, want %s", name, got, tc.wantCap)
				}
			}
			// Without CAP_SETPCAP the bounding set keeps what the runtime gave (SETUID and
			// SETGID in a root start): no_new_privs makes it unreachable whatever the runtime.
			if r.NoNewPrivs != "1" {
				t.Errorf("chronyd NoNewPrivs = %q (bounding set %s), want 1", r.NoNewPrivs, r.CapBnd)
			}
			if tc.wantBnd != "" && r.CapBnd != tc.wantBnd {
				t.Errorf("chronyd CapBnd = %s, want %s", r.CapBnd, tc.wantBnd)
			}
			// Ready reads chronyd's /proc/<pid>/fd as chronyd's user: the capabilities it
			// starts with must not make it undumpable (unreadable to its own uid).
			b, err := os.ReadFile(pidfile) // capreport writes it just after its report
			for deadline := time.Now().Add(10 * time.Second); (err != nil || !strings.HasSuffix(string(b), "\n")) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				b, err = os.ReadFile(pidfile)
			}
			if err != nil {
				t.Errorf("read %s: %v", pidfile, err)
			} else if out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
				"ls", fmt.Sprintf("/proc/%s/fd", strings.TrimSpace(string(b)))).CombinedOutput(); err != nil {
				t.Errorf("chronyd's user cannot list chronyd's fds: %v: %s", err, out)
			}
			if x := slices.Contains(r.Argv, "-x"); x != tc.wantX {
				t.Errorf("argv %q: -x %v, want %v", r.Argv, x, tc.wantX)
			}
			wantArgv := []string{capreport, "-d", "-U", "-u", "nobody", "-f", filepath.Join(e.run, "chrony.conf")}
			if !slices.Equal(r.Argv[:7], wantArgv) {
				t.Errorf("argv %q, want prefix %q", r.Argv, wantArgv)
			}
			// The entrypoint itself: not root, no capability left.
			st := procStatus(t, h.cmd.Process.Pid)
			if st["Uid"] != "65534\t65534\t65534\t65534" || st["Gid"] != "65534\t65534\t65534\t65534" {
				t.Errorf("entrypoint Uid %q Gid %q, want nobody", st["Uid"], st["Gid"])
			}
			for _, k := range []string{"CapPrm", "CapEff", "CapInh", "CapAmb"} {
				if st[k] != capNone {
					t.Errorf("entrypoint %s = %s, want none", k, st[k])
				}
			}
			// chronyd's directory: its user's, no access for others.
			fi, err := os.Stat(filepath.Join(e.run, "chronyd"))
			entrypointtest.Must(t, err)
			if sys := fi.Sys().(*syscall.Stat_t); sys.Uid != 65534 || sys.Gid != 65534 || fi.Mode().Perm() != 0o750 {
				t.Errorf("chronyd dir %d:%d %v, want 65534:65534 0750", sys.Uid, sys.Gid, fi.Mode())
			}
			entrypointtest.Must(t, h.cmd.Process.Signal(syscall.SIGTERM))
			if code := h.wait(t, 10*time.Second); code != 0 {
				t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, h.stderr)
			}
		})
	}
}

func TestStateDirNotWritable(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	e := newEnv(t, capreport)
	entrypointtest.Must(t, os.Chown(e.state, 0, 0))
	h := startHelper(t, helperBinary(t), e, []string{"--bounding-set=-all,+setuid,+setgid"}, "ALLOW=none")
	code := h.wait(t, 15*time.Second)
	want := fmt.Sprintf("STATE_DIR=%s is not writable by uid 65534 (it is owner 0:0 mode 0755)", e.state)
	if code == 0 || !strings.Contains(h.stderr.String(), want) || !strings.Contains(h.stderr.String(), "fix: chown 65534:65534 "+e.state) {
		t.Errorf("code %d, want non-zero and %q in:\n%s", code, want, h.stderr)
	}
}
