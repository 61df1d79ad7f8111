package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facebook/time/ntp/protocol"
	"go.uber.org/zap"
)

// Options shape and bound one load run.
type Options struct {
	Server   *net.UDPAddr  // the NTP server under load
	Workers  int           // concurrent UDP sockets, each with its own source port
	Sources  int           // source addresses 127.0.0.1..127.0.0.Sources, sockets spread over them
	InFlight int           // requests a socket may have outstanding; 1 is closed loop
	Rate     float64       // total requests per second; 0: as fast as InFlight allows
	Requests int64         // stop sending after this many requests
	Duration time.Duration // stop sending after this long
	Timeout  time.Duration // a request without a reply after this long is lost
}

// maxSources is the last usable host of 127.0.0.0/24: the sockets bind 127.0.0.1..Sources.
const maxSources = 254

// Validate says which option is out of range, so a bad flag fails before any packet is sent.
func (o Options) Validate() error {
	var errs []error
	if o.Server == nil {
		errs = append(errs, errors.New("-server: no server address"))
	}
	if o.Workers < 1 || o.Workers > 4096 {
		errs = append(errs, fmt.Errorf("-workers %d: want 1..4096", o.Workers))
	}
	if o.Sources < 1 || o.Sources > maxSources {
		errs = append(errs, fmt.Errorf("-sources %d: want 1..%d", o.Sources, maxSources))
	}
	if o.InFlight < 1 || o.InFlight > 1024 {
		errs = append(errs, fmt.Errorf("-inflight %d: want 1..1024", o.InFlight))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("-rate %g: want >= 0", o.Rate))
	}
	// Both bounds are required: the generator must stop by itself.
	if o.Requests < 1 {
		errs = append(errs, fmt.Errorf("-requests %d: want >= 1", o.Requests))
	}
	if o.Duration <= 0 || o.Duration > time.Hour {
		errs = append(errs, fmt.Errorf("-duration %s: want > 0 and <= 1h", o.Duration))
	}
	if o.Timeout <= 0 || o.Timeout > time.Minute {
		errs = append(errs, fmt.Errorf("-timeout %s: want > 0 and <= 1m", o.Timeout))
	}
	return errors.Join(errs...)
}

// Result is what one run measured.
type Result struct {
	Sent    int64 // requests written to a socket
	Replies int64 // server-mode replies matching an outstanding request
	Unsync  int64 // of Replies, those saying the server is unsynchronised (leap 3 or stratum 0)
	Lost    int64 // requests with no reply within Timeout
	Stray   int64 // packets matching no outstanding request (late replies too) or not NTP replies
	// Elapsed runs from the first request to the last request or reply, whichever is later:
	// the drain after sending stops counts only while replies still arrive.
	Elapsed time.Duration
	P50     time.Duration // reply latency, median
	P99     time.Duration // reply latency, 99th percentile
	Max     time.Duration // reply latency, largest
}

// LossPercent is the share of sent requests that got no reply in time.
func (r Result) LossPercent() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Lost) / float64(r.Sent)
}

// RepliesPerSecond is the reply throughput over Elapsed.
func (r Result) RepliesPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Replies) / r.Elapsed.Seconds()
}

// Run sends load as o says and returns when sending has stopped and every outstanding request
// has either been answered or timed out. ctx cancels early (what was measured is returned).
func Run(ctx context.Context, o Options, log *zap.Logger) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	conns := make([]*net.UDPConn, 0, o.Workers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range o.Workers {
		src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%o.Sources))}
		c, err := net.ListenUDP("udp4", src)
		if err != nil {
			return Result{}, fmt.Errorf("bind socket %d to %s: %w", i, src.IP, err)
		}
		// Bigger buffers so that a burst is dropped by the server, not by our own socket.
		_ = c.SetReadBuffer(1 << 20)
		conns = append(conns, c)
	}

	sendCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var budget atomic.Int64
	budget.Store(o.Requests)
	start := time.Now()
	var perWorkerRate float64
	if o.Rate > 0 {
		perWorkerRate = o.Rate / float64(o.Workers)
	}

	if o.Rate > 0 {
		// Lost requests hold their slot until the timeout: fewer slots than that slow the
		// sending below the rate asked for.
		if need := o.Rate * o.Timeout.Seconds() / float64(o.Workers); float64(o.InFlight) < need {
			log.Warn("in-flight window may be too small for -rate if replies are lost",
				zap.Int("inflight", o.InFlight), zap.Float64("needed", need))
		}
	}
	workers := make([]*worker, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		w := &worker{
			conn: c, server: o.Server, timeout: o.Timeout, rate: perWorkerRate,
			// Paced sockets start staggered over one interval, not all at once: synchronised
			// bursts would measure queueing in the server, not its serving.
			start: start.Add(time.Duration(float64(i) / float64(len(conns)) * float64(pacing(perWorkerRate)))),
			slots: make(chan struct{}, o.InFlight), pending: map[uint64]time.Time{},
			budget: &budget, sendingDone: make(chan struct{}),
		}
		workers[i] = w
		wg.Add(2)
		go func() { defer wg.Done(); w.send(sendCtx) }()
		go func() { defer wg.Done(); w.receive(ctx) }()
	}
	wg.Wait()

	var r Result
	var lat []time.Duration
	var last time.Time
	var errs []error
	for _, w := range workers {
		r.Sent += w.sent
		r.Replies += w.replies
		r.Unsync += w.unsync
		r.Lost += w.lost
		r.Stray += w.stray
		lat = append(lat, w.latencies...)
		for _, t := range []time.Time{w.lastSend, w.lastReply} {
			if t.After(last) {
				last = t
			}
		}
		if w.err != nil {
			errs = append(errs, w.err)
		}
	}
	if !last.IsZero() {
		r.Elapsed = last.Sub(start)
	}
	r.P50, r.P99, r.Max = quantiles(lat)
	if len(errs) > 0 {
		log.Warn("socket errors during the run", zap.Int("sockets", len(errs)), zap.Error(errs[0]))
	}
	return r, nil
}

