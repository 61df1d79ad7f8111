package metrics

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chris-short/chrony/pkg/chrony/chronyfake"
)

// stubConn answers from a fake until broken, then fails as a connected Unix socket does once
// chronyd restarted (its socket is a new one): ECONNREFUSED on write, at once.
type stubConn struct {
	fake   *chronyfake.Fake
	mu     sync.Mutex
	broken bool
	closed bool
}

func (s *stubConn) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	s.mu.Lock()
	broken := s.broken || s.closed
	s.mu.Unlock()
	if broken {
		return nil, &net.OpError{Op: "write", Net: "unixgram", Err: syscall.ECONNREFUSED}
	}
	return s.fake.Communicate(ctx, req)
}

func (s *stubConn) Close() error { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

func (s *stubConn) breakIt() { s.mu.Lock(); s.broken = true; s.mu.Unlock() }

// stubDialer hands out stubConns and remembers them; after refuse is set it fails.
type stubDialer struct {
	fake   *chronyfake.Fake
	mu     sync.Mutex
	conns  []*stubConn
	refuse bool
}

func (d *stubDialer) dial(context.Context) (Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse {
		return nil, errors.New("dial chronyd: connect: connection refused")
	}
	c := &stubConn{fake: d.fake}
	d.conns = append(d.conns, c)
	return c, nil
}

func (d *stubDialer) closes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.conns {
		c.mu.Lock()
		if c.closed {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

func upValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	var up float64 = -1
	for m := range collectAll(c) {
		if m.Desc() == upMetric.desc {
			up = testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) { ch <- m }))
		}
	}
	return up
}

// TestCollectorKeepsConnection: one connection serves every scrape while they succeed; a
// kept connection that chronyd's restart broke is redialled within the same scrape; Close
// releases it.
func TestCollectorKeepsConnection(t *testing.T) {
	tests := []struct {
		name string
		// between runs after the first scrape.
		between func(d *stubDialer, c *Collector)
		wantUp  float64
		// wantDials counts connections made (a refused dial makes none).
		wantDials, wantCloses int
		wantWarns             int
	}{
		{name: "healthy", between: func(*stubDialer, *Collector) {}, wantUp: 1, wantDials: 1},
		{name: "chronyd restarted", between: func(d *stubDialer, _ *Collector) { d.conns[0].breakIt() },
			wantUp: 1, wantDials: 2, wantCloses: 1},
		{name: "chronyd gone", between: func(d *stubDialer, _ *Collector) { d.conns[0].breakIt(); d.refuse = true },
			wantUp: 0, wantDials: 1, wantCloses: 1, wantWarns: 1},
		{name: "closed between scrapes", between: func(_ *stubDialer, c *Collector) {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}, wantUp: 1, wantDials: 2, wantCloses: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &stubDialer{fake: fake43()}
			core, logs := observer.New(zap.WarnLevel)
			c := New(Options{Dial: d.dial, Timeout: time.Second, Logger: zap.New(core)})
			if up := upValue(t, c); up != 1 {
				t.Fatalf("first scrape: chrony_up = %v, want 1", up)
			}
			tt.between(d, c)
			if up := upValue(t, c); up != tt.wantUp {
				t.Errorf("chrony_up = %v, want %v", up, tt.wantUp)
			}
			if len(d.conns) != tt.wantDials || d.closes() != tt.wantCloses {
				t.Errorf("dials %d closes %d, want %d and %d", len(d.conns), d.closes(), tt.wantDials, tt.wantCloses)
			}
			if logs.Len() != tt.wantWarns {
				t.Errorf("%d warnings, want %d: %v", logs.Len(), tt.wantWarns, logs.All())
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if d.closes() != len(d.conns) {
				t.Errorf("after Close: %d of %d connections closed", d.closes(), len(d.conns))
			}
		})
	}
}

