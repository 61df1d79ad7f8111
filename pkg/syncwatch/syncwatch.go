package syncwatch

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/health"
)

// Defaults for Options' zero values.
const (
	// DefaultInterval: until chronyd is synchronised (or while a poll fails, or unresolved
	// sources are being confirmed), a change shows in the log within two seconds, for three to
	// six small requests per poll on the Unix socket.
	DefaultInterval = 2 * time.Second
	// DefaultSteadyInterval: once synchronised with nothing left to confirm, a source change or
	// a loss shows within ten seconds. Polling every 2 s forever cost PID 1 more CPU than
	// anything else it does idle (bench/idle.sh); chronyd itself takes far longer than 10 s to
	// give up on a source that stopped answering.
	DefaultSteadyInterval = 10 * time.Second
	// DefaultTimeout bounds one poll, connection included.
	DefaultTimeout = time.Second
)

// Conn is one connection to chronyd: requests, then Close. *chrony.Client implements it.
type Conn interface {
	chrony.Communicator
	Close() error
}

// Options configure a Watcher.
type Options struct {
	// Dial opens a fresh connection for one poll (DialSocket for chronyd's socket).
	Dial func(ctx context.Context) (Conn, error)
	// Interval between polls; zero means DefaultInterval.
	Interval time.Duration
	// SteadyInterval between polls while chronyd is synchronised and nothing waits for a
	// second poll to confirm it; zero means DefaultSteadyInterval (never below Interval).
	SteadyInterval time.Duration
	// Timeout bounds each poll; zero means DefaultTimeout.
	Timeout time.Duration
	Logger  *zap.Logger
}

// DialSocket dials chronyd's command socket, binding client sockets in clientDir.
func DialSocket(socket, clientDir string) func(ctx context.Context) (Conn, error) {
	return func(ctx context.Context) (Conn, error) {
		c, err := chrony.Dial(ctx, socket, clientDir)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// Watcher polls chronyd in its own goroutine until its context ends.
type Watcher struct {
	opts Options
	done chan struct{}

	// State of the story so far; touched only by the polling goroutine.
	known      bool   // a poll has succeeded
	synced     bool   // last known: synchronised
	source     string // last known selected source ("" for the local clock)
	seenUnres  string // unresolved sources seen by the last poll ("" before the first)
	toldUnres  string // unresolved sources last logged
	pollFailed bool   // the last poll failed (logged once at debug until one succeeds)
}

// Start polls chronyd every opts.Interval, or opts.SteadyInterval while it is synchronised
// (see next), until ctx ends. Wait returns once it has stopped.
func Start(ctx context.Context, opts Options) *Watcher {
	w := newWatcher(opts)
	go func() {
		defer close(w.done)
		t := time.NewTimer(w.opts.Interval)
		defer t.Stop()
		for {
			w.poll(ctx)
			t.Reset(w.next())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// next is the wait before the next poll: SteadyInterval once chronyd is known synchronised,
// the last poll succeeded and no unresolved-sources change awaits its confirming poll;
// Interval otherwise, so that a first sync, a failing chronyd and name resolution are told
// as quickly as before.
func (w *Watcher) next() time.Duration {
	if w.known && w.synced && !w.pollFailed && w.seenUnres == w.toldUnres {
		return w.opts.SteadyInterval
	}
	return w.opts.Interval
}

func newWatcher(opts Options) *Watcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.SteadyInterval <= 0 {
		opts.SteadyInterval = DefaultSteadyInterval
	}
	opts.SteadyInterval = max(opts.SteadyInterval, opts.Interval)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Watcher{opts: opts, done: make(chan struct{}), toldUnres: fmt.Sprint(0, []string(nil))}
}

// Wait blocks until the watcher has stopped: at most one poll's Timeout after its context
// ends, since every request is abandoned when the context is cancelled.
func (w *Watcher) Wait() { <-w.done }

// noThreshold: the root distance is readiness, not synchronisation.
var noThreshold = health.Thresholds{MaxDistance: math.MaxInt64}

// poll asks chronyd once and logs what changed since the last successful poll.
func (w *Watcher) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	log := w.opts.Logger
	c, err := w.opts.Dial(ctx)
	if err != nil {
		w.failed(err)
		return
	}
	defer c.Close()
	r := health.Ready(ctx, c, noThreshold)
	if r.Err != nil {
		w.failed(r.Err)
		return
	}
	unres, err := health.UnresolvedSources(ctx, c)
	if err != nil {
		w.failed(err)
		return
	}
	w.pollFailed = false

	switch {
	case r.OK && (!w.known || !w.synced):
		if r.Source == "" {
			log.Info("chronyd serves the local clock, as configured", zap.String("status", r.Reason))
		} else {
			log.Info("chronyd synchronised", zap.String("source", r.Source), zap.String("status", r.Reason))
		}
	case r.OK && r.Source != w.source:
		log.Info("chronyd changed its selected source", zap.String("source", r.Source),
			zap.String("previous", w.source), zap.String("status", r.Reason))
	case !r.OK && w.known && w.synced:
		log.Warn("chronyd lost synchronisation", zap.String("previous", w.source), zap.String("status", r.Reason))
	}
	w.known, w.synced, w.source = true, r.OK, r.Source

	// A host name is unresolved for a moment at every start (chronyd resolves in the
	// background): what is unresolved is told once two polls in a row agree on it.
	key := fmt.Sprint(unres.Count, unres.Names)
	if key == w.seenUnres && key != w.toldUnres {
		if unres.Count > 0 {
			log.Warn("NTP sources have no address: host names not resolved (no DNS, or a typo in NTP_SERVERS/NTP_POOLS); chronyd keeps trying",
				zap.Strings("hosts", unres.Names), zap.Int("unresolved", unres.Count))
		} else {
			log.Info("every NTP source has an address now")
		}
		w.toldUnres = key
	}
	w.seenUnres = key
}

// failed notes a poll that got no answer: chronyd is starting or stopping, or another part of
// the entrypoint reports it (probes, metrics), so once at debug until a poll succeeds.
func (w *Watcher) failed(err error) {
	if !w.pollFailed {
		w.opts.Logger.Debug("cannot ask chronyd for its sync state", zap.Error(err))
	}
	w.pollFailed = true
}
