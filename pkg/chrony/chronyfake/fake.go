// Package chronyfake is a stand-in chronyd for tests of code that takes a
// chrony.Communicator: it answers each request from canned fbchrony.Reply* values, as
// chronyd 4.3 or 4.6+ would, without a socket.
package chronyfake

import (
	"context"
	"fmt"
	"sync"

	fbchrony "github.com/facebook/time/ntp/chrony"
)

// Fake answers requests from its fields. A nil field answers with Err, or an error saying
// that chronyd would not have answered.
type Fake struct {
	Tracking    *fbchrony.ReplyTracking
	Sources     []fbchrony.ReplySourceData
	SourceStats []fbchrony.ReplySourceStats
	// NTPData maps a source address (IPAddr.String()) to a *ReplyNTPData or *ReplyNTPData2.
	NTPData map[string]fbchrony.ResponsePacket
	// ServerStats is a *ReplyServerStats, 2, 3 or 4.
	ServerStats fbchrony.ResponsePacket
	// Names maps a source address (IPAddr.String(), "ID#0000000001" for an unresolved one)
	// to the name `sourcename` answers.
	Names map[string]string
	// Activity answers `activity`; nil answers as a chronyd whose sources all have an
	// address (every one online), since every chronyd 4.x answers this request.
	Activity *fbchrony.ReplyActivity
	// Clients is chronyd's client log, answered 8 to a page as chronyd does.
	Clients []fbchrony.ClientAccess
	// Fail maps a request kind ("tracking", "sources", "sourcedata", "sourcestats",
	// "ntpdata", "serverstats", "activity", "sourcename", "clients") to the error that
	// request returns.
	Fail map[string]error

	mu    sync.Mutex
	calls map[string]int
}

// Calls is how many requests of a kind the fake has answered or failed.
func (f *Fake) Calls(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[kind]
}

// Communicate answers req from the canned values.
func (f *Fake) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kind := kindOf(req)
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[kind]++
	f.mu.Unlock()
	if err := f.Fail[kind]; err != nil {
		return nil, err
	}
	switch r := req.(type) {
	case *fbchrony.RequestTracking:
		if f.Tracking != nil {
			return f.Tracking, nil
		}
	case *fbchrony.RequestSources:
		return &fbchrony.ReplySources{NSources: len(f.Sources)}, nil
	case *fbchrony.RequestSourceData:
		if int(r.Index) < len(f.Sources) {
			return &f.Sources[r.Index], nil
		}
		return nil, fmt.Errorf("got status NOSUCHSOURCE (4)")
	case *fbchrony.RequestSourceStats:
		if int(r.Index) < len(f.SourceStats) {
			return &f.SourceStats[r.Index], nil
		}
		return nil, fmt.Errorf("got status NOSUCHSOURCE (4)")
	case *fbchrony.RequestNTPData:
		if p, ok := f.NTPData[r.IPAddr.String()]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("got status NOSUCHSOURCE (4)")
	case *fbchrony.RequestServerStats:
		if f.ServerStats != nil {
			return f.ServerStats, nil
		}
	case *fbchrony.RequestNTPSourceName:
		if n, ok := f.Names[r.IPAddr.String()]; ok {
			return &fbchrony.ReplyNTPSourceName{NTPSourceName: fbchrony.NTPSourceName{Name: n}}, nil
		}
		return nil, fmt.Errorf("got status NOSUCHSOURCE (4)")
	case *fbchrony.RequestActivity:
		if f.Activity != nil {
			return f.Activity, nil
		}
		return &fbchrony.ReplyActivity{Activity: fbchrony.Activity{Online: int32(len(f.Sources))}}, nil
	case *fbchrony.RequestClientAccessesByIndex:
		return f.clientsPage(r.FirstIndex), nil
	}
	return nil, fmt.Errorf("chronyfake: no canned reply for %s", kind)
}

func kindOf(req fbchrony.RequestPacket) string {
	switch req.(type) {
	case *fbchrony.RequestTracking:
		return "tracking"
	case *fbchrony.RequestSources:
		return "sources"
	case *fbchrony.RequestSourceData:
		return "sourcedata"
	case *fbchrony.RequestSourceStats:
		return "sourcestats"
	case *fbchrony.RequestNTPData:
		return "ntpdata"
	case *fbchrony.RequestServerStats:
		return "serverstats"
	case *fbchrony.RequestActivity:
		return "activity"
	case *fbchrony.RequestNTPSourceName:
		return "sourcename"
	case *fbchrony.RequestClientAccessesByIndex:
		return "clients"
	}
	return fmt.Sprintf("command %d", req.GetCommand())
}

// IPv4 is a chrony IPAddr for a dotted IPv4 address, for building canned replies.
func IPv4(a, b, c, d byte) *fbchrony.IPAddr {
	return &fbchrony.IPAddr{IP: [16]uint8{a, b, c, d}, Family: fbchrony.IPAddrInet4}
}

// clientsPage is the page of Clients starting at index first.
func (f *Fake) clientsPage(first uint32) *fbchrony.ReplyClientAccessesByIndex {
	n := uint32(len(f.Clients))
	r := &fbchrony.ReplyClientAccessesByIndex{}
	r.NIndices = n
	end := min(first+fbchrony.MaxClientAccessesByIndex, n)
	if first < end {
		r.Clients = f.Clients[first:end]
	}
	r.NClients = uint32(len(r.Clients))
	r.NextIndex = max(end, first)
	return r
}
