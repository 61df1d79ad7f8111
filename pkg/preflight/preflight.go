package preflight

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/chris-short/chrony/internal/procstatus"
	"github.com/chris-short/chrony/pkg/config"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Caps is a set of capabilities as a bit mask (bit n is capability n), small enough to compare
// and to build in tests.
type Caps uint64

// CapsOf makes a Caps from capability values.
func CapsOf(vals ...cap.Value) Caps {
	var c Caps
	for _, v := range vals {
		c |= 1 << uint(v)
	}
	return c
}

// Has says whether v is in c.
func (c Caps) Has(v cap.Value) bool { return c&(1<<uint(v)) != 0 }

// Values lists c in ascending order.
func (c Caps) Values() []cap.Value {
	var vs []cap.Value
	for v := range cap.Value(64) {
		if c.Has(v) {
			vs = append(vs, v)
		}
	}
	return vs
}

// String names c like "cap_net_bind_service,cap_sys_time", or "none".
func (c Caps) String() string {
	vs := c.Values()
	if len(vs) == 0 {
		return "none"
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.String()
	}
	return strings.Join(names, ",")
}

// Facts are what the container gave this process.
type Facts struct {
	UID, GID int // effective ids

	Effective, Permitted, Inheritable, Ambient, Bounding Caps

	// User is CHRONY_USER; UserUID and UserGID its ids (UserGID the primary group chronyd
	// checks its socket directory against). UserErr says why the lookup failed.
	User             string
	UserUID, UserGID int
	UserErr          error

	// UnprivilegedPortStart is net.ipv4.ip_unprivileged_port_start in this network namespace,
	// or -1 when it cannot be read (then ports below 1024 are assumed privileged).
	UnprivilegedPortStart int
	// NoNewPrivs is the no_new_privs flag (NoNewPrivs in /proc/self/status): set by Docker's
	// --security-opt no-new-privileges and Kubernetes' allowPrivilegeEscalation: false, it
	// makes the kernel ignore the entrypoint's file capabilities.
	NoNewPrivs bool
	// Groups are this process's supplementary groups (docker run --group-add).
	Groups []int
	// Devices are the refclock devices chronyd will open (InspectDevices; the caller sets
	// them once REFCLOCK is resolved).
	Devices []Device
}

const portStartFile = "/proc/sys/net/ipv4/ip_unprivileged_port_start"

// Inspect reads Facts from this process and looks chronyUser up by name (os/user reads
// /etc/passwd in a static binary).
func Inspect(chronyUser string) (Facts, error) {
	f := Facts{UID: os.Geteuid(), GID: os.Getegid(), User: chronyUser, UnprivilegedPortStart: -1}
	set, err := cap.GetPID(0)
	if err != nil {
		return f, fmt.Errorf("read process capabilities: %w", err)
	}
	for v := range cap.MaxBits() {
		for flag, dst := range map[cap.Flag]*Caps{cap.Effective: &f.Effective, cap.Permitted: &f.Permitted, cap.Inheritable: &f.Inheritable} {
			if on, err := set.GetFlag(flag, v); err == nil && on {
				*dst |= CapsOf(v)
			}
		}
		if on, err := cap.GetBound(v); err == nil && on {
			f.Bounding |= CapsOf(v)
		}
		if on, err := cap.GetAmbient(v); err == nil && on {
			f.Ambient |= CapsOf(v)
		}
	}
	if u, err := user.Lookup(chronyUser); err != nil {
		f.UserErr = err
	} else {
		f.UserUID, _ = strconv.Atoi(u.Uid)
		f.UserGID, _ = strconv.Atoi(u.Gid)
	}
	f.Groups, _ = os.Getgroups()
	if st, err := procstatus.Read(0); err == nil {
		f.NoNewPrivs = st.First("NoNewPrivs") == "1"
	}
	if b, err := os.ReadFile(portStartFile); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			f.UnprivilegedPortStart = n
		}
	}
	return f, nil
}

// Plan is how chronyd will run.
type Plan struct {
	// ClockControl: chronyd disciplines the clock (else it gets -x). ClockReason says why.
	ClockControl bool
	ClockReason  string
	// ClockCode is ClockReason as one word of a fixed set (ClockCode* constants), for a
	// metric's label.
	ClockCode string
	// Keep is what chronyd gets as ambient capabilities, and all the entrypoint keeps until
	// chronyd runs.
	Keep Caps
	// Bounding is chronyd's capability bounding set: Keep when the entrypoint may narrow it
	// (CAP_SETPCAP), else what the runtime gave. Either way chronyd starts with no_new_privs,
	// so nothing in the bounding set beyond Keep can be gained by any later exec.
	Bounding Caps
	// DropFromRoot: the entrypoint started as root and must become the chrony user first.
	DropFromRoot bool
	// User, UID and GID are chronyd's user (the -u argument) and the ids the entrypoint
	// becomes.
	User     string
	UID, GID int
	// BindReason says why chronyd holds CAP_NET_BIND_SERVICE or needs none (set by Serve).
	BindReason string
	// Groups are chronyd's supplementary groups in a root start: only the group of a
	// refclock device that needs it. DeviceReason says how chronyd opens each device.
	Groups       []int    `json:",omitempty"`
	DeviceReason []string `json:",omitempty"`
	// RefclockUnusable says why chronyd could not open the clock REFCLOCK=auto found: the
	// caller then renders no refclock and warns (an explicit REFCLOCK fails Decide instead).
	RefclockUnusable error `json:"-"`
	// Warn marks a plan the operator probably did not want (CLOCK_CONTROL=auto without the
	// capability): log Summary at warn level.
	Warn bool
	// Summary is the decision in one short line; the reasons are in the fields above.
	Summary string
}

