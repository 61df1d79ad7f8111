package preflight

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/rundir"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestDecide(t *testing.T) {
	all := CapsOf(cap.SETUID, cap.SETGID, cap.SETPCAP, cap.SYS_TIME, cap.NET_BIND_SERVICE, cap.CHOWN)
	root := Facts{UID: 0, Permitted: all, Effective: all, Bounding: all, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 1024}
	chrony := Facts{UID: 100, GID: 101, Bounding: all, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 1024}
	with := func(f Facts, mod func(*Facts)) Facts { mod(&f); return f }
	settings := func(cc config.ClockControl, port int, allowAll bool) *config.Settings {
		return &config.Settings{ClockControl: cc, NTPPort: port, AllowAll: allowAll}
	}
	cases := []struct {
		name  string
		f     Facts
		s     *config.Settings
		ntske int
	}{
		{"root, all caps, auto, port 123", root, settings(config.ClockAuto, 123, true), 0},
		{"root, all caps, port 123, docker netns", with(root, func(f *Facts) { f.UnprivilegedPortStart = 0 }), settings(config.ClockAuto, 123, true), 0},
		{"root, all caps, port 123, client only", root, settings(config.ClockAuto, 123, false), 0},
		{"root, off", root, settings(config.ClockOff, 1123, true), 0},
		{"root without SYS_TIME, auto", with(root, func(f *Facts) { f.Permitted &^= CapsOf(cap.SYS_TIME) }), settings(config.ClockAuto, 1123, true), 0},
		{"root without SYS_TIME, on", with(root, func(f *Facts) { f.Permitted &^= CapsOf(cap.SYS_TIME) }), settings(config.ClockOn, 1123, true), 0},
		{"root without SETUID", with(root, func(f *Facts) { f.Permitted &^= CapsOf(cap.SETUID) }), settings(config.ClockAuto, 1123, true), 0},
		{"root without NET_BIND_SERVICE, port 123", with(root, func(f *Facts) { f.Permitted &^= CapsOf(cap.NET_BIND_SERVICE) }), settings(config.ClockAuto, 123, true), 0},
		{"root, mounted file serves NTS-KE on 460", root, settings(config.ClockAuto, 1123, true), 460},
		{"non-root, mounted file serves NTS-KE on 460", chrony, settings(config.ClockAuto, 1123, true), 460},
		{"non-root, permitted SYS_TIME", with(chrony, func(f *Facts) { f.Permitted = CapsOf(cap.SYS_TIME) }), settings(config.ClockOn, 1123, true), 0},
		{"non-root, bounding only, auto", chrony, settings(config.ClockAuto, 1123, true), 0},
		{"non-root, bounding only, on", chrony, settings(config.ClockOn, 1123, true), 0},
		{"non-root, bounding only, no-new-privileges, auto", with(chrony, func(f *Facts) { f.NoNewPrivs = true }), settings(config.ClockAuto, 1123, true), 0},
		{"root without SETPCAP keeps the runtime's bounding set", with(root, func(f *Facts) { f.Permitted &^= CapsOf(cap.SETPCAP) }), settings(config.ClockAuto, 1123, true), 0},
		{"non-root, nothing, on", with(chrony, func(f *Facts) { f.Bounding = 0 }), settings(config.ClockOn, 1123, true), 0},
		{"non-root, other uid", with(chrony, func(f *Facts) { f.UID = 1000 }), settings(config.ClockAuto, 1123, true), 0},
		{"user is root", with(root, func(f *Facts) { f.UserUID = 0 }), settings(config.ClockAuto, 1123, true), 0},
		{"user missing", with(root, func(f *Facts) { f.UserErr = fmt.Errorf("user: unknown user chrony") }), settings(config.ClockAuto, 1123, true), 0},

		// Refclock devices (REFCLOCK): chronyd, uid 100 gid 101, opens each for reading.
		{"root, device group-readable: its group for chronyd", with(root, dev(0, 977, 0o640)), settings(config.ClockAuto, 1123, true), 0},
		{"root, two devices of one group: the group once", with(root, func(f *Facts) { dev(0, 977, 0o640)(f); dev(0, 977, 0o660)(f) }), settings(config.ClockAuto, 1123, true), 0},
		{"root, device of chrony's own group", with(root, dev(0, 101, 0o640)), settings(config.ClockAuto, 1123, true), 0},
		{"root, device world-readable", with(root, dev(0, 0, 0o644)), settings(config.ClockAuto, 1123, true), 0},
		{"root, device owned by chrony", with(root, dev(100, 0, 0o600)), settings(config.ClockAuto, 1123, true), 0},
		{"root, device root-only", with(root, dev(0, 0, 0o600)), settings(config.ClockAuto, 1123, true), 0},
		{"root, device of root's group", with(root, dev(0, 0, 0o640)), settings(config.ClockAuto, 1123, true), 0},
		{"root, device missing", with(root, func(f *Facts) {
			f.Devices = append(f.Devices, Device{Path: "/dev/ptp_ena", Err: &os.PathError{Op: "stat", Path: "/dev/ptp_ena", Err: syscall.ENOENT}})
		}), settings(config.ClockAuto, 1123, true), 0},
		{"root, device not a character device", with(root, func(f *Facts) {
			f.Devices = append(f.Devices, Device{Path: "/dev/ptp0", Mode: 0o644})
		}), settings(config.ClockAuto, 1123, true), 0},
		{"non-root with --group-add", with(chrony, func(f *Facts) { f.Groups = []int{977}; dev(0, 977, 0o640)(f) }), settings(config.ClockAuto, 1123, true), 0},
		{"non-root without the device's group", with(chrony, dev(0, 977, 0o640)), settings(config.ClockAuto, 1123, true), 0},
	}
	var b strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decide(tc.f, tc.s)
			fmt.Fprintf(&b, "== %s\n", tc.name)
			if err == nil {
				port := 0
				if tc.s.AllowAll {
					port = tc.s.NTPPort
				}
				p, err = p.Serve(tc.f, Port{port, "NTP port", fmt.Sprintf("NTP_PORT=%d", tc.s.NTPPort)}, Port{tc.ntske, "NTS-KE port", "the ntsport directive in CHRONY_CONF=/c"})
			}
			if err != nil {
				fmt.Fprintf(&b, "error: %v\n", err)
				return
			}
			fmt.Fprintf(&b, "clock=%v keep=%s bounding=%s drop=%v warn=%v\n%s\nclock: %s\nbind: %s\n", p.ClockControl, p.Keep, p.Bounding, p.DropFromRoot, p.Warn, p.Summary, p.ClockReason, p.BindReason)
			if len(p.DeviceReason) > 0 {
				fmt.Fprintf(&b, "groups: %v\ndevices: %s\n", p.Groups, strings.Join(p.DeviceReason, "; "))
			}
		})
	}
	golden.Compare(t, *update, filepath.Join("testdata", "decide.golden"), b.String())
}

