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

// ntsFleet reads NTS_WATCH_INTERVAL and NTS_KEYS_FROM, which only an NTS server uses: the
// interval stays zero without one (ntsFleetNeedsServer reports them set without one).
func (l *loader) ntsFleet(s *Settings) {
	serving := l.ntsAsked()
	if v, _, ok := l.get("NTS_WATCH_INTERVAL"); ok && v != "off" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			l.fail("NTS_WATCH_INTERVAL", v, errors.New("not a Go duration such as 10s or 1m, nor off"))
		case d < minNTSWatchInterval || d > maxNTSWatchInterval:
			l.fail("NTS_WATCH_INTERVAL", v, errors.New("want 1s..1h, or off"))
		case serving:
			s.NTSWatchInterval = d
		}
	}
	s.NTSKeysFrom = l.path("NTS_KEYS_FROM")
}
