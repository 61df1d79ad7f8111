package syncwatch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/pkg/chrony/chronyfake"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// fakeConn is a chronyfake.Fake that can be closed.
type fakeConn struct{ *chronyfake.Fake }

func (fakeConn) Close() error { return nil }

var (
	up5 = chronyfake.IPv4(127, 0, 0, 5)
	up6 = chronyfake.IPv4(127, 0, 0, 6)
)

// States chronyd 4.3 goes through, as canned replies.
func syncedTo(addr *fbchrony.IPAddr, other *fbchrony.IPAddr) *chronyfake.Fake {
	ip := addr.ToNetIP()
	return &chronyfake.Fake{
		Tracking: &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{
			RefID: 0x7F000000 | uint32(ip.To4()[3]), IPAddr: net.IP(ip), Stratum: 2, RootDelay: 1e-4, RootDispersion: 1e-4}},
		Sources: []fbchrony.ReplySourceData{
			src(addr, fbchrony.SourceStateSync, 0377), src(other, fbchrony.SourceStateCandidate, 0377)},
	}
}

func src(addr *fbchrony.IPAddr, st fbchrony.SourceStateType, reach uint16) fbchrony.ReplySourceData {
	return fbchrony.ReplySourceData{SourceData: fbchrony.SourceData{IPAddr: addr, Stratum: 1, State: st, Mode: fbchrony.SourceModeClient, Reachability: reach}}
}

var (
	starting = &chronyfake.Fake{Tracking: &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{LeapStatus: 3}},
		Sources: []fbchrony.ReplySourceData{src(up5, fbchrony.SourceStateUnreach, 0), src(up6, fbchrony.SourceStateUnreach, 0)}}
	// Both upstreams gone: chronyd keeps its leap status and stratum but selects nothing.
	lost = &chronyfake.Fake{Tracking: syncedTo(up5, up6).Tracking,
		Sources: []fbchrony.ReplySourceData{src(up5, fbchrony.SourceStateUnreach, 0), src(up6, fbchrony.SourceStateUnreach, 0)}}
	offline = &chronyfake.Fake{Tracking: &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{RefID: 0x7F7F0101, Stratum: 10}},
		Sources: []fbchrony.ReplySourceData{src(chronyfake.IPv4(127, 127, 1, 1), fbchrony.SourceStateUnreach, 0)}}
	down = &chronyfake.Fake{Fail: map[string]error{"tracking": errors.New("no reply from chronyd by the deadline: i/o timeout")}}
)

func unresolved(f *chronyfake.Fake, n int32) *chronyfake.Fake {
	// chronyd 4.3 lists each unresolved source under a placeholder ID and names it on request.
	srcs := append([]fbchrony.ReplySourceData(nil), f.Sources...)
	names := map[string]string{}
	for i := int32(1); i <= n; i++ {
		srcs = append(srcs, src(&fbchrony.IPAddr{IP: [16]uint8{0, 0, 0, byte(i)}, Family: fbchrony.IPAddrID}, fbchrony.SourceStateUnreach, 0))
		names[fmt.Sprintf("ID#%010d", i)] = fmt.Sprintf("ntp%d.example.invalid", i)
	}
	return &chronyfake.Fake{Tracking: f.Tracking, Sources: srcs, Names: names,
		Activity: &fbchrony.ReplyActivity{Activity: fbchrony.Activity{Unresolved: n}}}
}

