package rundir

import (
	"fmt"
	"path/filepath"
)

// MaxSocketPath is the longest Unix socket path the kernel accepts (sun_path without its NUL).
const MaxSocketPath = 107

// Layout is the file layout of one container, from RUN_DIR and STATE_DIR.
//
// chronyd refuses a socket directory that its own user and group do not own, or that grants
// "other" any permission, and a tmpfs or emptyDir mounted on RUN_DIR is root-owned: so chronyd
// gets a private subdirectory (ChronydDir) that the entrypoint creates with the right owner,
// and clients bind their sockets elsewhere in RUN_DIR (ClientDir).
type Layout struct {
	Run   string // RUN_DIR
	State string // STATE_DIR
}

// New is the layout under runDir (RUN_DIR) and stateDir (STATE_DIR).
func New(runDir, stateDir string) Layout { return Layout{Run: runDir, State: stateDir} }

// RenderedConf is where the effective chrony.conf is written before chronyd starts.
func (l Layout) RenderedConf() string { return filepath.Join(l.Run, "chrony.conf") }

// ChronydDir is chronyd's private directory: owner the chrony user, mode 0750. It is also
// chronyd's dumpdir when it is restarted for a renewed NTS certificate.
func (l Layout) ChronydDir() string { return filepath.Join(l.Run, "chronyd") }

// Socket is chronyd's Unix command socket.
func (l Layout) Socket() string { return filepath.Join(l.ChronydDir(), "chronyd.sock") }

// PIDFile is chronyd's pidfile; a stale one is removed before each start.
func (l Layout) PIDFile() string { return filepath.Join(l.ChronydDir(), "chronyd.pid") }

// ServingFile is where a start writes what chronyd must serve (health.Serving), for the probes.
func (l Layout) ServingFile() string { return filepath.Join(l.ChronydDir(), "serving.json") }

// ChronycLink is where chronyc looks for chronyd's socket when given no -h: Alpine's and
// Debian's chrony are built with /run/chrony as their run directory. With RUN_DIR at its
// default, it is RUN_DIR/chronyd.sock, a symlink to Socket.
func (l Layout) ChronycLink() string { return filepath.Join(l.Run, "chronyd.sock") }

// ChronycLinkTarget is ChronycLink's target, relative to RUN_DIR so that it also resolves
// from outside the container (/proc/PID/root/...).
func (l Layout) ChronycLinkTarget() string {
	return filepath.Join(filepath.Base(l.ChronydDir()), filepath.Base(l.Socket()))
}

// ClientDir is where clients of the command socket (probes, metrics, watchers) bind theirs.
func (l Layout) ClientDir() string { return l.Run }

// DriftFile is chronyd's drift file.
func (l Layout) DriftFile() string { return filepath.Join(l.State, "drift") }

// NTSDumpDir is chronyd's ntsdumpdir: its NTS server keys and client cookies.
func (l Layout) NTSDumpDir() string { return l.State }

// CheckSocket fails when RUN_DIR is so long that chronyd's socket path would not fit in a
// Unix socket address.
func (l Layout) CheckSocket() error {
	if p := l.Socket(); len(p) > MaxSocketPath {
		return fmt.Errorf("too long: chronyd's socket %s would be %d bytes, the limit is %d", p, len(p), MaxSocketPath)
	}
	return nil
}
