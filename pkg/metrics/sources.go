package metrics

import (
	"math"
	"math/bits"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
)

const sourcesSubsystem = "sources"

var (
	sourceLabels = []string{"source_address", "source_name"}

	sourcesLastRx            = gauge(sourcesSubsystem, "last_sample_age_seconds", "Chrony sources last good sample age in seconds", sourceLabels...)
	sourcesReachRatio        = gauge(sourcesSubsystem, "reachability_ratio", "Chrony sources ratio of packet reachability", sourceLabels...)
	sourcesReachSuccess      = gauge(sourcesSubsystem, "reachability_success", "Chrony sources last poll reachability success", sourceLabels...)
	sourcesLastSample        = gauge(sourcesSubsystem, "last_sample_offset_seconds", "Chrony sources last sample offset in seconds", sourceLabels...)
	sourcesLastSampleErr     = gauge(sourcesSubsystem, "last_sample_error_margin_seconds", "Chrony sources last sample margin of error in seconds", sourceLabels...)
	sourcesPollInterval      = gauge(sourcesSubsystem, "polling_interval_seconds", "Chrony sources polling interval in seconds", sourceLabels...)
	sourcesStateInfo         = gauge(sourcesSubsystem, "state_info", "Chrony sources state info", "source_address", "source_name", "source_state", "source_mode")
	sourcesStratum           = gauge(sourcesSubsystem, "stratum", "Chrony sources stratum", sourceLabels...)
	sourcesPeerOffset        = gauge(sourcesSubsystem, "peer_offset_seconds", "Chrony sources peer offset", sourceLabels...)
	sourcesPeerDelay         = gauge(sourcesSubsystem, "peer_delay_seconds", "Chrony sources peer delay", sourceLabels...)
	sourcesPeerDispersion    = gauge(sourcesSubsystem, "peer_dispersion_seconds", "Chrony sources peer dispersion", sourceLabels...)
	sourcesPeerResponseTime  = gauge(sourcesSubsystem, "peer_response_time_seconds", "Chrony sources peer response time", sourceLabels...)
	sourcesPeerJitterAsymmet = gauge(sourcesSubsystem, "peer_jitter_asymmetry_seconds", "Chrony sources peer jitter asymmetry", sourceLabels...)

	sourcesDescs = []typedDesc{sourcesLastRx, sourcesReachRatio, sourcesReachSuccess, sourcesLastSample,
		sourcesLastSampleErr, sourcesPollInterval, sourcesStateInfo, sourcesStratum, sourcesPeerOffset,
		sourcesPeerDelay, sourcesPeerDispersion, sourcesPeerResponseTime, sourcesPeerJitterAsymmet}
)

func collectSources(s *scrape) error {
	// All source lines first, then ntpdata, as chrony_exporter: a failure part way emits none.
	var srcs []fbchrony.SourceData
	n, err := chrony.EachSource(s.ctx, s.c, func(d *fbchrony.SourceData) bool { srcs = append(srcs, *d); return true })
	if n >= 0 {
		s.nSources = n
	}
	if err != nil {
		return err
	}
	if s.opts.SourceNames {
		s.askNames(srcs)
	}
	for i := range srcs {
		r := &srcs[i]
		if r.IPAddr.Family == fbchrony.IPAddrID {
			continue // not resolved yet: no address to label it with
		}
		address := chrony.SourceName(r)
		name := s.nameOf(address)
		reach := uint8(r.Reachability)
		ch := s.ch
		ch <- sourcesLastRx.metric(float64(r.SinceSample), address, name)
		ch <- sourcesReachRatio.metric(float64(bits.OnesCount8(reach))/8, address, name)
		ch <- sourcesReachSuccess.metric(float64(reach&1), address, name)
		ch <- sourcesLastSample.metric(r.LatestMeas, address, name)
		ch <- sourcesLastSampleErr.metric(r.LatestMeasErr, address, name)
		ch <- sourcesPollInterval.metric(math.Pow(2, float64(r.Poll)), address, name)
		ch <- sourcesStateInfo.metric(1, address, name, r.State.String(), r.Mode.String())
		ch <- sourcesStratum.metric(float64(r.Stratum), address, name)

		if r.Mode == fbchrony.SourceModeRef {
			continue // reference clocks have no NTP data
		}
		nd, err := chrony.NTPData(s.ctx, s.c, r.IPAddr)
		if err != nil {
			return err
		}
		ch <- sourcesPeerOffset.metric(nd.Offset, address, name)
		ch <- sourcesPeerDelay.metric(nd.PeerDelay, address, name)
		ch <- sourcesPeerResponseTime.metric(nd.ResponseTime, address, name)
		ch <- sourcesPeerDispersion.metric(nd.PeerDispersion, address, name)
		ch <- sourcesPeerJitterAsymmet.metric(nd.JitterAsymmetry, address, name)
	}
	return nil
}

// askNames fills s.names with the configured name of each NTP source. chronyd before 4.1
// does not know the request: the first failure stops asking, and sources keep their address.
func (s *scrape) askNames(srcs []fbchrony.SourceData) {
	s.names = make(map[string]string, len(srcs))
	for i := range srcs {
		r := &srcs[i]
		if r.Mode == fbchrony.SourceModeRef || r.IPAddr.Family == fbchrony.IPAddrID {
			continue
		}
		name, err := chrony.NTPSourceName(s.ctx, s.c, r.IPAddr)
		if err != nil {
			s.log.Debug("chrony scrape: no configured source names", zap.Error(err))
			return
		}
		if name != "" {
			s.names[r.IPAddr.String()] = name
		}
	}
}