// TestPolls: each case is the sequence of chronyd states that successive polls see; the log
// must tell each change once and say nothing when nothing changed.
func TestPolls(t *testing.T) {
	tests := []struct {
		name  string
		polls []*chronyfake.Fake
		want  int // log lines
	}{
		{"first sync", []*chronyfake.Fake{starting, starting, syncedTo(up5, up6), syncedTo(up5, up6)}, 1},
		{"synchronised when the entrypoint first asks", []*chronyfake.Fake{syncedTo(up5, up6), syncedTo(up5, up6)}, 1},
		{"source change", []*chronyfake.Fake{syncedTo(up5, up6), syncedTo(up6, up5), syncedTo(up6, up5)}, 2},
		{"loss and return", []*chronyfake.Fake{syncedTo(up5, up6), lost, lost, syncedTo(up6, up5)}, 3},
		{"chronyd not answering changes nothing", []*chronyfake.Fake{down, syncedTo(up5, up6), down, down, syncedTo(up5, up6)}, 1},
		{"never synchronised: silence", []*chronyfake.Fake{starting, starting, starting}, 0},
		{"offline mode", []*chronyfake.Fake{offline, offline, offline}, 1},
		{"unresolved for a moment at start: silence", []*chronyfake.Fake{unresolved(starting, 1), starting, starting}, 0},
		{"unresolved, then resolved", []*chronyfake.Fake{unresolved(starting, 2), unresolved(starting, 2), unresolved(starting, 2),
			unresolved(starting, 1), unresolved(starting, 1), starting, starting, starting}, 3},
	}
	var out strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			i := 0
			w := newWatcher(Options{Logger: zap.New(core), Dial: func(context.Context) (Conn, error) {
				f := tt.polls[i]
				i++
				return fakeConn{f}, nil
			}})
			fmt.Fprintf(&out, "%s:\n", tt.name)
			for range tt.polls {
				w.poll(context.Background())
			}
			n := 0
			for _, e := range logs.All() {
				if e.Level == zapcore.DebugLevel {
					continue
				}
				n++
				fmt.Fprintf(&out, "\t%s %s", e.Level, e.Message)
				for _, f := range e.Context {
					fmt.Fprintf(&out, " %s=%v", f.Key, fieldValue(f))
				}
				out.WriteByte('\n')
			}
			if n != tt.want {
				t.Errorf("%d log lines, want %d:\n%s", n, tt.want, out.String())
			}
		})
	}
	golden.Compare(t, *update, filepath.Join("testdata", "polls.golden"), out.String())
}

func fieldValue(f zapcore.Field) any {
	enc := zapcore.NewMapObjectEncoder()
	f.AddTo(enc)
	if s, ok := enc.Fields[f.Key].(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return enc.Fields[f.Key]
}

// TestStopsWithContext: a poll stuck on a chronyd that never answers ends when the context
// does, so the watcher never holds up the entrypoint's exit.
func TestStopsWithContext(t *testing.T) {
	stuck := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	w := Start(ctx, Options{Timeout: time.Hour, Interval: time.Millisecond, Dial: func(ctx context.Context) (Conn, error) {
		close(stuck)
		<-ctx.Done() // a dial that only the context ends
		return nil, ctx.Err()
	}})
	<-stuck
	cancel()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher still running 5 s after its context was cancelled")
	}
}

// TestNextInterval: after each sequence of polls, the watcher waits Interval while something
// may still change what it logs (not yet synchronised, chronyd not answering, lost, unresolved
// sources awaiting their confirming poll) and SteadyInterval once synchronised and settled.
func TestNextInterval(t *testing.T) {
	const fast, slow = 2 * time.Second, 10 * time.Second
	tests := []struct {
		name  string
		polls []*chronyfake.Fake
		want  time.Duration
	}{
		{"before the first poll", nil, fast},
		{"starting", []*chronyfake.Fake{starting}, fast},
		{"synchronised", []*chronyfake.Fake{starting, syncedTo(up5, up6)}, slow},
		{"offline mode", []*chronyfake.Fake{offline}, slow},
		{"synchronised, then chronyd not answering", []*chronyfake.Fake{syncedTo(up5, up6), down}, fast},
		{"lost", []*chronyfake.Fake{syncedTo(up5, up6), lost}, fast},
		{"synchronised, answering again", []*chronyfake.Fake{syncedTo(up5, up6), down, syncedTo(up5, up6)}, slow},
		{"unresolved, seen once", []*chronyfake.Fake{syncedTo(up5, up6), unresolved(syncedTo(up5, up6), 1)}, fast},
		{"unresolved, told", []*chronyfake.Fake{syncedTo(up5, up6), unresolved(syncedTo(up5, up6), 1), unresolved(syncedTo(up5, up6), 1)}, slow},
		{"resolved, seen once", []*chronyfake.Fake{unresolved(syncedTo(up5, up6), 1), unresolved(syncedTo(up5, up6), 1), syncedTo(up5, up6)}, fast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			w := newWatcher(Options{Interval: fast, SteadyInterval: slow, Dial: func(context.Context) (Conn, error) {
				f := tt.polls[i]
				i++
				return fakeConn{f}, nil
			}})
			for range tt.polls {
				w.poll(context.Background())
			}
			if got := w.next(); got != tt.want {
				t.Errorf("next poll in %v, want %v", got, tt.want)
			}
		})
	}
	if w := newWatcher(Options{Interval: time.Minute}); w.opts.SteadyInterval != time.Minute {
		t.Errorf("SteadyInterval %v with Interval 1m, want 1m (never faster than Interval)", w.opts.SteadyInterval)
	}
}
