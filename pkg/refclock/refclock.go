package refclock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/internal/regularfile"
	"github.com/chris-short/chrony/pkg/config"
)

// Vendor is a cloud's PTP clock as its documentation describes it.
type Vendor struct {
	Name string // "AWS ENA"
	// Link is the device name the vendor's udev rule creates (ptp_ena), tried before ptpN.
	Link string
	// Options are the vendor's refclock options.
	Options []string
	// Leap is how the clock handles a leap second, where the vendor documents it.
	Leap config.Leap
	// Doc names the document the line comes from.
	Doc string
}

// vendors are matched by clock_name, as the vendors' udev rules match them.
var vendors = []struct {
	match func(clockName string) bool
	v     Vendor
}{
	{func(n string) bool { return strings.HasPrefix(n, "ena-ptp-") }, Vendor{
		Name: "AWS ENA", Link: "ptp_ena", Options: []string{"poll 0", "delay 0.000010", "prefer"},
		Leap: config.LeapUTC, Doc: "AWS EC2 user guide: Connect to the PTP hardware clock"}},
	{func(n string) bool { return n == "hyperv" }, Vendor{
		Name: "Azure Hyper-V", Link: "ptp_hyperv", Options: []string{"poll 3", "dpoll -2", "offset 0", "stratum 2"},
		Doc: "Azure: Time sync for Linux VMs"}},
	{func(n string) bool { return n == "KVM virtual PTP" }, Vendor{
		Name: "KVM ptp_kvm", Link: "ptp_kvm", Options: []string{"poll 3", "dpoll -2", "offset 0"},
		Doc: "chrony.conf(5) refclock PHC example"}},
}

// Clock is one PTP clock under the sysfs directory.
type Clock struct {
	Name      string  // ptp0
	ClockName string  // its clock_name: ena-ptp-0, hyperv, KVM virtual PTP, or a NIC's
	Dev       string  // its device number, "249:0"
	Vendor    *Vendor // nil for a clock no cloud documents (a NIC's own PHC)
	// Device is its node in the device directory, "" when the container has none.
	Device string
}

func (c Clock) String() string {
	s := fmt.Sprintf("%s (%s, %s", c.Name, c.ClockName, c.Dev)
	if c.Device != "" {
		s += ", " + c.Device
	} else {
		s += ", no device node"
	}
	return s + ")"
}

// maxAttr bounds what is read of one sysfs attribute.
const maxAttr = 256

// Detect lists the PTP clocks in sysfsDir (each ptpN/clock_name and ptpN/dev) and finds each
// one's node in devDir: the vendor's udev name first, then ptpN, either accepted only when it
// is a character device with the clock's number. No directory: no clocks.
func Detect(sysfsDir, devDir string) ([]Clock, error) {
	entries, err := os.ReadDir(sysfsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list PTP clocks in PTP_SYSFS_DIR=%s: %w", sysfsDir, err)
	}
	var clocks []Clock
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "ptp") {
			continue
		}
		dir := filepath.Join(sysfsDir, e.Name())
		name, err := readAttr(filepath.Join(dir, "clock_name"))
		if err != nil {
			return nil, fmt.Errorf("PTP_SYSFS_DIR=%s: %w", sysfsDir, err)
		}
		dev, err := readAttr(filepath.Join(dir, "dev"))
		if err != nil {
			return nil, fmt.Errorf("PTP_SYSFS_DIR=%s: %w", sysfsDir, err)
		}
		c := Clock{Name: e.Name(), ClockName: name, Dev: dev}
		for i := range vendors {
			if vendors[i].match(name) {
				c.Vendor = &vendors[i].v
				break
			}
		}
		major, minor, ok := parseDev(dev)
		if ok {
			var tries []string
			if c.Vendor != nil {
				tries = append(tries, c.Vendor.Link)
			}
			for _, n := range append(tries, c.Name) {
				p := filepath.Join(devDir, n)
				if isCharDev(p, major, minor) {
					c.Device = p
					break
				}
			}
		}
		clocks = append(clocks, c)
	}
	sort.Slice(clocks, func(i, j int) bool { return ptpIndex(clocks[i].Name) < ptpIndex(clocks[j].Name) })
	return clocks, nil
}

func ptpIndex(name string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "ptp"))
	if err != nil {
		return 1 << 30
	}
	return n
}

// readAttr reads a small attribute file without blocking on a FIFO a fake tree could hold.
func readAttr(path string) (string, error) {
	b, err := regularfile.Read(path, maxAttr, false)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func parseDev(dev string) (major, minor uint32, ok bool) {
	a, b, found := strings.Cut(dev, ":")
	if !found {
		return 0, 0, false
	}
	ma, err1 := strconv.ParseUint(a, 10, 32)
	mi, err2 := strconv.ParseUint(b, 10, 32)
	return uint32(ma), uint32(mi), err1 == nil && err2 == nil
}

// isCharDev says whether path (symlinks followed: udev's ptp_ena is one on a host) is a
// character device with the given number.
func isCharDev(path string, major, minor uint32) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == major && unix.Minor(st.Rdev) == minor
}

