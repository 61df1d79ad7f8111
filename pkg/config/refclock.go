package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/chris-short/chrony/pkg/chronysyntax"
)

// RefclockMode is how REFCLOCK chooses the reference clocks.
type RefclockMode string

// The modes REFCLOCK has.
const (
	// RefclockAuto looks for a cloud's PTP hardware clock under PTP_SYSFS_DIR at start-up
	// (package refclock) and uses it when its device is in the container.
	RefclockAuto RefclockMode = "auto"
	// RefclockNone writes no refclock line.
	RefclockNone RefclockMode = "none"
	// RefclockExplicit is one clock the user named (Settings.Refclocks[0]).
	RefclockExplicit RefclockMode = "explicit"
)

// Leap says how a time source handles a leap second, as its operator documents it.
type Leap int

// The kinds of leap-second handling the smear check tells apart.
const (
	// LeapUnknown: not documented either way (most servers); not part of the check.
	LeapUnknown Leap = iota
	// LeapSmeared: the source spreads a leap second over hours (Google's and AWS's NTP).
	LeapSmeared
	// LeapUTC: the source follows UTC and steps with the leap second (AWS's PHC, the pool).
	LeapUTC
)

// Refclock is one chrony refclock line: driver, its parameter (a device, socket path or SHM
// segment) and validated options in chrony's syntax ("poll 0", "prefer").
type Refclock struct {
	Driver  string // PHC, SOCK or SHM
	Param   string
	Options []string
	// Leap is what the clock's operator documents (set by package refclock for a detected
	// cloud clock); an explicit clock is LeapUnknown.
	Leap Leap `json:",omitempty"`
	// What names the clock for messages ("AWS ENA PTP hardware clock (ptp0)").
	What string `json:",omitempty"`
}

// Line is the refclock directive.
func (r Refclock) Line() string {
	return strings.Join(append([]string{"refclock", r.Driver, r.Param}, r.Options...), " ")
}

// parseRefclock reads REFCLOCK: auto, none, or `[PHC|SOCK|SHM] PARAM [OPTION ...]`, where a
// bare absolute path is a PHC device. The refclock line's grammar is package chronysyntax's;
// the modes, the bare path and the advice are REFCLOCK's.
func parseRefclock(v string) (RefclockMode, *Refclock, error) {
	switch strings.ToLower(v) {
	case "auto":
		return RefclockAuto, nil, nil
	case "none", "off":
		return RefclockNone, nil, nil
	}
	words := strings.Fields(v)
	r := &Refclock{Driver: "PHC"}
	switch d := strings.ToUpper(words[0]); d {
	case "PHC", "SOCK", "SHM":
		r.Driver = d
		words = words[1:]
		if len(words) == 0 {
			return "", nil, fmt.Errorf("%s needs its parameter (a device path for PHC, a socket path for SOCK, a segment number for SHM)", d)
		}
	}
	if !strings.HasPrefix(words[0], "/") && strings.Trim(strings.ToUpper(words[0]), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		return "", nil, fmt.Errorf("driver %q is not offered: PHC, SOCK or SHM (or a PHC device path); put other refclocks in a *.conf file in CHRONY_CONF_DIR", words[0])
	}
	r.Param = words[0]
	if r.Driver != "SHM" && !filepath.IsAbs(r.Param) {
		return "", nil, fmt.Errorf("%s %q: must be an absolute path (such as /dev/ptp0), or auto or none", r.Driver, r.Param)
	}
	opts, err := chronysyntax.ParseRefclock(r.Driver, r.Param, words[1:])
	if err != nil {
		return "", nil, err
	}
	r.Options = opts
	return RefclockExplicit, r, nil
}

// TimeSource is a cloud's own time service (TIME_SOURCE).
type TimeSource string

// The providers TIME_SOURCE knows.
const (
	TimeSourceNone  TimeSource = ""
	TimeSourceAWS   TimeSource = "aws"
	TimeSourceAzure TimeSource = "azure"
	TimeSourceGCP   TimeSource = "gcp"
)

// providerServers are the servers each provider documents for its instances. Azure documents
// no NTP endpoint for VMs: its time is the host's, through the /dev/ptp_hyperv PHC.
var providerServers = map[TimeSource][]chronysyntax.Source{
	// AWS EC2 user guide, "Connect to the IPv4 endpoint of the Amazon Time Sync Service".
	TimeSourceAWS: {{Host: "169.254.169.123", Options: []string{"prefer", "iburst", "minpoll 4", "maxpoll 4"}}},
	// Compute Engine, "Configure NTP on a VM": the metadata server only.
	TimeSourceGCP: {{Host: "metadata.google.internal", Options: []string{"iburst"}}},
}

