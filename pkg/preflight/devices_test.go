package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/pkg/config"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// TestInspectDevicesDecide makes real device nodes (mknod, as root; never opened) with the
// owner, group and mode a host or runtime gives them, and checks the whole path from stat to
// the plan: the group chronyd gets, or the error.
func TestInspectDevicesDecide(t *testing.T) {
	all := CapsOf(cap.SETUID, cap.SETGID, cap.SETPCAP)
	root := Facts{UID: 0, Permitted: all, Effective: all, Bounding: all, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 1024}
	cases := []struct {
		name       string
		uid, gid   int
		mode       uint32
		fifo       bool
		missing    bool
		wantGroups []int
		wantErr    bool
	}{
		{name: "group-readable", gid: 977, mode: 0o640, wantGroups: []int{977}},
		{name: "group-read-write", gid: 977, mode: 0o660, wantGroups: []int{977}},
		{name: "chrony-owned", uid: 100, mode: 0o600},
		{name: "root-only", mode: 0o600, wantErr: true},
		{name: "root-group", mode: 0o640, wantErr: true},
		{name: "fifo", gid: 977, mode: 0o640, fifo: true, wantErr: true},
		{name: "missing", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ptp_ena")
			switch {
			case tc.missing:
			case tc.fifo:
				if err := unix.Mkfifo(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			default:
				if err := unix.Mknod(path, syscall.S_IFCHR|tc.mode, int(unix.Mkdev(249, 0))); err != nil {
					t.Skipf("mknod needs root: %v", err)
				}
			}
			if !tc.missing {
				if err := os.Chown(path, tc.uid, tc.gid); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, os.FileMode(tc.mode)); err != nil {
					t.Fatal(err)
				}
			}
			s := &config.Settings{ClockControl: config.ClockOff, Refclocks: []config.Refclock{{Driver: "PHC", Param: path}, {Driver: "SOCK", Param: "/run/x.sock"}}}
			f := root
			f.Devices = InspectDevices(s)
			if len(f.Devices) != 1 {
				t.Fatalf("InspectDevices = %+v, want the one PHC", f.Devices)
			}
			p, err := Decide(f, s)
			if tc.wantErr {
				if !errors.Is(err, ErrDevice) {
					t.Fatalf("Decide = %v, want ErrDevice", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Groups) != len(tc.wantGroups) || (len(p.Groups) > 0 && p.Groups[0] != tc.wantGroups[0]) {
				t.Fatalf("Groups = %v, want %v (%v)", p.Groups, tc.wantGroups, p.DeviceReason)
			}
		})
	}
}

// TestCheckDevices opens real nodes: one with /dev/null's number (a driver answers; opening
// it is harmless) and one whose number no driver serves.
func TestCheckDevices(t *testing.T) {
	dir := t.TempDir()
	ok, none := filepath.Join(dir, "ok"), filepath.Join(dir, "none")
	if err := unix.Mknod(ok, syscall.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod needs root: %v", err)
	}
	if err := unix.Mknod(none, syscall.S_IFCHR|0o644, int(unix.Mkdev(4095, 12345))); err != nil {
		t.Fatal(err)
	}
	s := func(path string) *config.Settings {
		return &config.Settings{Refclocks: []config.Refclock{{Driver: "SOCK", Param: "/nonexistent"}, {Driver: "PHC", Param: path}}}
	}
	if err := CheckDevices(s(ok)); err != nil {
		t.Errorf("CheckDevices(%s) = %v", ok, err)
	}
	if err := CheckDevices(s(none)); !errors.Is(err, ErrDevice) || !strings.Contains(err.Error(), "no driver answers") {
		t.Errorf("CheckDevices(%s) = %v, want the no-driver error", none, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDevices(s(fifo)); !errors.Is(err, ErrDevice) {
		t.Errorf("CheckDevices(fifo) = %v, want ErrDevice without blocking", err)
	}
}
