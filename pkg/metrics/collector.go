package metrics

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/health"
)

const namespace = "chrony"

// Conn is a connection to chronyd. *chrony.Client implements it.
type Conn interface {
	chrony.Communicator
	Close() error
}

// DialFunc opens a Conn. The Collector calls it at the first scrape and again only after a
// scrape failed, so a Conn serves many scrapes.
type DialFunc func(ctx context.Context) (Conn, error)

// DialSocket is a DialFunc for chronyd's command socket, binding the client socket under
// clientDir (see chrony.Dial).
func DialSocket(socketPath, clientDir string) DialFunc {
	return func(ctx context.Context) (Conn, error) { return chrony.Dial(ctx, socketPath, clientDir) }
}

// DefaultTimeout bounds a scrape's round of requests when Options.Timeout is not set.
const DefaultTimeout = 3 * time.Second

// DefaultWarnEvery bounds repeated warnings when Options.WarnEvery is not set.
const DefaultWarnEvery = time.Minute

// Options configure a Collector.
type Options struct {
	Dial    DialFunc
	Timeout time.Duration // whole round of requests; zero means DefaultTimeout
	Logger  *zap.Logger

	// MinInterval lets the last round answer scrapes that come less than MinInterval after it
	// ended, instead of asking chronyd again. Zero: every scrape that does not find a round
	// in flight starts one. Scrapes arriving while a round is in flight always share it.
	MinInterval time.Duration
	// WarnEvery bounds the log: a failure logged once is logged again at most once per
	// WarnEvery, with the count of scrapes that failed the same way meanwhile. Zero means
	// DefaultWarnEvery.
	WarnEvery time.Duration

	// Extended adds this project's series (chrony_container_leap_status,
	// chrony_container_clock_error_bound_seconds, chrony_container_ready) beside
	// chrony_exporter's.
	Extended bool
	// Ready judges chrony_container_ready on the collector's connection (Extended only); the
	// entrypoint passes health.Prober.ReadyOn, the judgement of `probe ready` and /readyz.
	// Nil: health.Ready with default thresholds.
	Ready func(context.Context, chrony.Communicator) health.Result
	// SourceNames labels sources (source_name, tracking_name) with the name chronyd was
	// configured with, asked over the command socket, where chrony_exporter shows a reverse
	// DNS name or the address. A source chronyd has no name for keeps its address.
	SourceNames bool
	// Clients adds chrony_exporter's clients collector (chrony_clients_*).
	Clients bool
}

// Collector is a prometheus.Collector asking chronyd at scrapes. It keeps one connection
// across scrapes, where the prober dials per request (a probe is often a process of its own),
// because that pays: on chronyd 4.3 with the entrypoint's options, dialling per scrape costs
// 12 % more of this process's CPU per scrape paced like Prometheus's (1.15 against 1.05 ms,
// medians of 10 paired runs, each paired difference positive; on 4.9, 19 %: 1.23 against 1.05
// ms, 6 runs) and 15 to 20 % back to back (0.64 against 0.53-0.57 ms), and 8 to 19 % more
// latency; chronyd's CPU did not measurably change (BenchmarkScrape, 2026-12-01). Dial and Close alone measure 20 µs: most of the
// difference is not the socket's setup but what follows on a fresh one. Concurrent scrapes
// share one round, so however many clients scrape /metrics, chronyd answers at most one round
// at a time. Close releases the connection.
type Collector struct {
	dial        DialFunc
	timeout     time.Duration
	minInterval time.Duration
	log         *zap.Logger
	warns       *warnLimiter
	opts        Options
	subs        []subCollector

	// turn is held (a token in the channel taken) by the one round using conn.
	turn chan struct{}
	conn Conn // nil until the first scrape, and after a failed one

	mu     sync.Mutex
	flight *flight // the round in progress, nil when none
	last   *flight // the last round finished

	waiting atomic.Int32 // scrapes waiting for the round in flight
}

// flight is one round of requests, shared by the scrapes that arrive while it runs.
type flight struct {
	done    chan struct{} // closed when metrics is set
	metrics []prometheus.Metric
	ended   time.Time
	up      bool // chronyd answered every request: only such a round answers later scrapes
}

