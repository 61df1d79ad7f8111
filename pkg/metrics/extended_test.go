package metrics

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/chrony/chronyfake"
	"github.com/chris-short/chrony/pkg/health"
)

// withNamesAndClients is fake46 with configured names for its NTP sources and a client log
// of 11 clients (two pages): NTS and plain, rate limited, never hit, no interval yet.
func withNamesAndClients() *chronyfake.Fake {
	f := fake46()
	f.Names = map[string]string{"192.0.2.1": "time.cloudflare.com", "2001:db8::1": "ntp.example.org"}
	cl := func(ntpHits, nkeHits, drops uint32, interval int8, ago uint32) fbchrony.ClientAccess {
		return fbchrony.ClientAccess{IPAddr: chronyfake.IPv4(198, 51, 100, byte(len(f.Clients)+1)),
			NTPHits: ntpHits, NKEHits: nkeHits, NTPDrops: drops, NTPInterval: interval, LastNTPHitAgo: ago}
	}
	for i := range 6 {
		f.Clients = append(f.Clients, cl(10, 0, 0, int8(i), uint32(i*40)))
	}
	f.Clients = append(f.Clients,
		cl(4, 2, 0, 6, 70), // NTS
		cl(0, 1, 0, clientIntervalNone, clientHitNever),  // NTS-KE only, no NTP yet
		cl(0, 0, 12, clientIntervalNone, clientHitNever), // every request dropped
		cl(100, 0, 60, -2, 0),                            // polling fast, rate limited
		cl(1, 0, 0, clientIntervalNone, 90000),           // seen once, a day ago
	)
	return f
}

// noClientLog answers `clients` as chronyd with noclientlog does.
func noClientLog() *chronyfake.Fake {
	f := fake46()
	f.Fail = map[string]error{"clients": errors.New("got status INACTIVE (15)")}
	return f
}

func unsynchronised() *chronyfake.Fake {
	f := fake46()
	f.Tracking.LeapStatus = 3
	f.Tracking.Stratum = 0
	f.Tracking.RefID = 0
	f.Tracking.IPAddr = nil
	for i := range f.Sources {
		f.Sources[i].State = fbchrony.SourceStateUnreach
		f.Sources[i].Reachability = 0
	}
	return f
}

// TestExtended: this project's series (Options.Extended, SourceNames, Clients) against
// golden files, and chrony_container_ready saying what health.Ready says of the same chronyd.
func TestExtended(t *testing.T) {
	tests := []struct {
		name, golden string
		fake         *chronyfake.Fake
		dialErr      error
		opts         Options
		wantUp       float64
		wantReady    health.Code
	}{
		{name: "chrony 4.6, names, clients", golden: "extended-4.6.prom", fake: withNamesAndClients(),
			opts: Options{Extended: true, SourceNames: true, Clients: true}, wantUp: 1, wantReady: health.CodeSynchronised},
		{name: "names unknown to chronyd keep addresses", golden: "extended-nonames.prom", fake: fake46(),
			opts: Options{Extended: true, SourceNames: true}, wantUp: 1, wantReady: health.CodeSynchronised},
		{name: "noclientlog: no clients series, chrony_up 1", golden: "extended-noclientlog.prom", fake: noClientLog(),
			opts: Options{Extended: true, Clients: true}, wantUp: 1, wantReady: health.CodeSynchronised},
		{name: "unsynchronised", golden: "extended-unsync.prom", fake: unsynchronised(),
			opts: Options{Extended: true}, wantUp: 1, wantReady: health.CodeUnsynchronised},
		{name: "root distance over the threshold", golden: "extended-distance.prom", fake: fake46(),
			opts: Options{Extended: true, Ready: readyWithin(5 * time.Millisecond)}, wantUp: 1, wantReady: health.CodeRootDistance},
		{name: "chronyd unreachable", golden: "extended-down.prom", dialErr: errors.New("connect: connection refused"),
			opts: Options{Extended: true, Clients: true}, wantUp: 0, wantReady: health.CodeNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &dialer{fake: tt.fake, err: tt.dialErr}
			o := tt.opts
			o.Dial, o.Timeout = d.dial, time.Second
			c := New(o)
			compareGolden(t, c, tt.golden, exposition(t, c), *update)

			mfs := gatherFamilies(t, c)
			if up := mfs["chrony_up"].GetMetric()[0].GetGauge().GetValue(); up != tt.wantUp {
				t.Errorf("chrony_up = %v, want %v", up, tt.wantUp)
			}
			ready := mfs["chrony_container_ready"].GetMetric()
			if len(ready) != 1 {
				t.Fatalf("%d chrony_container_ready series, want 1", len(ready))
			}
			code := health.Code(ready[0].GetLabel()[0].GetValue())
			if code != tt.wantReady || !slices.Contains(health.Codes, code) {
				t.Errorf("ready reason %q, want %q (one of health.Codes)", code, tt.wantReady)
			}
			// The same judgement as `entrypoint probe ready`.
			if tt.fake != nil {
				judge := o.Ready
				if judge == nil {
					judge = readyWithin(0)
				}
				want := judge(context.Background(), tt.fake)
				if want.Code != code || (ready[0].GetGauge().GetValue() == 1) != want.OK {
					t.Errorf("ready %v %q, health.Ready says %v %q", ready[0].GetGauge().GetValue(), code, want.OK, want.Code)
				}
			}
		})
	}
}

// TestExtendedNames: the extended collector adds only chrony_container_* names, and the
// clients collector exactly chrony_exporter 0.14's chrony_clients_* names.
func TestExtendedNames(t *testing.T) {
	base := gatheredNames(t, New(Options{Dial: (&dialer{fake: fake46()}).dial}))
	all := gatheredNames(t, New(Options{Dial: (&dialer{fake: withNamesAndClients()}).dial, Extended: true, SourceNames: true, Clients: true}))
	var added []string
	for _, n := range all {
		if !slices.Contains(base, n) {
			added = append(added, n)
		}
	}
	want := []string{"chrony_clients_connected", "chrony_clients_last_ntp_hit_ago_seconds", "chrony_clients_ntp_drops",
		"chrony_clients_ntp_interval_seconds", "chrony_container_clock_error_bound_seconds", "chrony_container_leap_status",
		"chrony_container_ready"}
	if !slices.Equal(added, want) {
		t.Errorf("added names %v, want %v", added, want)
	}
}

// TestLabelValuesEnumerable: every label value of this project's series is a short word.
func TestLabelValuesEnumerable(t *testing.T) {
	word := regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	for _, f := range []*chronyfake.Fake{withNamesAndClients(), unsynchronised()} {
		c := New(Options{Dial: (&dialer{fake: f}).dial, Extended: true, Clients: true})
		for name, mf := range gatherFamilies(t, c) {
			if !strings.HasPrefix(name, "chrony_container_") {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if !word.MatchString(l.GetValue()) {
						t.Errorf("%s{%s=%q}: not a short word", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}

// readyWithin is health.Ready with a root distance threshold, as Options.Ready.
func readyWithin(d time.Duration) func(context.Context, chrony.Communicator) health.Result {
	return func(ctx context.Context, c chrony.Communicator) health.Result {
		return health.Ready(ctx, c, health.Thresholds{MaxDistance: d})
	}
}

func gatherFamilies(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return byName(mfs)
}
