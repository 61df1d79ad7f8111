package chrony

import (
	"context"
	"fmt"

	fbchrony "github.com/facebook/time/ntp/chrony"
)

// Tracking asks for chronyd's `tracking` report.
func Tracking(ctx context.Context, c Communicator) (*fbchrony.Tracking, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewTrackingPacket())
	if err != nil {
		return nil, fmt.Errorf("get 'tracking' response: %w", err)
	}
	r, ok := resp.(*fbchrony.ReplyTracking)
	if !ok {
		return nil, unexpected("tracking", resp)
	}
	return &r.Tracking, nil
}

// NSources asks how many sources chronyd has.
func NSources(ctx context.Context, c Communicator) (int, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewSourcesPacket())
	if err != nil {
		return 0, fmt.Errorf("get 'sources' response: %w", err)
	}
	r, ok := resp.(*fbchrony.ReplySources)
	if !ok {
		return 0, unexpected("sources", resp)
	}
	return r.NSources, nil
}

// SourceData asks for the `sources` line of source i (0-based).
func SourceData(ctx context.Context, c Communicator, i int) (*fbchrony.SourceData, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewSourceDataPacket(int32(i)))
	if err != nil {
		return nil, fmt.Errorf("get 'sourcedata' response for source %d: %w", i, err)
	}
	r, ok := resp.(*fbchrony.ReplySourceData)
	if !ok {
		return nil, unexpected("sourcedata", resp)
	}
	return &r.SourceData, nil
}

// Sources asks for the count of sources and then each one, in chronyd's order.
func Sources(ctx context.Context, c Communicator) ([]fbchrony.SourceData, error) {
	out := []fbchrony.SourceData{}
	if _, err := EachSource(ctx, c, func(s *fbchrony.SourceData) bool { out = append(out, *s); return true }); err != nil {
		return nil, err
	}
	return out, nil
}

// EachSource asks for the count of sources, then for each source in chronyd's order, handing
// it to each until each returns false. n is the count chronyd reported, known even when a
// later request fails; -1 when the count itself could not be had.
func EachSource(ctx context.Context, c Communicator, each func(*fbchrony.SourceData) bool) (n int, err error) {
	n, err = NSources(ctx, c)
	if err != nil {
		return -1, err
	}
	for i := range n {
		s, err := SourceData(ctx, c, i)
		if err != nil {
			return n, err
		}
		if !each(s) {
			break
		}
	}
	return n, nil
}

// Activity asks for chronyd's `activity` report: how many sources are online, offline, and
// without an address (a host name not resolved yet), which `sources` does not list at all.
func Activity(ctx context.Context, c Communicator) (*fbchrony.Activity, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewActivityPacket())
	if err != nil {
		return nil, fmt.Errorf("get 'activity' response: %w", err)
	}
	r, ok := resp.(*fbchrony.ReplyActivity)
	if !ok {
		return nil, unexpected("activity", resp)
	}
	return &r.Activity, nil
}

// NTPSourceName asks for the name an NTP source was configured with (chrony 4.1+). chronyd
// lists a source whose name it has not resolved yet under a placeholder address (family
// IPAddrID, shown as "ID#<n>"), and this request still gives its name.
func NTPSourceName(ctx context.Context, c Communicator, addr *fbchrony.IPAddr) (string, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewNTPSourceNamePacket(addr))
	if err != nil {
		return "", fmt.Errorf("get 'sourcename' response for %s: %w", addr, err)
	}
	r, ok := resp.(*fbchrony.ReplyNTPSourceName)
	if !ok {
		return "", unexpected("sourcename", resp)
	}
	return r.Name, nil
}

// SourceStats asks for the `sourcestats` line of source i (0-based).
func SourceStats(ctx context.Context, c Communicator, i int) (*fbchrony.SourceStats, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewSourceStatsPacket(int32(i)))
	if err != nil {
		return nil, fmt.Errorf("get 'sourcestats' response for source %d: %w", i, err)
	}
	r, ok := resp.(*fbchrony.ReplySourceStats)
	if !ok {
		return nil, unexpected("sourcestats", resp)
	}
	return &r.SourceStats, nil
}

// NTPData asks for the `ntpdata` of the NTP source at addr (Unix socket only). chrony up to
// 4.5 replies NTPData, 4.6+ NTPData2; both come back as NTPData2, whose four extra
// timestamp counters stay zero for the older shape.
func NTPData(ctx context.Context, c Communicator, addr *fbchrony.IPAddr) (*fbchrony.NTPData2, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewNTPDataPacket(addr))
	if err != nil {
		return nil, fmt.Errorf("get 'ntpdata' response for %s: %w", addr, err)
	}
	switch r := resp.(type) {
	case *fbchrony.ReplyNTPData:
		return &fbchrony.NTPData2{NTPData: r.NTPData}, nil
	case *fbchrony.ReplyNTPData2:
		return &r.NTPData2, nil
	default:
		return nil, unexpected("ntpdata", resp)
	}
}

