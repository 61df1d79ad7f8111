package refclock_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/refclock"
)

// fakeClock is one ptpN directory of a fake /sys/class/ptp, and the device nodes a container
// would have for it (names in the fake /dev, all with the clock's number).
type fakeClock struct {
	name, clockName, dev string
	nodes                []string
}

// tree builds a fake sysfs and /dev. Device nodes are real character devices (mknod needs
// root, as the test suite runs); nothing ever opens them.
func tree(t *testing.T, clocks ...fakeClock) (sysfs, dev string) {
	t.Helper()
	base := t.TempDir()
	sysfs, dev = filepath.Join(base, "sys", "class", "ptp"), filepath.Join(base, "dev")
	for _, d := range []string{sysfs, dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range clocks {
		dir := filepath.Join(sysfs, c.name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for attr, v := range map[string]string{"clock_name": c.clockName + "\n", "dev": c.dev + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, attr), []byte(v), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		var major, minor uint32
		if _, err := fmt.Sscanf(c.dev, "%d:%d", &major, &minor); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.nodes {
			if err := unix.Mknod(filepath.Join(dev, n), syscall.S_IFCHR|0o600, int(unix.Mkdev(major, minor))); err != nil {
				t.Skipf("mknod needs root: %v", err)
			}
		}
	}
	return sysfs, dev
}

func load(t *testing.T, sysfs, dev string, env ...string) *config.Settings {
	t.Helper()
	s, err := config.Load(append([]string{"PTP_SYSFS_DIR=" + sysfs, "PTP_DEV_DIR=" + dev}, env...))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestResolve(t *testing.T) {
	ena := fakeClock{"ptp0", "ena-ptp-0", "249:0", []string{"ptp_ena"}}
	enaNoNode := fakeClock{"ptp0", "ena-ptp-0", "249:0", nil}
	hyperv := fakeClock{"ptp0", "hyperv", "248:0", []string{"ptp0"}}
	kvm := fakeClock{"ptp1", "KVM virtual PTP", "247:1", []string{"ptp1"}}
	nic := fakeClock{"ptp0", "e1000e", "246:0", []string{"ptp0"}}
	wrongNumber := fakeClock{"ptp0", "hyperv", "248:0", nil}

	cases := []struct {
		name    string
		clocks  []fakeClock
		env     []string
		extra   func(t *testing.T, dev string) // more nodes
		chosen  string                         // "" for none; {dev} is the fake /dev
		message string                         // substring of Outcome.Message
		warn    bool
		err     string // substring of the error, "" for none
	}{
		{name: "no-sysfs-dir", message: "no cloud PTP clock"},
		{name: "aws", clocks: []fakeClock{ena}, chosen: "refclock PHC {dev}/ptp_ena poll 0 delay 0.000010 prefer", message: "found the AWS ENA PTP clock ptp0"},
		{name: "azure", clocks: []fakeClock{hyperv}, chosen: "refclock PHC {dev}/ptp0 poll 3 dpoll -2 offset 0 stratum 2", message: "Azure Hyper-V"},
		{name: "azure-time-source", clocks: []fakeClock{hyperv}, env: []string{"TIME_SOURCE=azure"}, chosen: "refclock PHC {dev}/ptp0 poll 3 dpoll -2 offset 0 stratum 2"},
		{name: "kvm", clocks: []fakeClock{nic, kvm}, chosen: "refclock PHC {dev}/ptp1 poll 3 dpoll -2 offset 0", message: "KVM ptp_kvm"},
		{name: "nic-phc-ignored", clocks: []fakeClock{nic}, message: "no cloud PTP clock"},
		{name: "no-device-node", clocks: []fakeClock{enaNoNode}, warn: true, message: "has no device node"},
		{name: "node-with-wrong-number", clocks: []fakeClock{wrongNumber}, warn: true, message: "has no device node",
			extra: func(t *testing.T, dev string) { mknod(t, filepath.Join(dev, "ptp_hyperv"), 1, 3) }},
		{name: "node-not-a-device", clocks: []fakeClock{wrongNumber}, warn: true, message: "has no device node",
			extra: func(t *testing.T, dev string) { writeFile(t, filepath.Join(dev, "ptp0")) }},
		{name: "none", clocks: []fakeClock{ena}, env: []string{"REFCLOCK=none"}, message: "REFCLOCK=none"},
		{name: "explicit-known", clocks: []fakeClock{ena}, env: []string{"REFCLOCK=PHC {dev}/ptp_ena poll 1"}, chosen: "refclock PHC {dev}/ptp_ena poll 1", message: "is the AWS ENA PTP clock ptp0"},
		{name: "explicit-sock", clocks: []fakeClock{ena}, env: []string{"REFCLOCK=SOCK /run/gps.sock"}, chosen: "refclock SOCK /run/gps.sock"},
		{name: "aws-phc-with-aws-ntp", clocks: []fakeClock{ena}, env: []string{"TIME_SOURCE=aws"}, err: "smearing mixed"},
		{name: "aws-phc-with-aws-ntp-allowed", clocks: []fakeClock{ena}, env: []string{"TIME_SOURCE=aws", "ALLOW_LEAP_SMEAR_MIX=true"}, chosen: "refclock PHC {dev}/ptp_ena poll 0 delay 0.000010 prefer"},
		{name: "aws-phc-with-google", clocks: []fakeClock{ena}, env: []string{"NTP_SERVERS=time.google.com"}, err: "AWS ENA PTP clock"},
		{name: "gcp-kvm-is-smeared", clocks: []fakeClock{kvm}, env: []string{"TIME_SOURCE=gcp"}, chosen: "refclock PHC {dev}/ptp1 poll 3 dpoll -2 offset 0"},
		{name: "gcp-kvm-with-pool", clocks: []fakeClock{kvm}, env: []string{"TIME_SOURCE=gcp", "NTP_POOLS=pool.ntp.org", "ALLOW_LEAP_SMEAR_MIX=true"}, chosen: "refclock PHC {dev}/ptp1 poll 3 dpoll -2 offset 0"},
		{name: "azure-time-source-without-clock", clocks: []fakeClock{kvm}, env: []string{"TIME_SOURCE=azure"}, err: "TIME_SOURCE=azure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sysfs, dev := tree(t, c.clocks...)
			if c.name == "no-sysfs-dir" {
				sysfs = filepath.Join(sysfs, "absent")
			}
			if c.extra != nil {
				c.extra(t, dev)
			}
			var env []string
			for _, e := range c.env {
				env = append(env, strings.ReplaceAll(e, "{dev}", dev))
			}
			s := load(t, sysfs, dev, env...)
			out, err := refclock.Resolve(s)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			want := strings.ReplaceAll(c.chosen, "{dev}", dev)
			if out.Chosen != want {
				t.Errorf("Chosen = %q, want %q (message %q)", out.Chosen, want, out.Message)
			}
			var lines []string
			for _, r := range s.Refclocks {
				lines = append(lines, r.Line())
			}
			if got := strings.Join(lines, "\n"); got != want {
				t.Errorf("Settings.Refclocks = %q, want %q", got, want)
			}
			if !strings.Contains(out.Message, c.message) {
				t.Errorf("Message = %q, want it to contain %q", out.Message, c.message)
			}
			if out.Warn != c.warn {
				t.Errorf("Warn = %v, want %v (%s)", out.Warn, c.warn, out.Message)
			}
		})
	}
}

// A FIFO planted as an attribute must fail detection, not hang it.
func TestDetectRefusesFIFO(t *testing.T) {
	sysfs, dev := tree(t)
	dir := filepath.Join(sysfs, "ptp0")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "clock_name"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := refclock.Detect(sysfs, dev); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Detect = %v, want a not-a-regular-file error", err)
	}
	// REFCLOCK=auto then starts without a clock, and says why.
	s := load(t, sysfs, dev)
	out, err := refclock.Resolve(s)
	if err != nil || !out.Warn || len(s.Refclocks) != 0 || !strings.Contains(out.Message, "not a regular file") {
		t.Fatalf("Resolve = %+v, %v; want a warning and no clock", out, err)
	}
}

func mknod(t *testing.T, path string, major, minor uint32) {
	t.Helper()
	if err := unix.Mknod(path, syscall.S_IFCHR|0o600, int(unix.Mkdev(major, minor))); err != nil {
		t.Skipf("mknod needs root: %v", err)
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
