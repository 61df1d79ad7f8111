package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/chris-short/chrony/pkg/config"
)

// ErrDevice is wrapped by Decide when chronyd could not open a refclock device.
var ErrDevice = errors.New("refclock device unusable")

// Device is a PHC device node that chronyd will open, as the container has it (symlinks
// followed, as chronyd's open follows them).
type Device struct {
	Path     string
	Err      error // from stat: the node is missing or unreachable
	Char     bool  // a character device
	UID, GID int
	Mode     fs.FileMode // permission bits
}

// InspectDevices stats the PHC devices of s.Refclocks (after REFCLOCK=auto is resolved). It
// only stats: nothing is opened, so a planted FIFO cannot block it.
func InspectDevices(s *config.Settings) []Device {
	var ds []Device
	for _, r := range s.Refclocks {
		if r.Driver != "PHC" {
			continue
		}
		d := Device{Path: r.Param}
		fi, err := os.Stat(r.Param)
		if err != nil {
			d.Err = err
		} else {
			st := fi.Sys().(*syscall.Stat_t)
			d.Char = fi.Mode().Type() == fs.ModeDevice|fs.ModeCharDevice
			d.UID, d.GID, d.Mode = int(st.Uid), int(st.Gid), fi.Mode().Perm()
		}
		ds = append(ds, d)
	}
	return ds
}

// readable says whether uid with gid and groups may open d for reading (chronyd opens a PHC
// O_RDONLY), by the permission bits alone, as for any process without CAP_DAC_OVERRIDE.
func (d Device) readable(uid, gid int, groups []int) bool {
	switch {
	case uid == d.UID:
		return d.Mode&0o400 != 0
	case gid == d.GID || slices.Contains(groups, d.GID):
		return d.Mode&0o040 != 0
	default:
		return d.Mode&0o004 != 0
	}
}

// deviceAccess decides how chronyd, running as f.UserUID, opens each refclock device. In a
// root start it may add the device's group as chronyd's one supplementary group (never
// root's group, which would open every root-group file); a non-root start keeps the
// supplementary groups the runtime gave (docker run --group-add). Anything else is an error
// that names the fix; the host's device node is never changed.
func deviceAccess(f Facts, root bool) (groups []int, reasons []string, err error) {
	have := f.Groups
	if root {
		have = nil // Become sets them: none but what is decided here
	}
	for _, d := range f.Devices {
		where := fmt.Sprintf("REFCLOCK device %s", d.Path)
		switch {
		case errors.Is(d.Err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("%w: %s is not in the container: pass it (docker run --device %s; Kubernetes: a device plugin, README: Cloud nodes), or set REFCLOCK=none",
				ErrDevice, where, d.Path)
		case d.Err != nil:
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrDevice, where, d.Err)
		case !d.Char:
			return nil, nil, fmt.Errorf("%w: %s is not a character device: name the PTP clock's device node (/dev/ptpN or the vendor's link such as /dev/ptp_ena)", ErrDevice, where)
		case d.readable(f.UserUID, f.UserGID, slices.Concat(have, groups)):
			reasons = append(reasons, fmt.Sprintf("%s (uid %d, gid %d, mode %04o) is readable by %s", d.Path, d.UID, d.GID, d.Mode, f.User))
			continue
		}
		ownerOnly := fmt.Sprintf("%s is uid %d, gid %d, mode %04o: chronyd runs as %s (uid %d) and cannot open it", where, d.UID, d.GID, d.Mode, f.User, f.UserUID)
		hostFix := fmt.Sprintf("give the device a group of its own on the host and make it group-readable, e.g. the udev rule SUBSYSTEM==\"ptp\", GROUP=\"<group>\", MODE=\"0640\" (README: Cloud nodes); " +
			"the entrypoint then adds that group for chronyd when started as root, or run with it (docker run --group-add <gid>; Kubernetes supplementalGroups)")
		switch {
		case d.Mode&0o040 == 0:
			return nil, nil, fmt.Errorf("%w: %s, and its group may not read it either: %s", ErrDevice, ownerOnly, hostFix)
		case d.GID == 0:
			return nil, nil, fmt.Errorf("%w: %s, and its group is root's, which chronyd is never given: %s", ErrDevice, ownerOnly, hostFix)
		case root:
			groups = append(groups, d.GID)
			reasons = append(reasons, fmt.Sprintf("%s (uid %d, gid %d, mode %04o) is readable by its group: chronyd gets supplementary group %d", d.Path, d.UID, d.GID, d.Mode, d.GID))
		default:
			return nil, nil, fmt.Errorf("%w: %s and its group %d may read it, but this container was started as uid %d without that group: "+
				"add it (docker run --group-add %d; Kubernetes securityContext.supplementalGroups: [%d]), or start as root with SETUID and SETGID so the entrypoint adds it for chronyd alone",
				ErrDevice, ownerOnly, d.GID, f.UID, d.GID, d.GID)
		}
	}
	return groups, reasons, nil
}

// groupsText names supplementary groups for the plan's summary.
func groupsText(groups []int) string {
	var s []string
	for _, g := range groups {
		s = append(s, fmt.Sprint(g))
	}
	return strings.Join(s, ",")
}

// CheckDevices opens each PHC device of s.Refclocks for reading, as chronyd will, once this
// process is chronyd's user (after Become), and closes it. What permission bits cannot show
// is said here rather than by chronyd's bare "Could not open PHC": a device cgroup that does
// not allow the device (Kubernetes mounts a hostPath device without allowing it), or a node
// whose driver is not loaded.
func CheckDevices(s *config.Settings) error {
	for _, r := range s.Refclocks {
		if r.Driver != "PHC" {
			continue
		}
		// O_NONBLOCK: a FIFO swapped in after InspectDevices must not block the start.
		f, err := os.OpenFile(r.Param, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			fi, serr := f.Stat()
			f.Close()
			if serr == nil && fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
				return fmt.Errorf("%w: REFCLOCK device %s is not a character device", ErrDevice, r.Param)
			}
			continue
		}
		switch {
		case errors.Is(err, syscall.EPERM):
			return fmt.Errorf("%w: REFCLOCK device %s: %w: the container's device cgroup does not allow it: pass it as a device (docker run --device %s), "+
				"in Kubernetes through a device plugin or CDI rather than a hostPath volume (README: Cloud nodes)", ErrDevice, r.Param, err, r.Param)
		case errors.Is(err, syscall.EACCES):
			return fmt.Errorf("%w: REFCLOCK device %s: %w: chronyd's user may not read it (README: Cloud nodes)", ErrDevice, r.Param, err)
		case errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.ENODEV):
			return fmt.Errorf("%w: REFCLOCK device %s: %w: no driver answers for this device number on this host (is the PTP module loaded, ena, hv_utils or ptp_kvm?)", ErrDevice, r.Param, err)
		default:
			return fmt.Errorf("%w: REFCLOCK device %s: %w", ErrDevice, r.Param, err)
		}
	}
	return nil
}
