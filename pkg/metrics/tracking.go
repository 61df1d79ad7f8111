package metrics

import (
	fbchrony "github.com/facebook/time/ntp/chrony"

	"net"

	"github.com/chris-short/chrony/pkg/chrony"
)

const trackingSubsystem = "tracking"

var (
	trackingInfo = gauge(trackingSubsystem, "info", "Chrony tracking info",
		"tracking_address", "tracking_name", "tracking_refid")
	trackingLastOffset     = gauge(trackingSubsystem, "last_offset_seconds", "Chrony tracking last offset in seconds")
	trackingRefTime        = gauge(trackingSubsystem, "reference_timestamp_seconds", "Chrony tracking Reference timestamp")
	trackingSystemTime     = gauge(trackingSubsystem, "system_time_seconds", "Chrony tracking System time")
	trackingRemote         = gauge(trackingSubsystem, "remote_reference", "Chrony tracking is connected to a remote source")
	trackingRMSOffset      = gauge(trackingSubsystem, "rms_offset_seconds", "Chrony tracking long-term average of the offset")
	trackingRootDelay      = gauge(trackingSubsystem, "root_delay_seconds", "This is the total of the network path delays to the stratum-1 computer from which the computer is ultimately synchronised")
	trackingRootDispersion = gauge(trackingSubsystem, "root_dispersion_seconds", "Chrony tracking total of all measurement errors to the NTP root")
	trackingFrequency      = gauge(trackingSubsystem, "frequency_ppms", "Rate by which the system's clock would be wrong if chronyd was not correcting it, in PPMs")
	trackingResidualFreq   = gauge(trackingSubsystem, "residual_frequency_ppms", "For the currently selected reference source, the difference between the frequency it suggests and the one currently in use, in PPMs")
	trackingSkew           = gauge(trackingSubsystem, "skew_ppms", "The estimated error bound on the frequency, in PPMs")
	trackingUpdateInterval = gauge(trackingSubsystem, "update_interval_seconds", "The time elapsed since the last measurement from the reference source was processed, in seconds")
	trackingStratum        = gauge(trackingSubsystem, "stratum", "Chrony tracking client stratum")

	trackingDescs = []typedDesc{trackingInfo, trackingLastOffset, trackingRefTime, trackingSystemTime,
		trackingRemote, trackingRMSOffset, trackingRootDelay, trackingRootDispersion, trackingFrequency,
		trackingResidualFreq, trackingSkew, trackingUpdateInterval, trackingStratum}

	// trackingLocalIP is the address chronyd reports for its `local` reference.
	trackingLocalIP = net.IPv4(127, 127, 1, 1)
)

func collectTracking(s *scrape) error {
	t, err := chrony.Tracking(s.ctx, s.c)
	if err != nil {
		return err
	}
	// As chrony_exporter: with no address (local or refclock reference) both labels carry the
	// reference ID as text.
	address, name := t.IPAddr.String(), t.IPAddr.String()
	if t.IPAddr == nil {
		address = fbchrony.RefidToString(t.RefID)
		name = address
	} else {
		name = s.nameOf(address)
	}
	s.tracking = t
	remote := 1.0
	if t.IPAddr.Equal(trackingLocalIP) {
		remote = 0
	}
	ch := s.ch
	ch <- trackingInfo.metric(1, address, name, fbchrony.RefidAsHEX(t.RefID))
	ch <- trackingLastOffset.metric(t.LastOffset)
	ch <- trackingRefTime.metric(float64(t.RefTime.UnixNano()) / 1e9)
	ch <- trackingSystemTime.metric(t.CurrentCorrection)
	ch <- trackingRemote.metric(remote)
	ch <- trackingRMSOffset.metric(t.RMSOffset)
	ch <- trackingRootDelay.metric(t.RootDelay)
	ch <- trackingRootDispersion.metric(t.RootDispersion)
	ch <- trackingFrequency.metric(t.FreqPPM)
	ch <- trackingResidualFreq.metric(t.ResidFreqPPM)
	ch <- trackingSkew.metric(t.SkewPPM)
	ch <- trackingUpdateInterval.metric(t.LastUpdateInterval)
	ch <- trackingStratum.metric(float64(t.Stratum))
	return nil
}
