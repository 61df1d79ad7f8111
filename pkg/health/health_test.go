package health

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/pkg/chrony/chronyfake"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// Canned replies shaped like Debian chronyd 4.3's: synchronised to 127.0.0.5 at stratum 2.
func syncedTracking() *fbchrony.ReplyTracking {
	return &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{
		RefID: 0x7F000005, IPAddr: net.IPv4(127, 0, 0, 5).To4(), Stratum: 2, LeapStatus: 0,
		CurrentCorrection: 1.2e-6, LastOffset: 3e-8, RootDelay: 2e-3, RootDispersion: 5e-4,
	}}
}

func source(addr *fbchrony.IPAddr, state fbchrony.SourceStateType, reach uint16) fbchrony.ReplySourceData {
	return fbchrony.ReplySourceData{SourceData: fbchrony.SourceData{
		IPAddr: addr, Stratum: 1, State: state, Mode: fbchrony.SourceModeClient, Reachability: reach, SinceSample: 3,
	}}
}

var (
	up5 = chronyfake.IPv4(127, 0, 0, 5)
	up6 = chronyfake.IPv4(127, 0, 0, 6)
)

func TestReady(t *testing.T) {
	unsync := &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{LeapStatus: 3}}
	local := &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{RefID: 0x7F7F0101, Stratum: 10, RootDispersion: 1e-6}}
	localFar := &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{RefID: 0x7F7F0101, Stratum: 10, RootDispersion: 1.5}}
	far := syncedTracking()
	far.RootDispersion = 1.5
	unresolved := func(n int32) *fbchrony.ReplyActivity {
		return &fbchrony.ReplyActivity{Activity: fbchrony.Activity{Unresolved: n}}
	}
	// NTP_SERVERS=127.127.1.1 (ntpd's local clock driver): unreachable when nothing listens
	// on port 123 of 127.127.1.1; reach 377 but unusable when chronyd serves port 123 itself.
	offlineUnreach := source(ntpdLocal, fbchrony.SourceStateUnreach, 0)
	offlineSelf := source(ntpdLocal, fbchrony.SourceStateUnreach, 0377)
	tests := []struct {
		name   string
		fake   *chronyfake.Fake
		th     Thresholds
		wantOK bool
		errSet bool
		// noVar: no variable could change this (chronyd is still collecting samples), so
		// the reason need not name one.
		noVar bool
	}{
		{name: "synchronised", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up6, fbchrony.SourceStateCandidate, 0377), source(up5, fbchrony.SourceStateSync, 0377)}}, wantOK: true},
		{name: "unsynchronised, source unreachable", fake: &chronyfake.Fake{Tracking: unsync, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateUnreach, 0)}}},
		{name: "unsynchronised, no sources", fake: &chronyfake.Fake{Tracking: unsync}},
		{name: "unsynchronised, host names not resolved", fake: &chronyfake.Fake{Tracking: unsync, Activity: unresolved(2)}},
		{name: "unsynchronised, one unreachable, one not resolved", fake: &chronyfake.Fake{Tracking: unsync, Activity: unresolved(1),
			Sources: []fbchrony.ReplySourceData{source(up5, fbchrony.SourceStateUnreach, 0)}}},
		{name: "unsynchronised, host names not resolved, as chronyd 4.3 lists them", fake: &chronyfake.Fake{Tracking: unsync, Activity: unresolved(9),
			Sources: placeholders(9), Names: placeholderNames("ntp.example.invalid", "pool.example.invalid", 8)}},
		{name: "unsynchronised, host names not resolved, sourcename refused", fake: &chronyfake.Fake{Tracking: unsync, Activity: unresolved(2),
			Sources: placeholders(2), Fail: map[string]error{"sourcename": errors.New("got status INVALID (3)")}}},
		{name: "local clock, host name not resolved, 127.127.1.1 listed", fake: &chronyfake.Fake{Tracking: local, Activity: unresolved(1),
			Sources: append(placeholders(1), offlineUnreach), Names: placeholderNames("ntp.example.invalid", "", 0)}},
		{name: "unsynchronised, collecting samples", fake: &chronyfake.Fake{Tracking: unsync, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateUnreach, 1)}}, noVar: true},
		{name: "no selected source", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateCandidate, 0377), source(up6, fbchrony.SourceStateFalseTicker, 0377)}}},
		{name: "no selected source, a host name not resolved", fake: &chronyfake.Fake{Tracking: syncedTracking(), Activity: unresolved(1),
			Sources: []fbchrony.ReplySourceData{source(up5, fbchrony.SourceStateCandidate, 0377)}}},
		{name: "selected source unreachable", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0)}}},
		{name: "selected source unreachable, others unreachable too", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0), source(up6, fbchrony.SourceStateCandidate, 0)}}},
		{name: "selected source unreachable, falseticker reachable", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0), source(up6, fbchrony.SourceStateFalseTicker, 0377)}}},
		{name: "selected source unreachable, reselecting", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0), source(up6, fbchrony.SourceStateCandidate, 0376)}}, wantOK: true},
		{name: "selected source unreachable, outlier reachable", fake: &chronyfake.Fake{Tracking: syncedTracking(), Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0), source(up6, fbchrony.SourceStateOutlier, 0377)}}, wantOK: true},
		{name: "root distance over threshold", fake: &chronyfake.Fake{Tracking: far, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0377)}}},
		{name: "root distance under a raised threshold", fake: &chronyfake.Fake{Tracking: far, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateSync, 0377)}}, th: Thresholds{MaxDistance: 2 * time.Second}, wantOK: true},
		{name: "local clock, network source unreachable", fake: &chronyfake.Fake{Tracking: local, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateUnreach, 0)}}},
		{name: "local clock, network source unreachable, allowed", fake: &chronyfake.Fake{Tracking: local, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateUnreach, 0)}}, th: Thresholds{AllowLocal: true}, wantOK: true},
		{name: "local clock allowed, root distance over threshold", fake: &chronyfake.Fake{Tracking: localFar, Sources: []fbchrony.ReplySourceData{
			source(up5, fbchrony.SourceStateUnreach, 0)}}, th: Thresholds{AllowLocal: true}},
		{name: "local clock, host name not resolved", fake: &chronyfake.Fake{Tracking: local, Activity: unresolved(1)}},
		{name: "local clock, only 127.127.1.1 and an unresolved name", fake: &chronyfake.Fake{Tracking: local, Activity: unresolved(1),
			Sources: []fbchrony.ReplySourceData{offlineUnreach}}},
		{name: "offline mode: 127.127.1.1 unreachable", fake: &chronyfake.Fake{Tracking: local,
			Sources: []fbchrony.ReplySourceData{offlineUnreach}}, wantOK: true},
		{name: "offline mode: 127.127.1.1 is chronyd itself", fake: &chronyfake.Fake{Tracking: local,
			Sources: []fbchrony.ReplySourceData{offlineSelf}}, wantOK: true},
		{name: "offline mode: no sources at all", fake: &chronyfake.Fake{Tracking: local}, wantOK: true},
		{name: "offline mode: LOCL reference clock", fake: &chronyfake.Fake{Tracking: local,
			Sources: []fbchrony.ReplySourceData{refclock("LOCL")}}, wantOK: true},
		{name: "offline mode: root distance over threshold", fake: &chronyfake.Fake{Tracking: localFar,
			Sources: []fbchrony.ReplySourceData{offlineUnreach}}},
		{name: "local clock, PHC reference clock failed", fake: &chronyfake.Fake{Tracking: local,
			Sources: []fbchrony.ReplySourceData{refclock("PHC0")}}},
		{name: "tracking fails", fake: &chronyfake.Fake{Fail: map[string]error{"tracking": errors.New("no reply from chronyd by the deadline: i/o timeout")}}, errSet: true},
		{name: "sources fail", fake: &chronyfake.Fake{Tracking: syncedTracking(), Fail: map[string]error{"sourcedata": errors.New("got status NOSUCHSOURCE (4)")},
			Sources: []fbchrony.ReplySourceData{source(up5, fbchrony.SourceStateSync, 0377)}}, errSet: true},
		{name: "activity fails", fake: &chronyfake.Fake{Tracking: unsync, Fail: map[string]error{"activity": errors.New("got status UNAUTH (2)")}}, errSet: true},
	}
	var out strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Ready(context.Background(), tt.fake, tt.th)
			if r.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (%s)", r.OK, tt.wantOK, r.Reason)
			}
			if (r.Err != nil) != tt.errSet {
				t.Errorf("Err = %v, want set: %v", r.Err, tt.errSet)
			}
			if r.Reason == "" || strings.ContainsAny(r.Reason, "\n\r") {
				t.Errorf("Reason %q is not one non-empty line", r.Reason)
			}
			if p := repeatedPhrase(r.Reason); p != "" {
				t.Errorf("Reason %q says %q twice", r.Reason, p)
			}
			if !r.OK && r.Err == nil && !tt.noVar && !namesVariable(r.Reason) {
				t.Errorf("not-ready Reason %q names no variable that would change it", r.Reason)
			}
			fmt.Fprintf(&out, "%s: ok=%v: %s\n", tt.name, r.OK, r.Reason)
		})
	}
	golden.Compare(t, *update, filepath.Join("testdata", "ready.golden"), out.String())
}