// TestCollectorConcurrentScrapes: 8 clients scraping in tight loops all get whole rounds,
// chronyd never sees two rounds at once, and it sees far fewer rounds than scrapes, because
// scrapes arriving during a round share it (run with -race).
func TestCollectorConcurrentScrapes(t *testing.T) {
	fake := fake43()
	counting := &roundCounter{c: fake, delay: time.Millisecond}
	d := &stubDialer{fake: fake}
	c := New(Options{Dial: func(ctx context.Context) (Conn, error) {
		conn, err := d.dial(ctx)
		if err != nil {
			return nil, err
		}
		return countingConn{counting, conn}, nil
	}, Timeout: 5 * time.Second})
	defer c.Close()
	const workers, scrapes = 8, 25
	ups := make(chan float64, workers*scrapes)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range scrapes {
				ups <- upValue(t, c)
			}
		})
	}
	wg.Wait()
	close(ups)
	for up := range ups {
		if up != 1 {
			t.Fatalf("a concurrent scrape had chrony_up %v", up)
		}
	}
	if len(d.conns) != 1 {
		t.Errorf("%d dials, want 1", len(d.conns))
	}
	if n := counting.maxInFlight.Load(); n != 1 {
		t.Errorf("chronyd had %d requests in flight at once, want 1", n)
	}
	rounds := fake.Calls("tracking")
	t.Logf("%d scrapes from %d clients: %d rounds at chronyd", workers*scrapes, workers, rounds)
	if rounds > workers*scrapes/2 {
		t.Errorf("%d rounds at chronyd for %d scrapes: concurrent scrapes did not share rounds", rounds, workers*scrapes)
	}
}

// TestCollectorSharesRound: scrapes arriving while a round waits on chronyd all get that
// round's answer; chronyd answers one round, not one per scrape.
func TestCollectorSharesRound(t *testing.T) {
	fake := fake43()
	gate := &gatedConn{c: fake, started: make(chan struct{}, 1), release: make(chan struct{})}
	c := New(Options{Dial: func(context.Context) (Conn, error) { return gate, nil }, Timeout: 20 * time.Second})
	const scrapes = 16
	ups := make(chan float64, scrapes)
	go func() { ups <- upValue(t, c) }()
	<-gate.started // the first round is at chronyd
	for range scrapes - 1 {
		go func() { ups <- upValue(t, c) }()
	}
	// Release chronyd once every scrape is waiting (bounded).
	for deadline := time.Now().Add(10 * time.Second); c.waiting.Load() < scrapes-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d scrapes waiting after 10s, want %d", c.waiting.Load(), scrapes-1)
		}
	}
	close(gate.release)
	for range scrapes {
		if up := <-ups; up != 1 {
			t.Errorf("chrony_up = %v, want 1", up)
		}
	}
	if n := fake.Calls("tracking"); n != 1 {
		t.Errorf("%d rounds at chronyd for %d concurrent scrapes, want 1", n, scrapes)
	}
}

// TestCollectorMinInterval: within MinInterval of a round, scrapes are answered from it.
func TestCollectorMinInterval(t *testing.T) {
	fake := fake43()
	d := &stubDialer{fake: fake}
	c := New(Options{Dial: d.dial, MinInterval: time.Hour})
	for range 5 {
		if up := upValue(t, c); up != 1 {
			t.Fatalf("chrony_up = %v", up)
		}
	}
	if n := fake.Calls("tracking"); n != 1 {
		t.Errorf("%d rounds for 5 scrapes within MinInterval, want 1", n)
	}
}

// TestCollectorMinIntervalNotAfterFailure: a failed round answers no later scrape, so the
// scrape after chronyd comes back (a restart) reports it up at once.
func TestCollectorMinIntervalNotAfterFailure(t *testing.T) {
	d := &stubDialer{fake: fake43(), refuse: true}
	c := New(Options{Dial: d.dial, MinInterval: time.Hour})
	if up := upValue(t, c); up != 0 {
		t.Fatalf("chrony_up = %v with chronyd down", up)
	}
	d.mu.Lock()
	d.refuse = false
	d.mu.Unlock()
	if up := upValue(t, c); up != 1 {
		t.Errorf("chrony_up = %v in the first scrape after chronyd came back, want 1 (a failed round was reused)", up)
	}
}

