package config

import (
	"net/netip"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/chris-short/chrony/pkg/chronysyntax"
)

// ClockControl says whether chronyd may discipline the system clock.
type ClockControl string

// The values CLOCK_CONTROL accepts.
const (
	// ClockAuto disciplines the clock when CAP_SYS_TIME can be had, else serves with -x.
	ClockAuto ClockControl = "auto"
	// ClockOn refuses to start without CAP_SYS_TIME.
	ClockOn ClockControl = "on"
	// ClockOff always runs chronyd with -x and never gives it CAP_SYS_TIME.
	ClockOff ClockControl = "off"
)

// IPFamily is which IP versions chronyd uses (IP_FAMILY).
type IPFamily string

// The values IP_FAMILY accepts.
const (
	// FamilyAuto is dual unless the host has no usable IPv6 (Settings.NoIPv6), then 4.
	FamilyAuto IPFamily = "auto"
	// Family4 is chronyd -4: IPv4 only.
	Family4 IPFamily = "4"
	// Family6 is chronyd -6: IPv6 only.
	Family6 IPFamily = "6"
	// FamilyDual is both, chronyd's own default.
	FamilyDual IPFamily = "dual"
)

// Settings is everything the entrypoint needs, from the environment, after validation.
// Fields may be added; existing names are a contract shared by the packages that consume them.
type Settings struct {
	// Sources: NTP_SERVERS (after TIME_SOURCE's) and NTP_POOLS, each a host and its options in
	// chrony's syntax (package chronysyntax). Empty only when a mounted chrony.conf is used.
	Servers []chronysyntax.Source
	Pools   []chronysyntax.Source

	EnableNTS   bool // ENABLE_NTS: nts on every source
	NoClientLog bool // NOCLIENTLOG

	// Allow lists the ALLOW entries (addresses or CIDRs). AllowAll is ALLOW=all (the default);
	// both empty/false is ALLOW=none: client only, no NTP server port.
	Allow    []string
	AllowAll bool

	// LocalStratum is the stratum served when no source is reachable; 0 means off.
	LocalStratum int

	ClockControl ClockControl
	NTPPort      int // NTP_PORT, 1..65535

	LogLevel  zapcore.Level // LOG_LEVEL: debug, info, warn or error
	LogFormat string        // LOG_FORMAT: json or console

	// Paths, so the same binary runs outside a container and in tests.
	Chronyd       string // CHRONYD
	ChronyConf    string // CHRONY_CONF: a mounted file here is used as is
	ChronyConfDir string // CHRONY_CONF_DIR: drop-in *.conf files
	// StateDir and RunDir are STATE_DIR (drift file, NTS keys) and RUN_DIR (rendered config,
	// chronyd's socket dir, client sockets); the files in them are package rundir's Layout.
	StateDir string
	RunDir   string

	// ChronyUser is the user chronyd runs as (CHRONY_USER, default "chrony"), looked up by name.
	ChronyUser string

	// HTTPAddr serves /healthz, /readyz and /metrics; empty when HTTP_ADDR=off.
	HTTPAddr string

	// MetricsGoProcess adds the go_* and process_* series to /metrics (METRICS_GO_PROCESS).
	MetricsGoProcess bool

	// Readiness thresholds (READY_MAX_DISTANCE, READY_ALLOW_LOCAL).
	ReadyMaxDistance time.Duration
	ReadyAllowLocal  bool

	// NTS server (NTS_SERVER_CERT, NTS_SERVER_KEY): both set or both empty.
	NTSServerCert string
	NTSServerKey  string
	// NTSPort is the NTS-KE server's TCP port (NTS_PORT, default 4460; 1024..65535, so that
	// chronyd needs no CAP_NET_BIND_SERVICE for it).
	NTSPort int
	// NTS certificate renewal (NTS_WATCH_INTERVAL, zero: never) and keys shared across
	// replicas (NTS_KEYS_FROM); see nts.go. Left out of JSON when unset.
	NTSWatchInterval time.Duration `json:",omitempty"`
	NTSKeysFrom      string        `json:",omitempty"`

	// IPFamily is IP_FAMILY; see ChronydFamilyArgs.
	IPFamily IPFamily
	// NoIPv6 is a fact of the host, not of the environment: the caller sets it when IPv6 is
	// disabled or absent (Load leaves it false), so that IP_FAMILY=auto gives chronyd -4.
	NoIPv6 bool `json:",omitempty"`

	// Directives are NTP_DIRECTIVES' extra chrony.conf lines, each validated against an
	// allow-list and written in chrony's syntax ("ratelimit interval 3 burst 8").
	Directives []string `json:",omitempty"`

	// RefclockMode is REFCLOCK's mode. Refclocks are the refclock lines: REFCLOCK's own when
	// explicit; with auto the caller fills them from what it finds (package refclock), like
	// NoIPv6 a fact of the host.
	RefclockMode RefclockMode
	Refclocks    []Refclock `json:",omitempty"`
	// TimeSource is TIME_SOURCE: its servers are already in Servers.
	TimeSource TimeSource `json:",omitempty"`
	// AllowLeapSmearMix is ALLOW_LEAP_SMEAR_MIX (see SmearConflict).
	AllowLeapSmearMix bool `json:",omitempty"`
	// PTPSysfsDir and PTPDevDir are where REFCLOCK=auto looks (PTP_SYSFS_DIR, PTP_DEV_DIR).
	PTPSysfsDir string
	PTPDevDir   string

	// Notices are what Load decided for the user without an error (an empty variable treated
	// as unset), for the caller to log once.
	Notices []string `json:",omitempty"`

	// RenderVars names every variable that shapes a rendered chrony.conf and was set. A mounted
	// CHRONY_CONF together with any of them is an error (see MountedConflict).
	RenderVars []string
}

// ServesNTP says whether chronyd serves NTP to clients: ALLOW is not none.
func (s *Settings) ServesNTP() bool { return s.AllowAll || len(s.Allow) > 0 }

// ServesNTS says whether chronyd runs an NTS-KE server: NTS_SERVER_CERT and NTS_SERVER_KEY.
func (s *Settings) ServesNTS() bool { return s.NTSServerCert != "" && s.NTSServerKey != "" }

// ChronydFamilyArgs is the flag chronyd needs for IPFamily: -4, -6, or none for both.
func (s *Settings) ChronydFamilyArgs() []string {
	switch {
	case s.IPFamily == Family4, (s.IPFamily == FamilyAuto || s.IPFamily == "") && s.NoIPv6:
		return []string{"-4"}
	case s.IPFamily == Family6:
		return []string{"-6"}
	}
	return nil
}

// OffFamilySources are the sources given as IP literals of the family ChronydFamilyArgs
// excludes: chronyd -4 or -6 drops them without a word. Load rejects them when IP_FAMILY says
// so; with IP_FAMILY=auto on a host without IPv6 the caller can only warn.
func (s *Settings) OffFamilySources() []string {
	var want4, want6 bool
	switch args := s.ChronydFamilyArgs(); {
	case len(args) == 0:
		return nil
	case args[0] == "-4":
		want4 = true
	default:
		want6 = true
	}
	var off []string
	for _, src := range append(append([]chronysyntax.Source(nil), s.Servers...), s.Pools...) {
		a, err := netip.ParseAddr(src.Host)
		if err != nil {
			continue
		}
		if is4 := a.Unmap().Is4(); (want4 && !is4) || (want6 && is4) {
			off = append(off, src.Host)
		}
	}
	return off
}
