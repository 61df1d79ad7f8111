package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
)

const namespace = "chrony"

// Conn is one connection to chronyd for one scrape. *chrony.Client implements it.
type Conn interface {
	chrony.Communicator
	Close() error
}

// DialFunc opens a Conn for one scrape.
type DialFunc func(ctx context.Context) (Conn, error)

// DialSocket is a DialFunc for chronyd's command socket, binding client sockets under
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

// Collector is a prometheus.Collector asking chronyd at every scrape.
type Collector struct {
	dial    DialFunc
	timeout time.Duration
	log     *zap.Logger
}

// New returns a Collector.
func New(o Options) *Collector {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Collector{dial: o.Dial, timeout: o.Timeout, log: o.Logger}
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

// Collect implements prometheus.Collector: one connection, one round of requests.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	defer func() { ch <- upMetric.metric(up) }()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	conn, err := c.dial(ctx)
	if err != nil {
		c.log.Warn("chrony scrape: cannot reach chronyd", zap.Error(err))
		return
	}
	defer conn.Close()
	s := &scrape{ctx: ctx, c: conn, ch: ch, log: c.log, nSources: -1}
	up = 1
	for _, sc := range subCollectors {
		if err := sc.collect(s); err != nil {
			c.log.Warn("chrony scrape: collector failed", zap.String("collector", sc.name), zap.Error(err))
			up = 0
		}
	}
}