var ntpdLocal = chronyfake.IPv4(127, 127, 1, 1)

// placeholders are the n source lines chronyd 4.3 lists for names it has not resolved:
// address family ID, shown as ID#0000000001 and up.
func placeholders(n int) []fbchrony.ReplySourceData {
	out := make([]fbchrony.ReplySourceData, n)
	for i := range out {
		out[i] = source(&fbchrony.IPAddr{IP: [16]uint8{0, 0, 0, byte(i + 1)}, Family: fbchrony.IPAddrID}, fbchrony.SourceStateUnreach, 0)
	}
	return out
}

// placeholderNames answers sourcename for placeholders: the first is server, the next
// poolSize are one pool's (chronyd adds a placeholder per source the pool may give).
func placeholderNames(server, pool string, poolSize int) map[string]string {
	names := map[string]string{"ID#0000000001": server}
	for i := 0; i < poolSize; i++ {
		names[fmt.Sprintf("ID#%010d", i+2)] = pool
	}
	return names
}

// refclock is a reference clock's source line: chronyd puts the refid in the address field.
func refclock(refid string) fbchrony.ReplySourceData {
	var a [4]byte
	copy(a[:], refid)
	return fbchrony.ReplySourceData{SourceData: fbchrony.SourceData{
		IPAddr: chronyfake.IPv4(a[0], a[1], a[2], a[3]), State: fbchrony.SourceStateUnreach, Mode: fbchrony.SourceModeRef,
	}}
}

