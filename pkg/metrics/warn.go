package metrics

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// warnLimiter keeps failing scrapes from growing the log without bound: each message is
// logged the first time, then at most once per every, saying how many were not logged
// meanwhile. Anyone who can reach /metrics can make scrapes fail (a chronyd that is down, a
// request that times out), so the count of lines must not follow the count of scrapes.
type warnLimiter struct {
	log   *zap.Logger
	every time.Duration

	mu      sync.Mutex
	entries map[string]*warnEntry
	warned  bool // a warning was logged since the last recovered
}

type warnEntry struct {
	logged     time.Time
	suppressed int
}

func newWarnLimiter(log *zap.Logger, every time.Duration) *warnLimiter {
	return &warnLimiter{log: log, every: every, entries: map[string]*warnEntry{}}
}

// warn logs msg at warn level unless it was logged less than every ago.
func (w *warnLimiter) warn(msg string, fields ...zap.Field) { w.warnKeyed(msg, msg, fields...) }

// warnKeyed is warn with the repeats counted under key (a message about several things).
func (w *warnLimiter) warnKeyed(key, msg string, fields ...zap.Field) {
	w.mu.Lock()
	e := w.entries[key]
	if e == nil {
		e = &warnEntry{}
		w.entries[key] = e
	}
	now := time.Now()
	if !e.logged.IsZero() && now.Sub(e.logged) < w.every {
		e.suppressed++
		w.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.logged, e.suppressed = now, 0
	w.warned = true
	w.mu.Unlock()
	if suppressed > 0 {
		fields = append(fields, zap.Int("repeats_not_logged", suppressed))
	}
	w.log.Warn(msg, fields...)
}

// recovered logs msg at info level if a warning was logged since the last time: at most one
// line per warning line, however a failure flaps.
func (w *warnLimiter) recovered(msg string) {
	w.mu.Lock()
	had := w.warned
	w.warned = false
	w.mu.Unlock()
	if had {
		w.log.Info(msg)
	}
}
