package metrics

import (
	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/pkg/chrony"
)

const sourceStatsSubsystem = "sourcestats"

var (
	sourceStatsNSamples  = gauge(sourceStatsSubsystem, "samples", "The number of sample points currently being retained for the server. (NP)", sourceLabels...)
	sourceStatsNRuns     = gauge(sourceStatsSubsystem, "runs", "The number of runs of residuals having the same sign following the last regression. (NR)", sourceLabels...)
	sourceStatsSpan      = gauge(sourceStatsSubsystem, "span_seconds", "The interval between the oldest and newest samples in seconds", sourceLabels...)
	sourceStatsStdDev    = gauge(sourceStatsSubsystem, "stddev", "The estimated sample standard deviation.", sourceLabels...)
	sourceStatsFrequency = gauge(sourceStatsSubsystem, "frequency_ppms", "The estimated residual frequency for the server, in parts per million.", sourceLabels...)
	sourceStatsFreqSkew  = gauge(sourceStatsSubsystem, "frequency_skew_ppms", "The estimated error bounds on Freq (again in parts per million).", sourceLabels...)
	sourceStatsOffset    = gauge(sourceStatsSubsystem, "offset", "The estimated offset of the source.", sourceLabels...)

	sourceStatsDescs = []typedDesc{sourceStatsNSamples, sourceStatsNRuns, sourceStatsSpan, sourceStatsStdDev,
		sourceStatsFrequency, sourceStatsFreqSkew, sourceStatsOffset}
)

func collectSourceStats(s *scrape) error {
	n := s.nSources
	if n < 0 { // the sources request failed: ask for the count ourselves
		var err error
		if n, err = chrony.NSources(s.ctx, s.c); err != nil {
			return err
		}
	}
	stats := make([]fbchrony.SourceStats, 0, n)
	for i := range n {
		st, err := chrony.SourceStats(s.ctx, s.c, i)
		if err != nil {
			return err
		}
		stats = append(stats, *st)
	}
	for i := range stats {
		r := &stats[i]
		if r.IPAddr.Family == fbchrony.IPAddrUnspec {
			continue // reference clocks carry no address here, as in chrony_exporter
		}
		address := r.IPAddr.String()
		name := s.nameOf(address)
		ch := s.ch
		ch <- sourceStatsNSamples.metric(float64(r.NSamples), address, name)
		ch <- sourceStatsNRuns.metric(float64(r.NRuns), address, name)
		ch <- sourceStatsSpan.metric(float64(r.SpanSeconds), address, name)
		ch <- sourceStatsStdDev.metric(r.StandardDeviation, address, name)
		ch <- sourceStatsFrequency.metric(r.ResidFreqPPM, address, name)
		ch <- sourceStatsFreqSkew.metric(r.SkewPPM, address, name)
		ch <- sourceStatsOffset.metric(r.EstimatedOffset, address, name)
	}
	return nil
}