// Outcome is what Resolve found and chose, for one log line.
type Outcome struct {
	Message string
	Found   []string // each clock found, as Clock.String
	Chosen  string   // the refclock line, or ""
	// Warn marks a clock found but unusable (no device node): the operator probably meant
	// to pass it.
	Warn bool
}

// Resolve completes s for REFCLOCK: with auto it fills s.Refclocks with the first cloud
// clock whose device is in the container; with an explicit PHC path it names the clock (and
// its leap handling) when the path is one of the clocks found. It then applies the checks
// that need the clock: TIME_SOURCE=azure needs the Hyper-V clock, and a smeared source must
// not be mixed with an unsmeared one.
func Resolve(s *config.Settings) (Outcome, error) {
	var out Outcome
	if s.RefclockMode == config.RefclockNone {
		out.Message = "REFCLOCK=none: no reference clock"
		return out, s.SmearConflict()
	}
	// Detection only helps: an unreadable tree costs the clock (with a warning), not the start.
	clocks, detectErr := Detect(s.PTPSysfsDir, s.PTPDevDir)
	for _, c := range clocks {
		out.Found = append(out.Found, c.String())
	}
	switch s.RefclockMode {
	case config.RefclockExplicit:
		r := &s.Refclocks[0]
		out.Chosen = r.Line()
		out.Message = "REFCLOCK set: using " + out.Chosen
		if r.Driver == "PHC" {
			for _, c := range clocks {
				if c.Vendor != nil && c.Device != "" && sameFile(c.Device, r.Param) {
					r.Leap, r.What = leapOf(c.Vendor, s), c.Vendor.Name+" PTP clock "+r.Param
					out.Message = fmt.Sprintf("REFCLOCK set: %s is the %s PTP clock %s; using %s", r.Param, c.Vendor.Name, c.Name, out.Chosen)
				}
			}
		}
	default:
		out.Message = fmt.Sprintf("REFCLOCK=auto: no cloud PTP clock in PTP_SYSFS_DIR=%s; NTP sources only", s.PTPSysfsDir)
		var missing []string
		for _, c := range clocks {
			if c.Vendor == nil {
				continue
			}
			if c.Device == "" {
				missing = append(missing, fmt.Sprintf("%s (%s) has no device node in PTP_DEV_DIR=%s: pass it to use it (docker run --device /dev/%s; Kubernetes: a hostPath CharDevice volume, README: Cloud nodes)",
					c.Name, c.Vendor.Name, s.PTPDevDir, c.Vendor.Link))
				continue
			}
			r := config.Refclock{Driver: "PHC", Param: c.Device, Options: c.Vendor.Options, Leap: leapOf(c.Vendor, s), What: c.Vendor.Name + " PTP clock " + c.Device}
			s.Refclocks = []config.Refclock{r}
			out.Chosen = r.Line()
			out.Message = fmt.Sprintf("REFCLOCK=auto: found the %s PTP clock %s at %s; using %s (%s)", c.Vendor.Name, c.Name, c.Device, out.Chosen, c.Vendor.Doc)
			break
		}
		if out.Chosen == "" && len(missing) > 0 {
			out.Warn = true
			out.Message = "REFCLOCK=auto: NTP sources only: " + strings.Join(missing, "; ")
		}
		if detectErr != nil {
			out.Warn = true
			out.Message = fmt.Sprintf("REFCLOCK=auto: NTP sources only: %v", detectErr)
		}
	}
	if s.TimeSource == config.TimeSourceAzure && !usesVendor(s, "Azure Hyper-V") {
		return out, fmt.Errorf("TIME_SOURCE=azure: Azure's time is the host's, through the Hyper-V PTP clock, and none is usable here (%s): pass /dev/ptp_hyperv into the container (docker run --device /dev/ptp_hyperv; README: Cloud nodes), or unset TIME_SOURCE", out.Message)
	}
	if err := s.SmearConflict(); err != nil {
		name := "REFCLOCK=" + string(s.RefclockMode)
		if s.TimeSource != config.TimeSourceNone {
			name += " and TIME_SOURCE=" + string(s.TimeSource)
		}
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// leapOf is v's leap handling; a KVM clock is the host's, which on Google Cloud smears.
func leapOf(v *Vendor, s *config.Settings) config.Leap {
	if v.Name == "KVM ptp_kvm" && s.TimeSource == config.TimeSourceGCP {
		return config.LeapSmeared
	}
	return v.Leap
}

func usesVendor(s *config.Settings, name string) bool {
	for _, r := range s.Refclocks {
		if strings.HasPrefix(r.What, name+" ") {
			return true
		}
	}
	return false
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
