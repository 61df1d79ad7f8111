package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The container's own facts (the entrypoint's decisions and its build), which chrony_exporter
// cannot know, under a prefix of their own so they never clash with its names.
const containerSubsystem = "container"

var (
	clockControlDesc = gauge(containerSubsystem, "clock_control",
		"Whether chronyd may discipline the system clock (1) or runs with -x (0); reason says why.", "reason")
	startTimeDesc = gauge(containerSubsystem, "chronyd_start_time_seconds",
		"Start time of the running chronyd since the Unix epoch, in seconds.")
	buildInfoDesc = gauge(containerSubsystem, "build_info",
		"The entrypoint's build: version, revision and Go version.", "version", "revision", "goversion")
)

// ContainerFacts is what the entrypoint decided and saw of chronyd, asked at a scrape.
type ContainerFacts struct {
	ClockControl       bool
	ClockControlReason string    // one word of a fixed set (preflight.ClockCode*); the sentence goes to the log
	StartTime          time.Time // of the running chronyd; zero when none runs
}

// BuildInfo is the entrypoint's build.
type BuildInfo struct {
	Version, Revision, GoVersion string
}

// ContainerCollector exports ContainerFacts (asked at each scrape) and BuildInfo.
type ContainerCollector struct {
	facts func() ContainerFacts
	build BuildInfo
}

// NewContainerCollector returns a collector that calls facts at each scrape (nil: build info
// only). facts must be safe to call from any goroutine.
func NewContainerCollector(facts func() ContainerFacts, build BuildInfo) *ContainerCollector {
	return &ContainerCollector{facts: facts, build: build}
}

// Describe implements prometheus.Collector.
func (c *ContainerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []typedDesc{clockControlDesc, startTimeDesc, buildInfoDesc} {
		ch <- d.desc
	}
}

// Collect implements prometheus.Collector.
func (c *ContainerCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- buildInfoDesc.metric(1, c.build.Version, c.build.Revision, c.build.GoVersion)
	if c.facts == nil {
		return
	}
	f := c.facts()
	on := 0.0
	if f.ClockControl {
		on = 1
	}
	ch <- clockControlDesc.metric(on, f.ClockControlReason)
	if !f.StartTime.IsZero() {
		ch <- startTimeDesc.metric(float64(f.StartTime.UnixNano()) / 1e9)
	}
}

// NewRegistry is a registry holding cs.
func NewRegistry(cs ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// GoProcessCollectors are the Go runtime (go_*) and process (process_*) collectors that
// chrony_exporter serves by default: the entrypoint's own runtime, not chrony's.
func GoProcessCollectors() []prometheus.Collector {
	return []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
}