// pacing is the interval between requests at rate per second; 0 when unpaced.
func pacing(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

// quantiles returns the median, 99th percentile (nearest rank) and maximum of d.
func quantiles(d []time.Duration) (p50, p99, largest time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		// Nearest rank: the smallest value with at least q of the samples at or below it.
		i := int(q*float64(len(s))+0.999999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return rank(0.50), rank(0.99), s[len(s)-1]
}

// worker is one socket: a sender and a receiver sharing the table of outstanding requests.
type worker struct {
	conn    *net.UDPConn
	server  *net.UDPAddr
	timeout time.Duration
	start   time.Time // when this socket's first request is due
	rate    float64   // requests per second for this socket; 0: unpaced

	slots       chan struct{} // one token per outstanding request
	budget      *atomic.Int64 // requests left for all workers
	sendingDone chan struct{} // closed when send returns

	mu      sync.Mutex
	pending map[uint64]time.Time // transmit timestamp we sent -> when

	// Written by one goroutine each; read after both have finished.
	sent, replies, unsync, lost, stray int64
	latencies                          []time.Duration
	lastSend, lastReply                time.Time
	err                                error
}

// send writes requests until the context ends or the shared budget is spent.
func (w *worker) send(ctx context.Context) {
	defer close(w.sendingDone)
	buf := make([]byte, protocol.PacketSizeBytes)
	interval := pacing(w.rate)
	next := w.start
	for n := 0; ; n++ {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if interval > 0 {
			// Scheduled, not slept-for: a late request is sent at once, never in a burst
			// larger than the in-flight window.
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					<-w.slots
					return
				}
			}
			next = next.Add(interval)
		}
		if w.budget.Add(-1) < 0 {
			<-w.slots
			return
		}
		now := time.Now()
		cookie := w.remember(now)
		p := protocol.Packet{
			// LI 0, version 4, mode 3 (client).
			Settings:  0x23,
			TxTimeSec: uint32(cookie >> 32), TxTimeFrac: uint32(cookie),
		}
		b, err := p.Bytes()
		if err == nil {
			copy(buf, b)
			_, err = w.conn.WriteToUDP(buf, w.server)
		}
		if err != nil {
			w.forget(cookie)
			<-w.slots
			w.err = fmt.Errorf("send NTP request to %s: %w", w.server, err)
			return
		}
		w.sent++
		w.lastSend = now
	}
}

// remember records a request sent at t under a transmit timestamp no other outstanding
// request of this socket carries, and returns that timestamp: the server echoes it as the
// reply's origin timestamp, which is how replies are matched.
func (w *worker) remember(t time.Time) uint64 {
	sec, frac := protocol.Time(t)
	cookie := uint64(sec)<<32 | uint64(frac)
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if _, taken := w.pending[cookie]; !taken {
			break
		}
		cookie++
	}
	w.pending[cookie] = t
	return cookie
}

func (w *worker) forget(cookie uint64) {
	w.mu.Lock()
	delete(w.pending, cookie)
	w.mu.Unlock()
}

// receive reads replies until sending has stopped and nothing is outstanding; requests older
// than the timeout are counted lost on the way. ctx ending stops it at the next read deadline.
func (w *worker) receive(ctx context.Context) {
	buf := make([]byte, 1500)
	tick := min(w.timeout/4, 50*time.Millisecond)
	lastSweep := time.Now()
	var p protocol.Packet
	for {
		_ = w.conn.SetReadDeadline(time.Now().Add(tick))
		n, _, err := w.conn.ReadFromUDP(buf)
		now := time.Now()
		switch {
		case err == nil:
			if n < protocol.PacketSizeBytes || p.UnmarshalBinary(buf[:n]) != nil || p.Settings&0x7 != 4 {
				w.stray++
				break
			}
			cookie := uint64(p.OrigTimeSec)<<32 | uint64(p.OrigTimeFrac)
			w.mu.Lock()
			sentAt, ok := w.pending[cookie]
			delete(w.pending, cookie)
			w.mu.Unlock()
			if !ok {
				w.stray++
				break
			}
			<-w.slots
			w.replies++
			if p.Settings>>6 == 3 || p.Stratum == 0 {
				w.unsync++
			}
			w.latencies = append(w.latencies, now.Sub(sentAt))
			w.lastReply = now
		case errors.Is(err, os.ErrDeadlineExceeded):
		default:
			// A closed or broken socket: what is outstanding is lost.
			w.sweep(now, true)
			return
		}
		if now.Sub(lastSweep) >= tick {
			lastSweep = now
			w.sweep(now, false)
		}
		select {
		case <-w.sendingDone:
			w.mu.Lock()
			idle := len(w.pending) == 0
			w.mu.Unlock()
			if idle {
				return
			}
		default:
		}
		if ctx.Err() != nil {
			// Cancelled: give outstanding requests no more time.
			select {
			case <-w.sendingDone:
				w.sweep(now, true)
				return
			default:
			}
		}
	}
}

// sweep counts requests older than the timeout (or all, when all is set) as lost and frees
// their slots.
func (w *worker) sweep(now time.Time, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c, t := range w.pending {
		if all || now.Sub(t) >= w.timeout {
			delete(w.pending, c)
			w.lost++
			<-w.slots
		}
	}
}