// smeared are the NTP services whose operators document leap smearing: Google's (public and
// the metadata server) and Amazon's (the link-local endpoint and time.aws.com).
var smeared = map[string]string{
	"time.google.com": "Google", "time1.google.com": "Google", "time2.google.com": "Google",
	"time3.google.com": "Google", "time4.google.com": "Google",
	"metadata.google.internal": "Google", "169.254.169.254": "Google (metadata server)",
	"169.254.169.123": "AWS", "fd00:ec2::123": "AWS", "time.aws.com": "AWS",
}

// LeapOf classifies an NTP source host: smeared by its operator's documentation; UTC for the
// NTP Pool (pool.ntp.org and its zones) and NIST, whose servers apply the leap second; else
// unknown.
func LeapOf(host string) Leap {
	k := hostKey(host)
	if _, ok := smeared[k]; ok {
		return LeapSmeared
	}
	if k == "pool.ntp.org" || strings.HasSuffix(k, ".pool.ntp.org") || k == "time.nist.gov" || strings.HasSuffix(k, ".nist.gov") {
		return LeapUTC
	}
	return LeapUnknown
}

// SmearConflict refuses a mix of sources that handle a leap second differently: a smeared
// and an unsmeared source disagree by up to half a second around a leap second, and chronyd
// would hop between them or average them. With TIME_SOURCE=gcp every other source counts as
// such a mix, as Google advises. nil when AllowLeapSmearMix is set.
func (s *Settings) SmearConflict() error {
	if s.AllowLeapSmearMix {
		return nil
	}
	var smear, utc []string
	for _, src := range append(append([]chronysyntax.Source(nil), s.Servers...), s.Pools...) {
		switch LeapOf(src.Host) {
		case LeapSmeared:
			smear = append(smear, src.Host)
		case LeapUTC:
			utc = append(utc, src.Host)
		default:
			if s.TimeSource == TimeSourceGCP {
				utc = append(utc, src.Host+" (not Google's, so not smeared as Google does)")
			}
		}
	}
	for _, r := range s.Refclocks {
		name := r.What
		if name == "" {
			name = r.Driver + " " + r.Param
		}
		switch r.Leap {
		case LeapSmeared:
			smear = append(smear, name)
		case LeapUTC:
			utc = append(utc, name)
		}
	}
	if len(smear) == 0 || len(utc) == 0 {
		return nil
	}
	fix := "use sources of one kind only"
	switch s.TimeSource {
	case TimeSourceGCP:
		fix = "on Google Cloud use only the metadata server (TIME_SOURCE=gcp with NTP_SERVERS and NTP_POOLS unset)"
	case TimeSourceAWS:
		fix = "on AWS use either the Time Sync endpoint (TIME_SOURCE=aws, smeared) or the PTP hardware clock with unsmeared servers (unset TIME_SOURCE), not both"
	}
	return fmt.Errorf("leap-second smearing mixed: sources that smear a leap second over hours (%s) with sources that do not (%s): around a leap second they disagree by up to 0.5 s "+
		"and chronyd would serve wrong time while it switches or averages between them; %s, or set ALLOW_LEAP_SMEAR_MIX=true if you accept that",
		andList(smear), andList(utc), fix)
}

// timeSource reads TIME_SOURCE.
func (l *loader) timeSource() TimeSource {
	v, set, ok := l.get("TIME_SOURCE")
	if !set || !ok {
		return TimeSourceNone
	}
	switch ts := TimeSource(strings.ToLower(v)); ts {
	case TimeSourceAWS, TimeSourceAzure, TimeSourceGCP:
		return ts
	}
	l.fail("TIME_SOURCE", v, errors.New("want aws, azure or gcp (or leave it unset)"))
	return TimeSourceNone
}

// refclock reads REFCLOCK, ALLOW_LEAP_SMEAR_MIX and the detection paths, then refuses a mix
// of smeared and unsmeared sources among those known now (a clock REFCLOCK=auto finds is
// checked again at start-up).
func (l *loader) refclock(s *Settings) {
	s.RefclockMode = RefclockAuto
	if v, _, ok := l.get("REFCLOCK"); ok {
		mode, r, err := parseRefclock(v)
		if err != nil {
			l.fail("REFCLOCK", v, err)
		} else {
			s.RefclockMode = mode
			if r != nil {
				s.Refclocks = []Refclock{*r}
			}
		}
	}
	s.AllowLeapSmearMix = l.boolean("ALLOW_LEAP_SMEAR_MIX")
	s.PTPSysfsDir = l.path("PTP_SYSFS_DIR")
	s.PTPDevDir = l.path("PTP_DEV_DIR")
}