// ClockCode values: why chronyd does or does not discipline the clock.
const (
	ClockCodeOff            = "clock_control_off"    // CLOCK_CONTROL=off
	ClockCodeOn             = "clock_control_on"     // CLOCK_CONTROL=on, CAP_SYS_TIME permitted
	ClockCodeAutoPermitted  = "auto_cap_permitted"   // CLOCK_CONTROL=auto, CAP_SYS_TIME permitted
	ClockCodeAutoDropped    = "auto_cap_dropped"     // CLOCK_CONTROL=auto, the runtime dropped CAP_SYS_TIME for a non-root user
	ClockCodeAutoNotGranted = "auto_cap_not_granted" // CLOCK_CONTROL=auto, CAP_SYS_TIME not given
)

// The kinds of problem Decide and Serve report, first in their messages.
var (
	errNoSysTime      = errors.New("CAP_SYS_TIME is not available")
	errRuntimeDropped = errors.New("CAP_SYS_TIME was dropped by the container runtime")
	errCannotDrop     = errors.New("cannot drop root privileges")
	errUser           = errors.New("chrony user unusable")
	errBindPort       = errors.New("cannot bind a port chronyd must serve")
)

// Decide turns facts and settings into a Plan (user, clock control), or an error that says
// exactly what to change. The ports are decided by Serve, once the effective configuration
// is known.
func Decide(f Facts, s *config.Settings) (Plan, error) {
	p := Plan{User: f.User, UID: f.UserUID, GID: f.UserGID, DropFromRoot: f.UID == 0}
	if f.UserErr != nil {
		return p, fmt.Errorf("%w: look up CHRONY_USER=%q: %w", errUser, f.User, f.UserErr)
	}
	if f.UserUID == 0 {
		return p, fmt.Errorf("%w: CHRONY_USER=%q is uid 0; chronyd must not run as root: name an unprivileged user", errUser, f.User)
	}
	root := f.UID == 0
	switch {
	case root && (!f.Permitted.Has(cap.SETUID) || !f.Permitted.Has(cap.SETGID)):
		return p, fmt.Errorf("%w: running as root without CAP_SETUID and CAP_SETGID (permitted: %s), so the entrypoint cannot become %s (uid %d): "+
			"grant them (docker run --cap-add SETUID --cap-add SETGID; Kubernetes securityContext.capabilities.add: [\"SETUID\", \"SETGID\"]) "+
			"or run as that user (docker run --user %d:%d; Kubernetes runAsUser: %d, runAsGroup: %d)",
			errCannotDrop, f.Permitted, f.User, f.UserUID, f.UserUID, f.UserGID, f.UserUID, f.UserGID)
	case !root && f.UID != f.UserUID:
		return p, fmt.Errorf("%w: running as uid %d but CHRONY_USER=%q is uid %d: run as that user (--user %d:%d), or as root with SETUID and SETGID, or set CHRONY_USER to the user you run as",
			errUser, f.UID, f.User, f.UserUID, f.UserUID, f.UserGID)
	}
	have := f.Permitted.Has(cap.SYS_TIME)
	dropped := !have && !root && f.Bounding.Has(cap.SYS_TIME)
	const grant = "grant it: docker run --cap-add SYS_TIME; Kubernetes securityContext.capabilities.add: [\"SYS_TIME\"] (a privileged Pod Security level); " +
		"it lets the container set the host's clock"
	asRoot := fmt.Sprintf("run as root with SETUID and SETGID (docker run --user 0 --cap-drop ALL --cap-add SYS_TIME --cap-add SETUID --cap-add SETGID; the entrypoint drops to %s itself)", f.User)
	droppedFix := fmt.Sprintf("CAP_SYS_TIME is in the bounding set but not permitted to uid %d: the runtime dropped it for a non-root user (Docker and Kubernetes do); "+
		"either %s or use a runtime that keeps it for non-root users (Podman --cap-add SYS_TIME, or a +p file capability on the entrypoint where the runtime keeps the permitted set)", f.UID, asRoot)
	if f.NoNewPrivs {
		// The image's entrypoint carries cap_sys_time+p; the kernel ignores file capabilities
		// under no_new_privs, which is the real cause whatever the runtime.
		droppedFix = fmt.Sprintf("CAP_SYS_TIME is in the bounding set but not permitted to uid %d because no-new-privileges is set (NoNewPrivs: 1 in /proc/self/status): "+
			"the kernel then ignores the entrypoint's file capability; either drop it (remove docker run --security-opt no-new-privileges; Kubernetes allowPrivilegeEscalation: true) "+
			"or %s", f.UID, asRoot)
	}
	switch s.ClockControl {
	case config.ClockOff:
		p.ClockReason, p.ClockCode = "CLOCK_CONTROL=off", ClockCodeOff
	case config.ClockOn:
		if dropped {
			return p, fmt.Errorf("%w: CLOCK_CONTROL=on: %s", errRuntimeDropped, droppedFix)
		}
		if !have {
			return p, fmt.Errorf("%w: CLOCK_CONTROL=on but the container was not given CAP_SYS_TIME: %s; or set CLOCK_CONTROL=auto to serve time without disciplining the clock", errNoSysTime, grant)
		}
		p.ClockControl, p.ClockReason, p.ClockCode = true, "CLOCK_CONTROL=on and CAP_SYS_TIME is permitted", ClockCodeOn
	default: // auto
		switch {
		case have:
			p.ClockControl, p.ClockReason, p.ClockCode = true, "CLOCK_CONTROL=auto and CAP_SYS_TIME is permitted", ClockCodeAutoPermitted
		case dropped:
			p.Warn, p.ClockReason, p.ClockCode = true, "CLOCK_CONTROL=auto and "+droppedFix, ClockCodeAutoDropped
		default:
			p.Warn, p.ClockReason, p.ClockCode = true, "CLOCK_CONTROL=auto and the container was not given CAP_SYS_TIME; to discipline the clock, "+grant, ClockCodeAutoNotGranted
		}
	}
	if p.ClockControl {
		p.Keep |= CapsOf(cap.SYS_TIME)
	}
	groups, reasons, err := deviceAccess(f, root)
	switch {
	case err != nil && s.RefclockMode == config.RefclockAuto:
		// A clock REFCLOCK=auto found is used when it works: the caller serves from the
		// NTP sources and warns.
		p.RefclockUnusable = err
	case err != nil:
		return p, err
	default:
		p.Groups, p.DeviceReason = groups, reasons
	}
	p.finish(f)
	return p, nil
}

