package metrics

import (
	"github.com/chris-short/chrony/pkg/chrony"
)

const serverStatsSubsystem = "serverstats"

var (
	serverStatsNTPHits     = counter(serverStatsSubsystem, "ntp_packets_received_total", "The number of valid NTP requests received by the server.")
	serverStatsNKEHits     = counter(serverStatsSubsystem, "nts_ke_connections_accepted_total", "The number of NTS-KE connections accepted by the server.")
	serverStatsCMDHits     = counter(serverStatsSubsystem, "command_packets_received_total", "The number of command requests received by the server.")
	serverStatsNTPDrops    = counter(serverStatsSubsystem, "ntp_packets_dropped_total", "The number of NTP requests dropped by the server due to rate limiting.")
	serverStatsNKEDrops    = counter(serverStatsSubsystem, "nts_ke_connections_dropped_total", "The number of NTS-KE connections dropped by the server due to rate limiting.")
	serverStatsCMDDrops    = counter(serverStatsSubsystem, "command_packets_dropped_total", "The number of command requests dropped by the server due to rate limiting.")
	serverStatsLogDrops    = counter(serverStatsSubsystem, "client_log_records_dropped_total", "The number of client log records dropped by the server to limit the memory use.")
	serverStatsNTPAuthHits = counter(serverStatsSubsystem, "authenticated_ntp_packets_total", "The number of received NTP requests that were authenticated (with a symmetric key or NTS).")
	serverStatsInterleaved = counter(serverStatsSubsystem, "interleaved_ntp_packets_total", "The number of received NTP requests that were detected to be in the interleaved mode.")
	serverStatsTimestamps  = gauge(serverStatsSubsystem, "ntp_timestamps_held", "The number of pairs of receive and transmit timestamps that the server is currently holding in memory for clients using the interleaved mode.")
	serverStatsSpanSeconds = gauge(serverStatsSubsystem, "ntp_timestamp_span_seconds", "The interval (in seconds) covered by the currently held NTP timestamps.")
	serverStatsDaemonRx    = counter(serverStatsSubsystem, "ntp_daemon_rx_timestamps_total", "The number of NTP responses which included a receive timestamp captured by the daemon.")
	serverStatsDaemonTx    = counter(serverStatsSubsystem, "ntp_daemon_tx_timestamps_total", "The number of NTP responses which included a transmit timestamp captured by the daemon.")
	serverStatsKernelRx    = counter(serverStatsSubsystem, "ntp_kernel_rx_timestamps_total", "The number of NTP responses which included a receive timestamp captured by the kernel.")
	serverStatsKernelTx    = counter(serverStatsSubsystem, "ntp_kernel_tx_timestamps_total", "The number of NTP responses (in the interleaved mode) which included a transmit timestamp captured by the kernel.")
	serverStatsHwRx        = counter(serverStatsSubsystem, "ntp_hw_rx_timestamps_total", "The number of NTP responses which included a receive timestamp captured by the NIC.")
	serverStatsHwTx        = counter(serverStatsSubsystem, "ntp_hw_tx_timestamps_total", "The number of NTP responses (in the interleaved mode) which included a transmit timestamp captured by the NIC.")
	serverStatsDescs       = []typedDesc{serverStatsNTPHits, serverStatsNKEHits, serverStatsCMDHits, serverStatsNTPDrops,
		serverStatsNKEDrops, serverStatsCMDDrops, serverStatsLogDrops, serverStatsNTPAuthHits, serverStatsInterleaved,
		serverStatsTimestamps, serverStatsSpanSeconds, serverStatsDaemonRx, serverStatsDaemonTx, serverStatsKernelRx,
		serverStatsKernelTx, serverStatsHwRx, serverStatsHwTx}
)

// collectServerStats emits what the reply version carries: chrony 4.3 sends version 3, 4.4+
// version 4 with the timestamp counters.
func collectServerStats(s *scrape) error {
	st, err := chrony.GetServerStats(s.ctx, s.c)
	if err != nil {
		return err
	}
	ch := s.ch
	ch <- serverStatsNTPHits.metric(float64(st.NTPHits))
	ch <- serverStatsCMDHits.metric(float64(st.CMDHits))
	ch <- serverStatsNTPDrops.metric(float64(st.NTPDrops))
	ch <- serverStatsCMDDrops.metric(float64(st.CMDDrops))
	ch <- serverStatsLogDrops.metric(float64(st.LogDrops))
	if st.Version >= 2 {
		ch <- serverStatsNKEHits.metric(float64(st.NKEHits))
		ch <- serverStatsNKEDrops.metric(float64(st.NKEDrops))
		ch <- serverStatsNTPAuthHits.metric(float64(st.NTPAuthHits))
	}
	if st.Version >= 3 {
		ch <- serverStatsInterleaved.metric(float64(st.NTPInterleavedHits))
		ch <- serverStatsTimestamps.metric(float64(st.NTPTimestamps))
		ch <- serverStatsSpanSeconds.metric(float64(st.NTPSpanSeconds))
	}
	if st.Version >= 4 {
		ch <- serverStatsDaemonRx.metric(float64(st.NTPDaemonRxTimestamps))
		ch <- serverStatsDaemonTx.metric(float64(st.NTPDaemonTxTimestamps))
		ch <- serverStatsKernelRx.metric(float64(st.NTPKernelRxTimestamps))
		ch <- serverStatsKernelTx.metric(float64(st.NTPKernelTxTimestamps))
		ch <- serverStatsHwRx.metric(float64(st.NTPHwRxTimestamps))
		ch <- serverStatsHwTx.metric(float64(st.NTPHwTxTimestamps))
	}
	return nil
}
