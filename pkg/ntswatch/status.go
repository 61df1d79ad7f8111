package ntswatch

import (
	"sync"
	"time"
)

// Status is what the watchers and the restart flow report, for the metrics. Safe for
// concurrent use; the zero value is ready.
type Status struct {
	mu               sync.Mutex
	certNotAfter     time.Time
	restarts         int
	renewalsRejected int
	keyReloads       int
	keyReloadErrors  int
}

// Snapshot is a copy of a Status at one moment.
type Snapshot struct {
	// CertNotAfter is the served certificate's expiry; zero when not serving NTS.
	CertNotAfter time.Time
	// Restarts counts chronyd restarts (each for a renewed certificate).
	Restarts int
	// RenewalsRejected counts changed certificate/key pairs that were not valid.
	RenewalsRejected int
	// KeyReloads counts NTS cookie key files copied and reloaded (rekey); KeyReloadErrors
	// those that failed.
	KeyReloads, KeyReloadErrors int
}

// Snapshot returns the current values.
func (s *Status) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{s.certNotAfter, s.restarts, s.renewalsRejected, s.keyReloads, s.keyReloadErrors}
}

// SetCertNotAfter records the served certificate's expiry.
func (s *Status) SetCertNotAfter(t time.Time) { s.update(func() { s.certNotAfter = t }) }

// Restarted counts one restart of chronyd.
func (s *Status) Restarted() { s.update(func() { s.restarts++ }) }

func (s *Status) update(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}