// New returns a Collector.
func New(o Options) *Collector {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.WarnEvery <= 0 {
		o.WarnEvery = DefaultWarnEvery
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	c := &Collector{dial: o.Dial, timeout: o.Timeout, minInterval: o.MinInterval, log: o.Logger,
		warns: newWarnLimiter(o.Logger, o.WarnEvery), opts: o, turn: make(chan struct{}, 1)}
	c.subs = slices.Clone(subCollectors)
	if o.Clients {
		c.subs = append(c.subs, subCollector{"clients", collectClients, nil})
	}
	c.turn <- struct{}{}
	return c
}

// Close closes the connection kept between scrapes, removing its client socket. A later
// scrape dials again.
func (c *Collector) Close() error {
	<-c.turn
	defer func() { c.turn <- struct{}{} }()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// typedDesc pairs a descriptor with its value type, as chrony_exporter does.
type typedDesc struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
}

func (d typedDesc) metric(v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d.desc, d.valueType, v, labels...)
}

func gauge(subsystem, name, help string, labels ...string) typedDesc {
	return typedDesc{prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil), prometheus.GaugeValue}
}

func counter(subsystem, name, help string, labels ...string) typedDesc {
	return typedDesc{prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil), prometheus.CounterValue}
}

var upMetric = gauge("", "up", "Whether the chrony server is up.")

// scrape is the state of one round of requests.
type scrape struct {
	ctx  context.Context
	c    chrony.Communicator
	ch   chan<- prometheus.Metric
	log  *zap.Logger
	opts *Options
	// nSources is the `sources` count once asked, so sourcestats does not ask again.
	nSources int
	// names maps a source address to its configured name (Options.SourceNames).
	names map[string]string
	// tracking is the `tracking` report once asked, for the Extended series.
	tracking *fbchrony.Tracking
}

// nameOf is the label for a source at address: its configured name when known.
func (s *scrape) nameOf(address string) string {
	if n, ok := s.names[address]; ok {
		return n
	}
	return address
}

// subCollector is one chronyc request turned into metrics.
type subCollector struct {
	name    string
	collect func(s *scrape) error
	descs   []typedDesc
}

// subCollectors run in chrony_exporter's order.
var subCollectors = []subCollector{
	{"sources", collectSources, sourcesDescs},
	{"sourcestats", collectSourceStats, sourceStatsDescs},
	{"tracking", collectTracking, trackingDescs},
	{"serverstats", collectServerStats, serverStatsDescs},
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upMetric.desc
	for _, sc := range subCollectors {
		for _, d := range sc.descs {
			ch <- d.desc
		}
	}
	if c.opts.Clients {
		for _, d := range clientsDescs {
			ch <- d
		}
	}
	if c.opts.Extended {
		for _, d := range extendedDescs {
			ch <- d.desc
		}
	}
}

// Collect implements prometheus.Collector. A scrape that finds a round in flight waits for it
// and reports what it got; otherwise it runs a round (or, within Options.MinInterval of the
// last, reports that one).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.shared() {
		ch <- m
	}
}

func (c *Collector) shared() []prometheus.Metric {
	c.mu.Lock()
	if f := c.flight; f != nil {
		c.mu.Unlock()
		c.waiting.Add(1)
		defer c.waiting.Add(-1)
		t := time.NewTimer(c.timeout)
		defer t.Stop()
		select {
		case <-f.done:
			return f.metrics
		case <-t.C:
			// A round keeps its deadline unless a request ignores it; never hang a scrape on one.
			c.warns.warn("chrony scrape: the round in flight did not end by the deadline")
			return c.unanswered()
		}
	}
	// A failed round is never reused: the scrape after chronyd comes back (a restart, say)
	// asks it, rather than reporting the outage for another MinInterval.
	if l := c.last; l != nil && l.up && c.minInterval > 0 && time.Since(l.ended) < c.minInterval {
		c.mu.Unlock()
		return l.metrics
	}
	f := &flight{done: make(chan struct{})}
	c.flight = f
	c.mu.Unlock()

	f.metrics, f.up = c.collectRound()
	f.ended = time.Now()
	c.mu.Lock()
	c.flight, c.last = nil, f
	c.mu.Unlock()
	close(f.done)
	return f.metrics
}

