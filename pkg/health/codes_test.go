package health

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/pkg/chrony/chronyfake"
)

// TestCodes: every judgement carries the code that says its reason in one word, and every
// code in Codes is reachable.
func TestCodes(t *testing.T) {
	addr := chronyfake.IPv4(127, 0, 0, 7)
	tracking := func(mod func(*fbchrony.Tracking)) *fbchrony.ReplyTracking {
		tr := &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{RefID: 0x7F000007, IPAddr: net.IPv4(127, 0, 0, 7).To4(),
			Stratum: 2, RootDelay: 2e-3, RootDispersion: 5e-4}}
		if mod != nil {
			mod(&tr.Tracking)
		}
		return tr
	}
	src := func(state fbchrony.SourceStateType, reach uint16) []fbchrony.ReplySourceData {
		return []fbchrony.ReplySourceData{{SourceData: fbchrony.SourceData{IPAddr: addr, Stratum: 1, State: state,
			Mode: fbchrony.SourceModeClient, Reachability: reach}}}
	}
	localRef := func(tr *fbchrony.Tracking) { tr.RefID, tr.IPAddr, tr.Stratum = refIDLocal, nil, 10 }
	tests := []struct {
		name   string
		fake   *chronyfake.Fake
		th     Thresholds
		live   bool
		want   Code
		wantOK bool
	}{
		{"synchronised", &chronyfake.Fake{Tracking: tracking(nil), Sources: src(fbchrony.SourceStateSync, 0377)}, Thresholds{}, false, CodeSynchronised, true},
		{"local allowed", &chronyfake.Fake{Tracking: tracking(localRef), Sources: src(fbchrony.SourceStateUnreach, 0)}, Thresholds{AllowLocal: true}, false, CodeLocal, true},
		{"live", &chronyfake.Fake{Tracking: tracking(nil)}, Thresholds{}, true, CodeAnswers, true},
		{"no answer", &chronyfake.Fake{Fail: map[string]error{"tracking": errors.New("timeout")}}, Thresholds{}, false, CodeNoAnswer, false},
		{"unsynchronised", &chronyfake.Fake{Tracking: tracking(func(tr *fbchrony.Tracking) { tr.LeapStatus = 3 })}, Thresholds{}, false, CodeUnsynchronised, false},
		{"local not allowed", &chronyfake.Fake{Tracking: tracking(localRef), Sources: src(fbchrony.SourceStateUnreach, 0)}, Thresholds{}, false, CodeLocalNotAllowed, false},
		{"no selected source", &chronyfake.Fake{Tracking: tracking(nil), Sources: src(fbchrony.SourceStateCandidate, 0377)}, Thresholds{}, false, CodeNoSelectedSource, false},
		{"selected source unreachable", &chronyfake.Fake{Tracking: tracking(nil), Sources: src(fbchrony.SourceStateSync, 0)}, Thresholds{}, false, CodeSourceUnreachable, false},
		{"root distance", &chronyfake.Fake{Tracking: tracking(nil), Sources: src(fbchrony.SourceStateSync, 0377)}, Thresholds{MaxDistance: time.Millisecond}, false, CodeRootDistance, false},
	}
	seen := map[Code]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			if tt.live {
				r = Live(context.Background(), tt.fake)
			} else {
				r = Ready(context.Background(), tt.fake, tt.th)
			}
			if r.Code != tt.want || r.OK != tt.wantOK {
				t.Errorf("got %v %q (%s), want %v %q", r.OK, r.Code, r.Reason, tt.wantOK, tt.want)
			}
			seen[r.Code] = true
		})
	}
	// chronyd not holding the port it must serve (this test process holds none).
	r := Serving{NTPPort: 1, NTPFrom: "NTP_PORT=1"}.Check(os.Getpid())
	if r.OK || r.Code != CodeNotServing {
		t.Errorf("Serving.Check without the port: %v %q (%s), want %q", r.OK, r.Code, r.Reason, CodeNotServing)
	}
	seen[r.Code] = true
	for _, c := range Codes {
		if !seen[c] {
			t.Errorf("code %q never given", c)
		}
	}
	if len(seen) != len(Codes) || slices.ContainsFunc(Codes, func(c Code) bool { return len(c) > 32 }) {
		t.Errorf("codes given %v, listed %v", seen, Codes)
	}
}
