package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gate is a writer that blocks until opened, like a pipe nobody reads, and then records.
// entered is closed when the first write reaches it (the writer goroutine is then stalled).
type gate struct {
	open    chan struct{}
	entered chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
	err     error // returned by every write once open, when set
}

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	return g.buf.Write(p)
}

func (g *gate) String() string { g.mu.Lock(); defer g.mu.Unlock(); return g.buf.String() }

func TestLoggerNeverBlocks(t *testing.T) {
	tests := []struct {
		name string
		err  error // what the writer returns once it moves again
	}{
		{name: "stalled reader"},
		{name: "broken pipe", err: syscall.EPIPE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gate{open: make(chan struct{}), entered: make(chan struct{}), err: tt.err}
			a := newAsyncWriter(g, 4096, func(n int) []byte { return fmt.Appendf(nil, "dropped %d\n", n) })
			line := []byte(strings.Repeat("x", 99) + "\n")
			// The first entry alone, taken by the writer goroutine before the rest arrive: on a
			// loaded machine that goroutine may otherwise wake late and take several at once,
			// and the count below would depend on scheduling.
			if n, err := a.Write(line); n != len(line) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			select {
			case <-g.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the first entry never reached the writer")
			}
			t0 := time.Now()
			for range 999 {
				if n, err := a.Write(line); n != len(line) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("999 writes to a stalled writer took %v", d)
			}
			if err := a.Sync(); err != errLogSyncTimeout {
				t.Errorf("Sync with the writer stalled = %v, want %v", err, errLogSyncTimeout)
			}
			close(g.open)
			if err := a.Sync(); err != nil {
				t.Fatalf("Sync once the writer moves: %v", err)
			}
			_, _ = a.Write([]byte("after\n"))
			if err := a.Sync(); err != nil {
				t.Fatal(err)
			}
			out := g.String()
			if tt.err != nil {
				if out != "" {
					t.Errorf("a failing writer got %q", out)
				}
				return
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			// The first entry was taken before the stall; 40 more fit in 4 KiB; the rest dropped.
			written := strings.Count(out, "xxx\n")
			if written != 41 {
				t.Errorf("%d entries written, want 41: the one taken before the stall and the 40 that fit the queue", written)
			}
			want := fmt.Sprintf("dropped %d", 1000-written)
			if !strings.Contains(out, want+"\n") {
				t.Errorf("no %q report in %d lines", want, len(lines))
			}
			if lines[len(lines)-1] != "after" {
				t.Errorf("last line %q, want the entry written after the stall", lines[len(lines)-1])
			}
		})
	}
}
