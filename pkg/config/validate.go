package config

import (
	"errors"
	"fmt"
)

// A rule is a check across variables, run once every variable is parsed. It reports on the
// variable the user should change, and stays quiet when a variable it reads already has an
// error (so one mistake is not reported twice).
type rule func(l *loader, s *Settings)

// rules are the cross-variable checks, in the order their errors are reported.
var rules = []rule{
	sysclkAgreesWithClockControl,
	ntpPortNeedsClients,
	ntsPairComplete,
	ntsNeedsClients,
	ntsPortNeedsServer,
	ntsFleetNeedsServer,
	(*loader).checkFamily,
	azureNeedsRefclock,
	noSmearMix,
}

// validate applies rules to the parsed settings.
func (l *loader) validate(s *Settings) {
	for _, r := range rules {
		r(l, s)
	}
}

// ntsAsked says whether NTS_SERVER_CERT and NTS_SERVER_KEY are both set (valid or not).
func (l *loader) ntsAsked() bool {
	_, certSet := l.env.lookup("NTS_SERVER_CERT")
	_, keySet := l.env.lookup("NTS_SERVER_KEY")
	return certSet && keySet
}

// setValid is name's value when it is set and parsed without error.
func (l *loader) setValid(name string) (string, bool) {
	v, set := l.env.lookup(name)
	return v, set && l.valid(name)
}

// sysclkAgreesWithClockControl: ENABLE_SYSCLK is CLOCK_CONTROL under another name; both set
// must agree.
func sysclkAgreesWithClockControl(l *loader, s *Settings) {
	clockV, clockOK := l.setValid("CLOCK_CONTROL")
	if v, ok := l.setValid("ENABLE_SYSCLK"); ok && clockOK && l.sysclk != s.ClockControl {
		l.fail("ENABLE_SYSCLK", v, fmt.Errorf("means CLOCK_CONTROL=%s, but CLOCK_CONTROL=%s is set too: unset ENABLE_SYSCLK", l.sysclk, clockV))
	}
}

// ntpPortNeedsClients: a client-only chronyd opens no NTP port.
func ntpPortNeedsClients(l *loader, s *Settings) {
	if v, ok := l.setValid("NTP_PORT"); ok && !s.ServesNTP() && l.valid("ALLOW") {
		l.fail("NTP_PORT", v, errors.New("has no effect with ALLOW=none (client only, no NTP port): unset one of them"))
	}
}

// ntsPairComplete: an NTS server needs its certificate and its key.
func ntsPairComplete(l *loader, _ *Settings) {
	_, certSet := l.env.lookup("NTS_SERVER_CERT")
	_, keySet := l.env.lookup("NTS_SERVER_KEY")
	if certSet != keySet {
		name, other := "NTS_SERVER_CERT", "NTS_SERVER_KEY"
		if keySet {
			name, other = other, name
		}
		v, _ := l.env.lookup(name)
		l.fail(name, v, fmt.Errorf("set without %s: serving NTS needs both, or unset it", other))
	}
}

// ntsNeedsClients: an NTS server that allows no client serves nobody.
func ntsNeedsClients(l *loader, s *Settings) {
	if l.ntsAsked() && !s.ServesNTP() && l.valid("ALLOW") {
		v, _ := l.env.lookup("NTS_SERVER_CERT")
		l.fail("NTS_SERVER_CERT", v, errors.New("serving NTS needs clients: ALLOW=none allows none"))
	}
}

// ntsPortNeedsServer: NTS_PORT is the NTS server's.
func ntsPortNeedsServer(l *loader, _ *Settings) {
	if v, ok := l.setValid("NTS_PORT"); ok && !l.ntsAsked() {
		l.fail("NTS_PORT", v, errors.New("has no effect without NTS_SERVER_CERT and NTS_SERVER_KEY: set them to serve NTS, or unset NTS_PORT"))
	}
}

// ntsFleetNeedsServer: NTS_WATCH_INTERVAL and NTS_KEYS_FROM are the NTS server's.
func ntsFleetNeedsServer(l *loader, _ *Settings) {
	if l.ntsAsked() {
		return
	}
	if v, ok := l.setValid("NTS_WATCH_INTERVAL"); ok && v != "off" {
		l.fail("NTS_WATCH_INTERVAL", v, errors.New("has no effect without NTS_SERVER_CERT and NTS_SERVER_KEY: set them to serve NTS, or unset NTS_WATCH_INTERVAL"))
	}
	if v, ok := l.setValid("NTS_KEYS_FROM"); ok {
		l.fail("NTS_KEYS_FROM", v, errors.New("has no effect without NTS_SERVER_CERT and NTS_SERVER_KEY: set them to serve NTS, or unset NTS_KEYS_FROM"))
	}
}

// azureNeedsRefclock: TIME_SOURCE=azure is the host's clock, a reference clock.
func azureNeedsRefclock(l *loader, s *Settings) {
	if s.TimeSource == TimeSourceAzure && s.RefclockMode == RefclockNone {
		v, _ := l.env.lookup("REFCLOCK")
		l.fail("REFCLOCK", v, errors.New("TIME_SOURCE=azure is the host's clock through /dev/ptp_hyperv: set REFCLOCK=auto (the default) or REFCLOCK=/dev/ptp_hyperv"))
	}
}

// noSmearMix: sources that handle leap seconds differently are refused together
// (Settings.SmearConflict), reported on the variable that brought the smeared ones.
func noSmearMix(l *loader, s *Settings) {
	if !l.valid("NTP_SERVERS") || !l.valid("NTP_POOLS") || !l.valid("TIME_SOURCE") || !l.valid("REFCLOCK") {
		return
	}
	if err := s.SmearConflict(); err != nil {
		name := "NTP_SERVERS"
		switch _, sSet := l.env.lookup("NTP_SERVERS"); {
		case s.TimeSource != TimeSourceNone:
			name = "TIME_SOURCE"
		case !sSet:
			name = "NTP_POOLS"
		}
		v, set := l.env.lookup(name)
		if !set {
			v = defaultOf(name)
		}
		l.fail(name, v, err)
	}
}