// unanswered is what a scrape reports when chronyd was not asked or did not answer.
func (c *Collector) unanswered() []prometheus.Metric {
	ms := []prometheus.Metric{upMetric.metric(0)}
	if c.opts.Extended {
		ms = append(ms, readyMetric(health.Result{Code: health.CodeNoAnswer}))
	}
	return ms
}

// collectRound runs one round of requests and returns the metrics it made, and whether
// chronyd answered them all.
func (c *Collector) collectRound() ([]prometheus.Metric, bool) {
	ch := make(chan prometheus.Metric, 64)
	out := make(chan []prometheus.Metric, 1)
	go func() {
		var ms []prometheus.Metric
		for m := range ch {
			ms = append(ms, m)
		}
		out <- ms
	}()
	up := c.runRound(ch)
	close(ch)
	return <-out, up
}

// runRound is one round on the kept connection. chrony_up is 0 when chronyd cannot be reached
// or any request fails; the connection is then dropped and the next round dials afresh. A
// kept connection that fails before chronyd answered anything (chronyd restarted and its
// socket is a new one) is redialled at once, so a restart does not cost a scrape.
func (c *Collector) runRound(ch chan<- prometheus.Metric) (answered bool) {
	up := 0.0
	readyDone := false
	defer func() {
		ch <- upMetric.metric(up)
		if c.opts.Extended && !readyDone {
			ch <- readyMetric(health.Result{Code: health.CodeNoAnswer})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	select {
	case <-c.turn:
		defer func() { c.turn <- struct{}{} }()
	case <-ctx.Done():
		c.warns.warn("chrony scrape: the connection was held until the deadline", zap.Error(ctx.Err()))
		return
	}
	reused := c.conn != nil
	if !reused {
		if !c.redial(ctx) {
			return
		}
	}
	failures, s := c.round(ctx, ch)
	if reused && failures != nil && failures.answered == 0 && ctx.Err() == nil {
		c.log.Debug("chrony scrape: kept connection failed, dialling again", zap.Error(failures.errs[0].err))
		if !c.redial(ctx) {
			return
		}
		failures, s = c.round(ctx, ch)
	}
	if c.opts.Extended {
		c.extended(s)
		readyDone = true
	}
	if failures == nil {
		up = 1
		c.warns.recovered("chrony scrape: chronyd answers again")
		return true
	}
	for _, f := range failures.errs {
		c.warns.warnKeyed("collector failed: "+f.name, "chrony scrape: collector failed", zap.String("collector", f.name), zap.Error(f.err))
	}
	_ = c.conn.Close()
	c.conn = nil
	return false
}

// redial replaces the kept connection; false (and a warning) when chronyd cannot be reached.
func (c *Collector) redial(ctx context.Context) bool {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	conn, err := c.dial(ctx)
	if err != nil {
		c.warns.warn("chrony scrape: cannot reach chronyd", zap.Error(err))
		return false
	}
	c.conn = conn
	return true
}

// roundFailures says what failed in a round, and how many requests chronyd answered in it.
type roundFailures struct {
	answered int
	errs     []collectorErr
}

type collectorErr struct {
	name string
	err  error
}

// round runs every subCollector on c.conn; nil failures when all succeeded. A round whose
// first request fails emits no metric, so it can be run again.
func (c *Collector) round(ctx context.Context, ch chan<- prometheus.Metric) (*roundFailures, *scrape) {
	cc := &countingComm{c: c.conn}
	s := &scrape{ctx: ctx, c: cc, ch: ch, log: c.log, opts: &c.opts, nSources: -1}
	var f *roundFailures
	for _, sc := range c.subs {
		if err := sc.collect(s); err != nil {
			if f == nil {
				f = &roundFailures{}
			}
			f.errs = append(f.errs, collectorErr{sc.name, err})
		}
	}
	if f != nil {
		f.answered = cc.answered
	}
	return f, s
}

// countingComm counts the requests chronyd answered.
type countingComm struct {
	c        chrony.Communicator
	answered int
}

func (cc *countingComm) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	resp, err := cc.c.Communicate(ctx, req)
	if err == nil {
		cc.answered++
	}
	return resp, err
}