// namesVariable reports whether a reason names a variable a user could set.
func namesVariable(reason string) bool {
	for _, v := range []string{"NTP_SERVERS", "NTP_POOLS", "READY_MAX_DISTANCE", "READY_ALLOW_LOCAL"} {
		if strings.Contains(reason, v) {
			return true
		}
	}
	return false
}

// repeatedPhrase returns a run of three words that occurs twice in s (ignoring case and
// punctuation), or "". Source lists are exempt: "candidate reach 377" may well repeat.
func repeatedPhrase(s string) string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !('a' <= r && r <= 'z' || r == '_')
	})
	seen := map[string]bool{}
	for i := 0; i+3 <= len(words); i++ {
		p := strings.Join(words[i:i+3], " ")
		if strings.Contains(p, "reach") {
			continue
		}
		if seen[p] {
			return p
		}
		seen[p] = true
	}
	return ""
}

func TestRepeatedPhrase(t *testing.T) {
	for s, want := range map[string]string{
		"cannot ask chronyd: cannot ask chronyd: dial":                              "cannot ask chronyd",
		"not synchronised: no sources; set NTP_SERVERS":                             "",
		"2 source(s): 127.0.0.5 candidate reach 377, 127.0.0.6 candidate reach 377": "",
	} {
		if got := repeatedPhrase(s); got != want {
			t.Errorf("repeatedPhrase(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestLive(t *testing.T) {
	tests := []struct {
		name   string
		fake   *chronyfake.Fake
		wantOK bool
	}{
		{"answers", &chronyfake.Fake{Tracking: syncedTracking()}, true},
		{"answers while unsynchronised", &chronyfake.Fake{Tracking: &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{LeapStatus: 3}}}, true},
		{"no answer", &chronyfake.Fake{Fail: map[string]error{"tracking": os.ErrDeadlineExceeded}}, false},
	}
	var out strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Live(context.Background(), tt.fake)
			if r.OK != tt.wantOK || (r.Err == nil) != tt.wantOK {
				t.Errorf("Live = %+v, want OK %v with Err set when not", r, tt.wantOK)
			}
			fmt.Fprintf(&out, "%s: ok=%v: %s\n", tt.name, r.OK, r.Reason)
		})
	}
	golden.Compare(t, *update, filepath.Join("testdata", "live.golden"), out.String())
}

// TestReadyRequests: Ready asks for source lines only up to the selected one, and for every
// line when none is selected (its reason lists them).
func TestReadyRequests(t *testing.T) {
	up7 := chronyfake.IPv4(127, 0, 0, 7)
	tests := []struct {
		name           string
		sources        []fbchrony.ReplySourceData
		wantOK         bool
		wantSourceData int
	}{
		{"selected first of three", []fbchrony.ReplySourceData{source(up5, fbchrony.SourceStateSync, 0377),
			source(up6, fbchrony.SourceStateCandidate, 0377), source(up7, fbchrony.SourceStateCandidate, 0377)}, true, 1},
		{"selected second of three", []fbchrony.ReplySourceData{source(up6, fbchrony.SourceStateCandidate, 0377),
			source(up5, fbchrony.SourceStateSync, 0377), source(up7, fbchrony.SourceStateCandidate, 0377)}, true, 2},
		{"none selected", []fbchrony.ReplySourceData{source(up5, fbchrony.SourceStateCandidate, 0377),
			source(up6, fbchrony.SourceStateCandidate, 0377), source(up7, fbchrony.SourceStateFalseTicker, 0377)}, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &chronyfake.Fake{Tracking: syncedTracking(), Sources: tt.sources}
			r := Ready(context.Background(), f, Thresholds{})
			if r.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (%s)", r.OK, tt.wantOK, r.Reason)
			}
			if got := f.Calls("sourcedata"); got != tt.wantSourceData {
				t.Errorf("%d sourcedata requests, want %d", got, tt.wantSourceData)
			}
			if got := f.Calls("tracking") + f.Calls("sources"); got != 2 {
				t.Errorf("%d tracking+sources requests, want 2", got)
			}
		})
	}
}
