package metrics

import (
	"context"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
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

// Options configure a Collector.
type Options struct {
	Dial    DialFunc
	Timeout time.Duration // whole round of requests; zero means DefaultTimeout
	Logger  *zap.Logger
}

// Collector is a prometheus.Collector asking chronyd at every scrape. It keeps one connection
// across scrapes: a Unix client socket costs a mkdir, a bind, two chmods and two unlinks, more
// than the round of requests itself. Close releases it.
type Collector struct {
	dial    DialFunc
	timeout time.Duration
	log     *zap.Logger

	// turn is held (a token in the channel taken) by the one scrape using conn, so that
	// scrapes waiting their turn still give up at their deadline.
	turn chan struct{}
	conn Conn // nil until the first scrape, and after a failed one
}

// New returns a Collector.
func New(o Options) *Collector {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	c := &Collector{dial: o.Dial, timeout: o.Timeout, log: o.Logger, turn: make(chan struct{}, 1)}
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
	ctx context.Context
	c   chrony.Communicator
	ch  chan<- prometheus.Metric
	log *zap.Logger
	// nSources is the `sources` count once asked, so sourcestats does not ask again.
	nSources int
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
}

// Collect implements prometheus.Collector: one round of requests on the kept connection.
// chrony_up is 0 when chronyd cannot be reached or any request fails; the connection is then
// dropped and the next scrape dials afresh. A kept connection that fails before chronyd
// answered anything (chronyd restarted and its socket is a new one) is redialled at once, so a
// restart does not cost a scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	defer func() { ch <- upMetric.metric(up) }()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	select {
	case <-c.turn:
		defer func() { c.turn <- struct{}{} }()
	case <-ctx.Done():
		c.log.Warn("chrony scrape: another scrape held the connection until the deadline", zap.Error(ctx.Err()))
		return
	}
	reused := c.conn != nil
	if !reused {
		if !c.redial(ctx) {
			return
		}
	}
	failures := c.round(ctx, ch)
	if reused && failures != nil && failures.answered == 0 && ctx.Err() == nil {
		c.log.Debug("chrony scrape: kept connection failed, dialling again", zap.Error(failures.errs[0].err))
		if !c.redial(ctx) {
			return
		}
		failures = c.round(ctx, ch)
	}
	if failures == nil {
		up = 1
		return
	}
	for _, f := range failures.errs {
		c.log.Warn("chrony scrape: collector failed", zap.String("collector", f.name), zap.Error(f.err))
	}
	_ = c.conn.Close()
	c.conn = nil
}

// redial replaces the kept connection; false (and a warning) when chronyd cannot be reached.
func (c *Collector) redial(ctx context.Context) bool {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	conn, err := c.dial(ctx)
	if err != nil {
		c.log.Warn("chrony scrape: cannot reach chronyd", zap.Error(err))
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

// round runs every subCollector on c.conn; nil when all succeeded. A round whose first
// request fails emits no metric, so it can be run again.
func (c *Collector) round(ctx context.Context, ch chan<- prometheus.Metric) *roundFailures {
	cc := &countingComm{c: c.conn}
	s := &scrape{ctx: ctx, c: cc, ch: ch, log: c.log, nSources: -1}
	var f *roundFailures
	for _, sc := range subCollectors {
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
	return f
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
