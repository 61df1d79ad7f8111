package ntswatch

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/chris-short/chrony/internal/regularfile"
	"go.uber.org/zap"
)

// CertOptions configure WatchCert.
type CertOptions struct {
	// Cert and Key are NTS_SERVER_CERT and NTS_SERVER_KEY.
	Cert, Key string
	// Interval is the time between two polls (NTS_WATCH_INTERVAL).
	Interval time.Duration
	// Restart asks for chronyd to be restarted with the pair now on disk. It must not block.
	Restart func()
	// Status receives the served certificate's expiry and the rejected renewals; nil: none.
	Status *Status
	Logger *zap.Logger
}

// Pair is a certificate and key as read, with what the metrics and logs need.
type Pair struct {
	sum      [sha256.Size]byte
	NotAfter time.Time
	Subject  string
}

// LoadPair reads the certificate and key as chronyd would need them: regular files (a FIFO
// is not opened for reading: it would block), a certificate and its matching key. Errors name
// the variables.
func LoadPair(certPath, keyPath string) (Pair, error) {
	cert, err := readRegular(certPath)
	if err != nil {
		return Pair{}, fmt.Errorf("NTS_SERVER_CERT %s: read certificate: %w", certPath, err)
	}
	key, err := readRegular(keyPath)
	if err != nil {
		return Pair{}, fmt.Errorf("NTS_SERVER_KEY %s: read key: %w", keyPath, err)
	}
	p := Pair{sum: digest(cert, key)}
	tc, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return p, fmt.Errorf("NTS_SERVER_CERT %s and NTS_SERVER_KEY %s: not a usable certificate and matching key: %w", certPath, keyPath, err)
	}
	p.NotAfter, p.Subject = tc.Leaf.NotAfter, tc.Leaf.Subject.String()
	return p, nil
}

// CertWatcher polls a certificate and key; see WatchCert.
type CertWatcher struct {
	o    CertOptions
	log  *zap.Logger
	done chan struct{}
	// served is the pair chronyd runs with (or was asked to restart with).
	served Pair
	// pending is a changed pair seen at the last poll; rejected the last one refused.
	pending, rejected [sha256.Size]byte
}

// WatchCert reads the pair chronyd starts with (logging its expiry and recording it in
// o.Status; it never fails: launch checked the pair before chronyd started), then polls every o.Interval until ctx ends. A pair whose contents changed and
// then held still for one more poll is checked: valid, it becomes the served pair and
// o.Restart is called; not valid, it is logged once as an error and counted, and chronyd runs
// on with the pair it has. Requiring the same contents on two polls rides out a renewal
// written file by file (certificate first, key a moment later).
func WatchCert(ctx context.Context, o CertOptions) *CertWatcher {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Status == nil {
		o.Status = &Status{}
	}
	w := &CertWatcher{o: o, log: o.Logger, done: make(chan struct{})}
	p, err := LoadPair(o.Cert, o.Key)
	w.served = p
	if err != nil {
		// Changed since the check before chronyd started (which chronyd loaded is unknown):
		// a valid pair seen later restarts chronyd with it.
		w.log.Warn("NTS certificate or key changed as chronyd started; watching for a valid pair", zap.Error(err))
	} else {
		w.logPair("NTS certificate served", p)
	}
	go w.run(ctx)
	return w
}

// Wait returns once the watcher stopped (after ctx ended).
func (w *CertWatcher) Wait() { <-w.done }

func (w *CertWatcher) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll()
		}
	}
}

// poll is one check of the files.
func (w *CertWatcher) poll() {
	p, err := LoadPair(w.o.Cert, w.o.Key)
	var zero [sha256.Size]byte
	if p.sum == zero {
		// A file missing or unreadable for a moment (a volume being updated): nothing to
		// compare yet. Said at debug level: it is not a renewal.
		w.log.Debug("NTS certificate or key unreadable; will look again", zap.Error(err))
		w.pending = zero
		return
	}
	if p.sum == w.served.sum || p.sum == w.rejected {
		w.pending = zero
		return
	}
	if p.sum != w.pending {
		w.pending = p.sum // changed: act once it holds still for one more poll
		return
	}
	w.pending = zero
	if err != nil {
		w.rejected = p.sum
		w.o.Status.update(func() { w.o.Status.renewalsRejected++ })
		w.log.Error("renewed NTS certificate or key rejected: chronyd keeps serving the pair it has",
			zap.Error(err), zap.Time("served_not_after", w.served.NotAfter))
		return
	}
	w.served = p
	w.logPair("renewed NTS certificate: restarting chronyd to load it", p)
	w.o.Restart()
}

func (w *CertWatcher) logPair(msg string, p Pair) {
	w.o.Status.SetCertNotAfter(p.NotAfter)
	w.log.Info(msg, zap.String("NTS_SERVER_CERT", w.o.Cert), zap.String("subject", p.Subject),
		zap.Time("not_after", p.NotAfter), zap.Duration("expires_in", time.Until(p.NotAfter).Round(time.Second)))
}

// maxFile bounds what readRegular reads: a certificate chain or a key file is a few KiB.
const maxFile = 1 << 20

// readRegular reads a certificate, key or ntskeys file (a Secret's files are symlinks:
// followed), never blocking on a FIFO.
func readRegular(path string) ([]byte, error) { return regularfile.Read(path, maxFile, false) }

// digest identifies a pair's contents.
func digest(cert, key []byte) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:", len(cert))
	h.Write(cert)
	h.Write(key)
	var s [sha256.Size]byte
	copy(s[:], h.Sum(nil))
	return s
}
