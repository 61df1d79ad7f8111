package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/test/standin"
)

// TestRefclockDevice runs the README's Docker lines for a PHC (README: Cloud nodes) against
// fake clocks: a fake /sys/class/ptp mounted at PTP_SYSFS_DIR names an Azure clock whose node
// the host made with mknod, and capreport stands in for chronyd, which is never pointed at a
// fake device. It checks the group chronyd gets and the errors for a device chronyd could not
// open: permission bits, a device cgroup that does not allow it (a bind-mounted node, as a
// Kubernetes hostPath volume gives), a number no driver serves.
func TestRefclockDevice(t *testing.T) {
	needs.Docker(t)
	const group = 4242
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each node: /dev/null's numbers (any container may open them, a driver answers) or
	// numbers no driver has and no container's device cgroup allows.
	node := func(name string, major, minor uint32, gid int, mode uint32) string {
		p := filepath.Join(dir, name)
		if err := unix.Mknod(p, syscall.S_IFCHR|mode, int(unix.Mkdev(major, minor))); err != nil {
			t.Fatalf("mknod (needs root): %v", err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sysfs := func(name, dev string) string {
		p := filepath.Join(dir, name, "ptp0")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		for attr, v := range map[string]string{"clock_name": "hyperv\n", "dev": dev + "\n"} {
			if err := os.WriteFile(filepath.Join(p, attr), []byte(v), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Dir(p)
	}
	groupReadable := node("group-readable", 1, 3, group, 0o640)
	rootOnly := node("root-only", 1, 3, 0, 0o600)
	noDriver := node("no-driver", 4095, 12345, group, 0o640)
	sysNull := sysfs("sys-null", "1:3")
	sysNone := sysfs("sys-none", "4095:12345")

	rootStart := []string{"--user", "0:0", "--cap-add", "SETUID", "--cap-add", "SETGID"}
	tests := []struct {
		name  string
		flags []string
		env   []string
		// wantGroup: chronyd's supplementary groups include it; wantRefclock: the rendered file
		// has the PHC line. wantExit/wantLog: the container stops, or warns, saying this.
		wantGroup    bool
		wantRefclock bool
		wantExit     string
		wantWarn     string
	}{
		{name: "non-root with --group-add, auto finds the clock",
			flags: []string{"--device", groupReadable + ":/dev/ptp_hyperv", "--group-add", fmt.Sprint(group), "-v", sysNull + ":/fake-ptp:ro"},
			env:   []string{"PTP_SYSFS_DIR=/fake-ptp"}, wantGroup: true, wantRefclock: true},
		{name: "root start gives chronyd the device's group",
			flags: append([]string{"--device", groupReadable + ":/dev/ptp_hyperv", "-v", sysNull + ":/fake-ptp:ro"}, rootStart...),
			env:   []string{"PTP_SYSFS_DIR=/fake-ptp"}, wantGroup: true, wantRefclock: true},
		{name: "non-root without the group: auto falls back to NTP",
			flags: []string{"--device", groupReadable + ":/dev/ptp_hyperv", "-v", sysNull + ":/fake-ptp:ro"},
			env:   []string{"PTP_SYSFS_DIR=/fake-ptp"}, wantWarn: "docker run --group-add 4242"},
		{name: "explicit device only root may read",
			flags: append([]string{"--device", rootOnly + ":/dev/ptp_hyperv"}, rootStart...),
			env:   []string{"REFCLOCK=/dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2"}, wantExit: "its group may not read it either"},
		{name: "explicit device bind-mounted, not allowed by the device cgroup",
			flags: append([]string{"-v", noDriver + ":/dev/ptp_hyperv"}, rootStart...),
			env:   []string{"REFCLOCK=/dev/ptp_hyperv"}, wantExit: "the container's device cgroup does not allow it"},
		{name: "explicit device passed, no driver on the host",
			flags: append([]string{"--device", noDriver + ":/dev/ptp_hyperv", "-v", sysNone + ":/fake-ptp:ro"}, rootStart...),
			env:   []string{"REFCLOCK=/dev/ptp_hyperv", "PTP_SYSFS_DIR=/fake-ptp"}, wantExit: "no driver answers"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-ref%d", prefix, i)
			ownContainer(t, name)
			args := append([]string{"run", "-d", "--name", name, "--network", network, "--read-only",
				"--tmpfs", "/run/chrony", "--cap-drop", "ALL"}, tc.flags...)
			env := append([]string{"CHRONYD=" + standin.CapreportPath, "CAPREPORT_OUT=/run/chrony/chronyd/capreport.json",
				"NTP_SERVERS=" + upstream, "NTP_PORT=1123", "HTTP_ADDR=off", "LOG_FORMAT=console", "CLOCK_CONTROL=off"}, tc.env...)
			for _, e := range env {
				args = append(args, "-e", e)
			}
			dockerT(t, append(args, image)...)

			deadline := time.Now().Add(30 * time.Second)
			if tc.wantExit != "" {
				for info(t, name).State.Running {
					if time.Now().After(deadline) {
						t.Fatal("container still running, want it to stop")
					}
					time.Sleep(200 * time.Millisecond)
				}
				if code := info(t, name).State.ExitCode; code != 1 {
					t.Errorf("exit code %d, want 1", code)
				}
				if logs := dockerT(t, "logs", name); !strings.Contains(logs, tc.wantExit) {
					t.Errorf("logs lack %q:\n%s", tc.wantExit, logs)
				}
				return
			}
			pid := info(t, name).State.Pid
			var rep struct{ Groups []int }
			for {
				data, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/run/chrony/chronyd/capreport.json", pid))
				if err == nil && json.Unmarshal(data, &rep) == nil {
					break
				}
				if !info(t, name).State.Running {
					t.Fatalf("container exited before chronyd's stand-in reported")
				}
				if time.Now().After(deadline) {
					t.Fatalf("no report within 30 s: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if got := slices.Contains(rep.Groups, group); got != tc.wantGroup {
				t.Errorf("chronyd's groups %v: %d among them %v, want %v", rep.Groups, group, got, tc.wantGroup)
			}
			conf, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/run/chrony/chrony.conf", pid))
			if err != nil {
				t.Fatal(err)
			}
			line := "refclock PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2"
			if got := strings.Contains(string(conf), "\n"+line+"\n"); got != tc.wantRefclock {
				t.Errorf("%q in chrony.conf: %v, want %v:\n%s", line, got, tc.wantRefclock, conf)
			}
			if tc.wantWarn != "" {
				if logs := dockerT(t, "logs", name); !strings.Contains(logs, tc.wantWarn) {
					t.Errorf("logs lack %q:\n%s", tc.wantWarn, logs)
				}
			}
		})
	}
}
