package supervisor

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logBacklog bounds the entries waiting for a slow logger; beyond it they are dropped.
const logBacklog = 256

// logQueue hands the supervisor's entries to one goroutine that writes them in order, so the
// reap loop never waits on a log write: with a Logger whose writer blocks (a log reader that
// stalled), signals are still forwarded, children reaped and the SIGKILL deadline kept.
type logQueue struct {
	ch   chan queuedEntry
	done chan struct{}
}

type queuedEntry struct {
	core   zapcore.Core
	entry  zapcore.Entry
	fields []zapcore.Field
}

// queued returns a logger that writes through a new logQueue, and the queue.
func queued(log *zap.Logger) (*zap.Logger, *logQueue) {
	q := &logQueue{ch: make(chan queuedEntry, logBacklog), done: make(chan struct{})}
	go func() {
		defer close(q.done)
		for e := range q.ch {
			_ = e.core.Write(e.entry, e.fields)
		}
	}()
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &queueCore{Core: c, q: q} })), q
}

// close stops the queue once what is queued is written, waiting at most within for that.
func (q *logQueue) close(within time.Duration) {
	close(q.ch)
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
	}
}

// queueCore is a zapcore.Core whose Write queues the entry for the logQueue's goroutine.
type queueCore struct {
	zapcore.Core
	q *logQueue
}

func (c *queueCore) With(fields []zapcore.Field) zapcore.Core {
	return &queueCore{Core: c.Core.With(fields), q: c.q}
}

func (c *queueCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *queueCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	select {
	case c.q.ch <- queuedEntry{core: c.Core, entry: e, fields: append([]zapcore.Field(nil), fields...)}:
	default: // the logger is stuck and the backlog full: dropping beats stalling the loop
	}
	return nil
}