// TestCollectorWarningsBounded: a chronyd that stays down for 200 scrapes costs a bounded
// number of log lines (one per message per WarnEvery), and the repeats are counted.
func TestCollectorWarningsBounded(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	d := &stubDialer{fake: fake43(), refuse: true}
	c := New(Options{Dial: d.dial, Logger: zap.New(core), Extended: true})
	for range 200 {
		if up := upValue(t, c); up != 0 {
			t.Fatalf("chrony_up = %v with chronyd down", up)
		}
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d lines logged for 200 failed scrapes, want 1; the first: %v", n, logs.All()[0])
	}
	// After WarnEvery the failure is logged again with the count of the repeats.
	c.warns.every = 0
	upValue(t, c)
	last := logs.All()[logs.Len()-1]
	if got := last.ContextMap()["repeats_not_logged"]; got != int64(199) {
		t.Errorf("repeats_not_logged = %v, want 199: %v", got, last)
	}
	// Recovery is said once.
	d.mu.Lock()
	d.refuse = false
	d.mu.Unlock()
	for range 3 {
		upValue(t, c)
	}
	if n := logs.FilterMessageSnippet("answers again").Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1: %v", n, logs.All())
	}
}

// roundCounter passes requests on, after delay, and records how many were in flight at once.
type roundCounter struct {
	c                     chronyComm
	delay                 time.Duration
	inFlight, maxInFlight atomic.Int32
}

type chronyComm interface {
	Communicate(context.Context, fbchrony.RequestPacket) (fbchrony.ResponsePacket, error)
}

func (r *roundCounter) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.maxInFlight.Load()
		if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(r.delay)
	return r.c.Communicate(ctx, req)
}

// countingConn sends through a roundCounter and closes the underlying Conn.
type countingConn struct {
	r    *roundCounter
	conn Conn
}

func (c countingConn) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	return c.r.Communicate(ctx, req)
}
func (c countingConn) Close() error { return c.conn.Close() }

// gatedConn holds its first request until release is closed, signalling started.
type gatedConn struct {
	c       chronyComm
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedConn) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	g.once.Do(func() { g.started <- struct{}{}; <-g.release })
	return g.c.Communicate(ctx, req)
}
func (*gatedConn) Close() error { return nil }

// hangingConn holds its first request until release is closed, the way a scrape stuck on
// chronyd holds the connection.
type hangingConn struct{ release chan struct{} }

func (h hangingConn) Communicate(ctx context.Context, _ fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	<-h.release
	return nil, context.DeadlineExceeded
}
func (hangingConn) Close() error { return nil }

// TestCollectorWaitBounded: a scrape waiting for one that holds the connection gives up at
// its own deadline with chrony_up 0 (and says why) rather than queueing behind it.
func TestCollectorWaitBounded(t *testing.T) {
	h := hangingConn{release: make(chan struct{})}
	core, logs := observer.New(zap.WarnLevel)
	c := New(Options{Dial: func(context.Context) (Conn, error) { return h, nil }, Timeout: 100 * time.Millisecond, Logger: zap.New(core)})
	first := make(chan float64, 1)
	go func() { first <- upValue(t, c) }()
	// Wait (bounded) until the first scrape holds the connection.
	for deadline := time.Now().Add(10 * time.Second); len(c.turn) != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("first scrape did not start within 10s")
		}
	}
	second := make(chan float64, 1)
	go func() { second <- upValue(t, c) }()
	select {
	case up := <-second:
		if up != 0 {
			t.Errorf("waiting scrape: chrony_up = %v, want 0", up)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting scrape did not give up within 10s")
	}
	if n := logs.FilterMessageSnippet("did not end by the deadline").Len(); n != 1 {
		t.Errorf("%d warnings about waiting, want 1: %v", n, logs.All())
	}
	close(h.release)
	if up := <-first; up != 0 {
		t.Errorf("stuck scrape: chrony_up = %v, want 0", up)
	}
}
