package main

import (
	"errors"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Log output bounds. What the entrypoint logs must never wait on its reader: a log driver that
// blocks or a pipe nobody drains would otherwise hold up signal forwarding, reaping, the
// shutdown deadline and every request that logs.
const (
	// logQueueBytes is how much log output may wait for a slow reader; beyond it entries are
	// dropped and counted.
	logQueueBytes = 1 << 20
	// logSyncTimeout bounds the final flush at exit.
	logSyncTimeout = time.Second
)

// newLogger builds the logger every package gets passed: JSON by default (one object per line,
// what log collectors parse), or console for people at a terminal. Entries go to w through a
// bounded queue, never directly (see asyncWriter). level and console come from validated
// settings (LOG_LEVEL, LOG_FORMAT).
func newLogger(level zapcore.Level, console bool, w io.Writer) *zap.Logger {
	encoder := newEncoder(console)
	dropped := func(n int) []byte {
		buf, err := encoder.Clone().EncodeEntry(zapcore.Entry{
			Level: zapcore.WarnLevel, Time: time.Now(),
			Message: "log output stalled or failed: entries dropped",
		}, []zapcore.Field{zap.Int("dropped", n)})
		if err != nil {
			return nil
		}
		defer buf.Free()
		return append([]byte(nil), buf.Bytes()...)
	}
	core := zapcore.NewCore(encoder, newAsyncWriter(w, logQueueBytes, dropped), level)
	return zap.New(core)
}

// newEncoder is JSON, or console for people at a terminal.
func newEncoder(console bool) zapcore.Encoder {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	if console {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		return zapcore.NewConsoleEncoder(enc)
	}
	return zapcore.NewJSONEncoder(enc)
}

// asyncWriter is a zapcore.WriteSyncer whose Write never blocks: it queues a copy of the entry
// for one goroutine that writes to w. When w stalls (its reader stopped) the queue fills to its
// bound and further entries are dropped and counted; when w fails (EPIPE: the reader went away)
// the entries are dropped too. Either way the caller carries on: supervising chronyd matters
// more than its log. Once w takes writes again, an entry says how many were dropped.
type asyncWriter struct {
	w       io.Writer
	limit   int
	dropped func(n int) []byte // the entry that reports n dropped entries

	mu      sync.Mutex
	queue   [][]byte
	queued  int // bytes in queue
	lost    int // entries dropped and not yet reported
	writing bool
	wake    chan struct{}
	idle    *sync.Cond
}

func newAsyncWriter(w io.Writer, limit int, dropped func(int) []byte) *asyncWriter {
	a := &asyncWriter{w: w, limit: limit, dropped: dropped, wake: make(chan struct{}, 1)}
	a.idle = sync.NewCond(&a.mu)
	go a.run()
	return a
}

// Write queues a copy of p; it drops p when the queue is full. It never fails.
func (a *asyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	if a.queued+len(p) > a.limit {
		a.lost++
	} else {
		a.queue = append(a.queue, append([]byte(nil), p...))
		a.queued += len(p)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// run writes queued entries in order, for the life of the process.
func (a *asyncWriter) run() {
	for range a.wake {
		for {
			a.mu.Lock()
			batch, lost := a.queue, a.lost
			a.queue, a.queued, a.lost = nil, 0, 0
			if len(batch) == 0 && lost == 0 {
				a.writing = false
				a.idle.Broadcast()
				a.mu.Unlock()
				break
			}
			a.writing = true
			a.mu.Unlock()

			failed := 0
			if lost > 0 {
				if _, err := a.w.Write(a.dropped(lost)); err != nil {
					failed = lost // still unreported
				}
			}
			for i, b := range batch {
				if _, err := a.w.Write(b); err != nil {
					failed += len(batch) - i // a writer that failed once is not tried again for this batch
					break
				}
			}
			if failed > 0 {
				// A failed writer (EPIPE) fails at once: count the loss and wait for the next
				// entry rather than spin.
				a.mu.Lock()
				a.lost += failed
				a.writing = false
				a.idle.Broadcast()
				a.mu.Unlock()
				break
			}
		}
	}
}

// errLogSyncTimeout is Sync's error when the queue did not drain in time.
var errLogSyncTimeout = errors.New("log output did not drain in time: its reader is stalled")

// Sync waits until everything queued has been handed to w, at most logSyncTimeout: at exit the
// last entries should reach the log, but a stalled reader must not keep the process alive.
func (a *asyncWriter) Sync() error {
	done := make(chan struct{})
	go func() {
		a.mu.Lock()
		for a.writing || len(a.queue) > 0 {
			a.idle.Wait()
		}
		a.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(logSyncTimeout):
		return errLogSyncTimeout
	}
}
