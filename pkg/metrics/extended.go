package metrics

import (
	"context"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/health"
)

// This project's series where chrony_exporter has no equivalent (Options.Extended), under
// the chrony_container_ prefix so they never clash with its names.
var (
	leapStatusDesc = gauge(containerSubsystem, "leap_status",
		"chronyd's leap status: 1 for the current one of normal, insert_second, delete_second, unsynchronised.", "status")
	clockErrorBoundDesc = gauge(containerSubsystem, "clock_error_bound_seconds",
		"Bound on the clock's error: |last offset| + root dispersion + root delay / 2, as chrony_exporter's recording rule computes it.")
	readyDesc = gauge(containerSubsystem, "ready",
		"Whether chronyd serves trustworthy time (1), judged as `entrypoint probe ready` and /readyz do; reason says why in one word.", "reason")

	extendedDescs = []typedDesc{leapStatusDesc, clockErrorBoundDesc, readyDesc}

	// leapStatuses are chronyd's leap status values 0 to 3 as label values.
	leapStatuses = []string{"normal", "insert_second", "delete_second", "unsynchronised"}
)

// extended emits the Extended series after a round: leap status and error bound from the
// tracking report the round got (none when it got none), and the readiness judgement of
// pkg/health asked on the same connection.
func (c *Collector) extended(s *scrape) {
	if t := s.tracking; t != nil {
		for i, name := range leapStatuses {
			v := 0.0
			if int(t.LeapStatus) == i {
				v = 1
			}
			s.ch <- leapStatusDesc.metric(v, name)
		}
		s.ch <- clockErrorBoundDesc.metric(math.Abs(t.LastOffset) + t.RootDispersion + t.RootDelay/2)
	}
	judge := c.opts.Ready
	if judge == nil {
		judge = func(ctx context.Context, c chrony.Communicator) health.Result {
			return health.Ready(ctx, c, health.Thresholds{})
		}
	}
	res := judge(s.ctx, s.c)
	if res.Err != nil {
		c.warns.warn("chrony scrape: readiness not judged", zap.Error(res.Err))
	}
	s.ch <- readyMetric(res)
}

func readyMetric(r health.Result) prometheus.Metric {
	v := 0.0
	if r.OK {
		v = 1
	}
	code := r.Code
	if code == "" {
		code = health.CodeNoAnswer
	}
	return readyDesc.metric(v, string(code))
}