// dev adds a PHC character device with the given owner, group and mode to the facts.
func dev(uid, gid int, mode os.FileMode) func(*Facts) {
	return func(f *Facts) {
		f.Devices = append(f.Devices, Device{Path: fmt.Sprintf("/dev/ptp%d", len(f.Devices)), Char: true, UID: uid, GID: gid, Mode: mode})
	}
}

// TestPrepareDirs runs as root (as CI does) and prepares for nobody.
func TestPrepareDirs(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, l rundir.Layout)
	}{
		{"root-owned 1777 run dir", func(t *testing.T, l rundir.Layout) {}},
		{"existing wrong owner and mode, stale pidfile and socket", func(t *testing.T, l rundir.Layout) {
			if err := os.Mkdir(l.ChronydDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{l.PIDFile(), l.Socket()} {
				if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := chronytest.ShortTempDir(t)
			l := rundir.New(filepath.Join(base, "run"), filepath.Join(base, "state"))
			for _, d := range []string{l.Run, l.State} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(l.Run, 0o1777); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, l)
			if err := PrepareDirs(l, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(l.ChronydDir())
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o750 {
				t.Errorf("%s is %d:%d %v, want 65534:65534 0750", l.ChronydDir(), st.Uid, st.Gid, fi.Mode())
			}
			for _, p := range []string{l.PIDFile(), l.Socket()} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s not removed", p)
				}
			}
			if got, err := os.Readlink(l.ChronycLink()); err != nil || got != "chronyd/chronyd.sock" {
				t.Errorf("chronyc's socket path %s -> %q (%v), want a link to chronyd/chronyd.sock", l.ChronycLink(), got, err)
			}
		})
	}
}

// TestWriteFile: a regular file or none is replaced through a new file renamed into place; a
// symlink, FIFO or directory at the path is refused, naming it, and left as it was (this must
// return at once: a FIFO opened for writing would block).
func TestWriteFile(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, path, target string)
		wantErr bool
	}{
		{"missing", func(t *testing.T, path, target string) {}, false},
		{"regular", func(t *testing.T, path, target string) {
			entrypointtest.Must(t, os.WriteFile(path, []byte("old"), 0o600))
		}, false},
		{"symlink", func(t *testing.T, path, target string) { entrypointtest.Must(t, os.Symlink(target, path)) }, true},
		{"dangling symlink", func(t *testing.T, path, target string) { entrypointtest.Must(t, os.Symlink(target+".none", path)) }, true},
		{"FIFO", func(t *testing.T, path, target string) { entrypointtest.Must(t, syscall.Mkfifo(path, 0o666)) }, true},
		{"directory", func(t *testing.T, path, target string) { entrypointtest.Must(t, os.Mkdir(path, 0o755)) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, target := filepath.Join(dir, "chrony.conf"), filepath.Join(dir, "target")
			entrypointtest.Must(t, os.WriteFile(target, []byte("precious"), 0o600))
			tc.prepare(t, path, target)
			err := WriteFile("RUN_DIR="+dir, path, []byte("new\n"))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("err = %v, want one naming %s as not a regular file", err, path)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if b, _ := os.ReadFile(path); string(b) != "new\n" {
				t.Errorf("content %q", b)
			} else if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", fi.Mode())
			}
			if b, _ := os.ReadFile(target); string(b) != "precious" {
				t.Errorf("target changed: %q", b)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".chrony.conf.*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestCheckDriftFile: only a regular drift file is opened; anything else is an error naming
// it, returned at once.
func TestCheckDriftFile(t *testing.T) {
	cases := []struct {
		name              string
		prepare           func(t *testing.T, path string)
		wantWarn, wantErr bool
	}{
		{"missing", func(t *testing.T, path string) {}, false, false},
		{"regular", func(t *testing.T, path string) { entrypointtest.Must(t, os.WriteFile(path, []byte("1 2\n"), 0o644)) }, false, false},
		{"FIFO", func(t *testing.T, path string) { entrypointtest.Must(t, syscall.Mkfifo(path, 0o666)) }, false, true},
		{"symlink", func(t *testing.T, path string) { entrypointtest.Must(t, os.Symlink("/etc/passwd", path)) }, false, true},
		{"directory", func(t *testing.T, path string) { entrypointtest.Must(t, os.Mkdir(path, 0o755)) }, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "drift")
			tc.prepare(t, path)
			warn, err := CheckDriftFile(path)
			if (warn != nil) != tc.wantWarn || (err != nil) != tc.wantErr {
				t.Fatalf("warn %v, err %v", warn, err)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name %s: %v", path, err)
			}
		})
	}
}
