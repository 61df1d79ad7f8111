package config

import (
	"errors"
	"time"
)

// NTS server fleet settings: how often the certificate is checked for a renewal, and where a
// replica reads the NTS cookie keys of the one server that generates them.
const (
	minNTSWatchInterval = time.Second
	maxNTSWatchInterval = time.Hour
)

// ntsFleet reads NTS_WATCH_INTERVAL and NTS_KEYS_FROM; serving says whether NTS_SERVER_CERT
// and NTS_SERVER_KEY are both set.
func (l *loader) ntsFleet(s *Settings, serving bool) {
	if v, set, ok := l.get("NTS_WATCH_INTERVAL"); ok && v != "off" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			l.fail("NTS_WATCH_INTERVAL", v, errors.New("not a Go duration such as 10s or 1m, nor off"))
		case d < minNTSWatchInterval || d > maxNTSWatchInterval:
			l.fail("NTS_WATCH_INTERVAL", v, errors.New("want 1s..1h, or off"))
		case set && !serving:
			l.fail("NTS_WATCH_INTERVAL", v, errors.New("has no effect without NTS_SERVER_CERT and NTS_SERVER_KEY: set them to serve NTS, or unset NTS_WATCH_INTERVAL"))
		case serving:
			s.NTSWatchInterval = d
		}
	}
	if v := l.path("NTS_KEYS_FROM"); v != "" {
		if !serving {
			l.fail("NTS_KEYS_FROM", v, errors.New("has no effect without NTS_SERVER_CERT and NTS_SERVER_KEY: set them to serve NTS, or unset NTS_KEYS_FROM"))
			return
		}
		s.NTSKeysFrom = v
	}
}