// ServerStats is chronyd's `serverstats` report in one shape, whichever of the four reply
// versions chronyd sent. Fields the version does not carry are zero.
type ServerStats struct {
	// Version is the reply shape: 1 (before 4.0), 2 (4.0), 3 (4.1 to 4.3), 4 (4.4 and later).
	Version int

	NTPHits, CMDHits, NTPDrops, CMDDrops, LogDrops uint64 // every version
	NKEHits, NKEDrops, NTPAuthHits                 uint64 // version 2+
	NTPInterleavedHits, NTPTimestamps              uint64 // version 3+
	NTPSpanSeconds                                 uint64 // version 3+

	// Version 4+.
	NTPDaemonRxTimestamps, NTPDaemonTxTimestamps uint64
	NTPKernelRxTimestamps, NTPKernelTxTimestamps uint64
	NTPHwRxTimestamps, NTPHwTxTimestamps         uint64
}

// GetServerStats asks for chronyd's `serverstats` report (Unix socket only before chrony 4.7).
func GetServerStats(ctx context.Context, c Communicator) (*ServerStats, error) {
	resp, err := c.Communicate(ctx, fbchrony.NewServerStatsPacket())
	if err != nil {
		return nil, fmt.Errorf("get 'serverstats' response: %w", err)
	}
	return normaliseServerStats(resp)
}

func normaliseServerStats(resp fbchrony.ResponsePacket) (*ServerStats, error) {
	switch r := resp.(type) {
	case *fbchrony.ReplyServerStats:
		return &ServerStats{Version: 1,
			NTPHits: uint64(r.NTPHits), CMDHits: uint64(r.CMDHits), NTPDrops: uint64(r.NTPDrops),
			CMDDrops: uint64(r.CMDDrops), LogDrops: uint64(r.LogDrops)}, nil
	case *fbchrony.ReplyServerStats2:
		return &ServerStats{Version: 2,
			NTPHits: uint64(r.NTPHits), CMDHits: uint64(r.CMDHits), NTPDrops: uint64(r.NTPDrops),
			CMDDrops: uint64(r.CMDDrops), LogDrops: uint64(r.LogDrops),
			NKEHits: uint64(r.NKEHits), NKEDrops: uint64(r.NKEDrops), NTPAuthHits: uint64(r.NTPAuthHits)}, nil
	case *fbchrony.ReplyServerStats3:
		return &ServerStats{Version: 3,
			NTPHits: uint64(r.NTPHits), CMDHits: uint64(r.CMDHits), NTPDrops: uint64(r.NTPDrops),
			CMDDrops: uint64(r.CMDDrops), LogDrops: uint64(r.LogDrops),
			NKEHits: uint64(r.NKEHits), NKEDrops: uint64(r.NKEDrops), NTPAuthHits: uint64(r.NTPAuthHits),
			NTPInterleavedHits: uint64(r.NTPInterleavedHits), NTPTimestamps: uint64(r.NTPTimestamps),
			NTPSpanSeconds: uint64(r.NTPSpanSeconds)}, nil
	case *fbchrony.ReplyServerStats4:
		return &ServerStats{Version: 4,
			NTPHits: r.NTPHits, CMDHits: r.CMDHits, NTPDrops: r.NTPDrops,
			CMDDrops: r.CMDDrops, LogDrops: r.LogDrops,
			NKEHits: r.NKEHits, NKEDrops: r.NKEDrops, NTPAuthHits: r.NTPAuthHits,
			NTPInterleavedHits: r.NTPInterleavedHits, NTPTimestamps: r.NTPTimestamps,
			NTPSpanSeconds:        r.NTPSpanSeconds,
			NTPDaemonRxTimestamps: r.NTPDaemonRxtimestamps, NTPDaemonTxTimestamps: r.NTPDaemonTxtimestamps,
			NTPKernelRxTimestamps: r.NTPKernelRxtimestamps, NTPKernelTxTimestamps: r.NTPKernelTxtimestamps,
			NTPHwRxTimestamps: r.NTPHwRxTimestamps, NTPHwTxTimestamps: r.NTPHwTxTimestamps}, nil
	default:
		return nil, unexpected("serverstats", resp)
	}
}

func unexpected(what string, resp fbchrony.ResponsePacket) error {
	if resp == nil {
		return fmt.Errorf("get '%s' response: empty reply", what)
	}
	return fmt.Errorf("get '%s' response: unexpected reply type %d to command %d", what, resp.GetType(), resp.GetCommand())
}