// Port is a port chronyd will serve, as its effective configuration says.
type Port struct {
	Number int    // 0: not served
	Name   string // "NTP port", "NTS-KE port"
	From   string // what sets it, for errors: "NTP_PORT=123", "CHRONY_CONF=/etc/chrony.conf"
}

// Serve completes p for the ports chronyd will serve: one below ip_unprivileged_port_start
// needs CAP_NET_BIND_SERVICE, kept only then.
func (p Plan) Serve(f Facts, ports ...Port) (Plan, error) {
	var reasons []string
	for _, port := range ports {
		switch n := port.Number; {
		case n == 0:
			continue
		case n >= 1024:
			reasons = append(reasons, fmt.Sprintf("%s %d needs no CAP_NET_BIND_SERVICE", port.Name, n))
		case f.UnprivilegedPortStart >= 0 && n >= f.UnprivilegedPortStart:
			reasons = append(reasons, fmt.Sprintf("%s %d needs no CAP_NET_BIND_SERVICE: ip_unprivileged_port_start=%d", port.Name, n, f.UnprivilegedPortStart))
		case f.Permitted.Has(cap.NET_BIND_SERVICE):
			p.Keep |= CapsOf(cap.NET_BIND_SERVICE)
			reasons = append(reasons, fmt.Sprintf("%s %d is below ip_unprivileged_port_start=%d", port.Name, n, f.UnprivilegedPortStart))
		default:
			return p, fmt.Errorf("%w: %s: %s %d is below ip_unprivileged_port_start=%d and CAP_NET_BIND_SERVICE is not permitted: "+
				"grant it (docker run --cap-add NET_BIND_SERVICE; Kubernetes capabilities.add: [\"NET_BIND_SERVICE\"]), "+
				"or set the sysctl net.ipv4.ip_unprivileged_port_start=0 (Docker sets it in a container's own network), or serve on a port of 1024 or more",
				errBindPort, port.From, port.Name, n, f.UnprivilegedPortStart)
		}
	}
	p.BindReason = "serves no port"
	if len(reasons) > 0 {
		p.BindReason = strings.Join(reasons, "; ")
	}
	p.finish(f)
	return p, nil
}

// finish sets the fields that follow from Keep: the bounding set and the summary.
func (p *Plan) finish(f Facts) {
	p.Bounding = p.Keep
	if !f.Permitted.Has(cap.SETPCAP) {
		p.Bounding = f.Bounding
	}
	clock := "off (-x)"
	if p.Warn {
		clock = "off (-x) as CAP_SYS_TIME is not permitted (clock_reason says how to grant it)"
	}
	if p.ClockControl {
		clock = "on"
	}
	p.Summary = fmt.Sprintf("clock control %s; chronyd runs as %s (%d:%d) with capabilities %s", clock, p.User, p.UID, p.GID, p.Keep)
	if len(p.Groups) > 0 {
		p.Summary += " and supplementary groups " + groupsText(p.Groups) + " (refclock devices)"
	}
}
