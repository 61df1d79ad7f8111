package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chris-short/chrony/pkg/chrony/chronyfake"
	"github.com/chris-short/chrony/pkg/preflight"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// fakeConn is a chronyfake.Fake that can be closed, counting dials and closes.
type fakeConn struct {
	*chronyfake.Fake
	closed *int
}

func (f fakeConn) Close() error { *f.closed++; return nil }

type dialer struct {
	fake          *chronyfake.Fake
	err           error
	dials, closes int
}

func (d *dialer) dial(ctx context.Context) (Conn, error) {
	d.dials++
	if d.err != nil {
		return nil, d.err
	}
	return fakeConn{d.fake, &d.closes}, nil
}

// fake43 answers as Debian's chronyd 4.3 did when chrony_exporter-sample.prom was captured:
// the same values, so our exposition must equal chrony_exporter's text byte for byte.
func fake43() *chronyfake.Fake {
	up := chronyfake.IPv4(127, 0, 0, 5)
	return &chronyfake.Fake{
		Tracking: &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{
			RefID: 0x7F000005, IPAddr: net.IPv4(127, 0, 0, 5).To4(), Stratum: 2,
			RefTime:           time.Unix(1795925138, 402396544),
			CurrentCorrection: -1.7141338730652933e-06, LastOffset: 3.125058256614466e-08,
			RMSOffset: 6.345615020109108e-07, FreqPPM: 0.046228233724832535,
			ResidFreqPPM: 0.00026007313863374293, SkewPPM: 0.07834475487470627,
			RootDelay: 6.90099977873615e-06, RootDispersion: 1.2955757711097249e-06,
			LastUpdateInterval: 1.003843069076538,
		}},
		Sources: []fbchrony.ReplySourceData{{SourceData: fbchrony.SourceData{
			IPAddr: up, Poll: 0, Stratum: 1, State: fbchrony.SourceStateSync, Mode: fbchrony.SourceModeClient,
			Reachability: 0377, SinceSample: 0,
			LatestMeas: 1.9074948909292289e-07, LatestMeasErr: 3.4854056139010936e-06,
		}}},
		SourceStats: []fbchrony.ReplySourceStats{{SourceStats: fbchrony.SourceStats{
			RefID: 0x7F000005, IPAddr: up, NSamples: 30, NRuns: 19, SpanSeconds: 13,
			StandardDeviation: 4.1169218434333743e-07, ResidFreqPPM: 0.00026007313863374293,
			SkewPPM: 0.07395948469638824, EstimatedOffset: 3.484325328262372e-11,
		}}},
		NTPData: map[string]fbchrony.ResponsePacket{"127.0.0.5": &fbchrony.ReplyNTPData{NTPData: fbchrony.NTPData{
			Offset: -2.219999970520803e-07, PeerDelay: 6.90099977873615e-06, PeerDispersion: 3.490553268648e-08,
			ResponseTime: 4.160100070293993e-05, JitterAsymmetry: 0.5,
		}}},
		ServerStats: &fbchrony.ReplyServerStats3{ServerStats3: fbchrony.ServerStats3{CMDHits: 8}},
	}
}

// fake46 answers as chronyd 4.6+ would (NTPData2, ServerStats4) with a mix of sources: IPv4
// and IPv6 servers, a GPS reference clock, and a name not resolved yet.
func fake46() *chronyfake.Fake {
	v4 := chronyfake.IPv4(192, 0, 2, 1)
	v6 := &fbchrony.IPAddr{IP: [16]uint8{0x20, 0x01, 0x0d, 0xb8, 15: 1}, Family: fbchrony.IPAddrInet6}
	gps := chronyfake.IPv4('G', 'P', 'S', 0)
	unresolved := &fbchrony.IPAddr{IP: [16]uint8{0, 0, 0, 3}, Family: fbchrony.IPAddrID}
	src := func(ip *fbchrony.IPAddr, mode fbchrony.ModeType, state fbchrony.SourceStateType, reach uint16, poll int16) fbchrony.ReplySourceData {
		return fbchrony.ReplySourceData{SourceData: fbchrony.SourceData{IPAddr: ip, Poll: poll, Stratum: 1,
			State: state, Mode: mode, Reachability: reach, SinceSample: 17, LatestMeas: 1e-4, LatestMeasErr: 2e-5}}
	}
	stat := func(ip *fbchrony.IPAddr, n uint32) fbchrony.ReplySourceStats {
		return fbchrony.ReplySourceStats{SourceStats: fbchrony.SourceStats{IPAddr: ip, NSamples: n, NRuns: n / 2,
			SpanSeconds: 64 * n, StandardDeviation: 1e-5, ResidFreqPPM: 0.01, SkewPPM: 0.1, EstimatedOffset: -3e-6}}
	}
	nd := func(off float64) *fbchrony.ReplyNTPData2 {
		return &fbchrony.ReplyNTPData2{NTPData2: fbchrony.NTPData2{NTPData: fbchrony.NTPData{
			Offset: off, PeerDelay: 0.012, PeerDispersion: 1e-6, ResponseTime: 3e-5, JitterAsymmetry: -0.25,
		}, TotalKernelRXts: 9}}
	}
	unspec := &fbchrony.IPAddr{}
	return &chronyfake.Fake{
		Tracking: &fbchrony.ReplyTracking{Tracking: fbchrony.Tracking{
			RefID: 0xC0000201, IPAddr: net.IPv4(192, 0, 2, 1).To4(), Stratum: 2, LeapStatus: 0,
			RefTime: time.Unix(1800000000, 500000000), CurrentCorrection: 2e-6, LastOffset: -1e-6,
			RMSOffset: 3e-6, FreqPPM: -12.5, ResidFreqPPM: 0.001, SkewPPM: 0.02,
			RootDelay: 0.024, RootDispersion: 0.001, LastUpdateInterval: 64,
		}},
		Sources: []fbchrony.ReplySourceData{
			src(v4, fbchrony.SourceModeClient, fbchrony.SourceStateSync, 0377, 6),
			src(v6, fbchrony.SourceModePeer, fbchrony.SourceStateCandidate, 0276, 7),
			src(gps, fbchrony.SourceModeRef, fbchrony.SourceStateOutlier, 0, 4),
			src(unresolved, fbchrony.SourceModeClient, fbchrony.SourceStateUnreach, 0, 6),
		},
		SourceStats: []fbchrony.ReplySourceStats{stat(v4, 12), stat(v6, 8), stat(unspec, 4), stat(unresolved, 0)},
		NTPData: map[string]fbchrony.ResponsePacket{
			"192.0.2.1":   nd(1.5e-4),
			"2001:db8::1": nd(-2.5e-4),
		},
		ServerStats: &fbchrony.ReplyServerStats4{ServerStats4: fbchrony.ServerStats4{
			NTPHits: 1 << 33, NKEHits: 3, CMDHits: 40, NTPDrops: 5, NKEDrops: 1, CMDDrops: 0, LogDrops: 2,
			NTPAuthHits: 7, NTPInterleavedHits: 11, NTPTimestamps: 13, NTPSpanSeconds: 600,
			NTPDaemonRxtimestamps: 21, NTPDaemonTxtimestamps: 22, NTPKernelRxtimestamps: 23,
			NTPKernelTxtimestamps: 24, NTPHwRxTimestamps: 25, NTPHwTxTimestamps: 26,
		}},
	}
}

func TestCollector(t *testing.T) {
	tests := []struct {
		name    string
		golden  string
		fake    *chronyfake.Fake
		fail    map[string]error
		dialErr error
		wantUp  float64
		// wantCalls: requests per kind in one scrape.
		wantCalls map[string]int
		wantWarns int
		// wantDials, wantCloses: in three scrapes. A connection is kept while scrapes succeed
		// and dropped after one fails.
		wantDials, wantCloses int
	}{
		{name: "chrony 4.3 equals chrony_exporter's sample", golden: "chrony_exporter-sample.prom", fake: fake43(), wantUp: 1,
			wantCalls: map[string]int{"tracking": 1, "sources": 1, "sourcedata": 1, "ntpdata": 1, "sourcestats": 1, "serverstats": 1},
			wantDials: 1},
		{name: "chrony 4.6 shapes", golden: "chrony-4.6.prom", fake: fake46(), wantUp: 1,
			wantCalls: map[string]int{"tracking": 1, "sources": 1, "sourcedata": 4, "ntpdata": 2, "sourcestats": 4, "serverstats": 1},
			wantDials: 1},
		{name: "serverstats refused", golden: "serverstats-fail.prom", fake: fake43(), wantUp: 0, wantWarns: 1,
			fail:      map[string]error{"serverstats": errors.New("got status UNAUTH (2)")},
			wantCalls: map[string]int{"tracking": 1, "sources": 1, "sourcedata": 1, "ntpdata": 1, "sourcestats": 1, "serverstats": 1},
			wantDials: 3, wantCloses: 3},
		{name: "sources count fails", golden: "sources-fail.prom", fake: fake43(), wantUp: 0, wantWarns: 2,
			fail:      map[string]error{"sources": os.ErrDeadlineExceeded},
			wantCalls: map[string]int{"tracking": 1, "sources": 2, "serverstats": 1},
			wantDials: 3, wantCloses: 3},
		{name: "chronyd unreachable", golden: "dial-fail.prom", dialErr: errors.New("connect: no such file or directory"), wantUp: 0, wantWarns: 1,
			wantDials: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fake != nil {
				tt.fake.Fail = tt.fail
			}
			d := &dialer{fake: tt.fake, err: tt.dialErr}
			core, logs := observer.New(zap.WarnLevel)
			c := New(Options{Dial: d.dial, Timeout: time.Second, Logger: zap.New(core)})

			// The sample is chrony_exporter's own output: -update never rewrites it.
			compareGolden(t, c, tt.golden, exposition(t, c), *update && tt.golden != "chrony_exporter-sample.prom")
			if up := testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
				for m := range collectAll(c) {
					if strings.Contains(m.Desc().String(), `"chrony_up"`) {
						ch <- m
					}
				}
			})); up != tt.wantUp {
				t.Errorf("chrony_up = %v, want %v", up, tt.wantUp)
			}
			// Three scrapes ran (exposition, compare, up).
			if d.dials != tt.wantDials || d.closes != tt.wantCloses {
				t.Errorf("dials %d closes %d, want %d and %d", d.dials, d.closes, tt.wantDials, tt.wantCloses)
			}
			if tt.fake != nil {
				for kind, n := range tt.wantCalls {
					if got := tt.fake.Calls(kind); got != 3*n {
						t.Errorf("%s requests: %d in 3 scrapes, want %d per scrape", kind, got, n)
					}
				}
			}
			// The first failing scrape logs; the two after it fail the same way within
			// WarnEvery and are counted, not logged.
			if n := logs.Len(); n != tt.wantWarns {
				t.Errorf("%d warnings logged in 3 scrapes, want %d (the first scrape's): %v", n, tt.wantWarns, logs.All())
			}
		})
	}
}

// exposition gathers c alone in text format.
// compareGolden compares what c collects with testdata/name by value (testutil.CollectAndCompare,
// so the order of series and HELP texts' escaping do not matter), after writing got there when
// write is set. One collection of c runs here.
func compareGolden(t *testing.T, c prometheus.Collector, name string, got []byte, write bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if write {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want); err != nil {
		t.Error(err)
	}
}

func exposition(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmtWrite(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func collectAll(c prometheus.Collector) chan prometheus.Metric {
	ch := make(chan prometheus.Metric, 256)
	go func() { c.Collect(ch); close(ch) }()
	return ch
}

// ts44Names are the serverstats counters chrony 4.4+ adds to chrony_exporter's list.
var ts44Names = []string{
	"chrony_serverstats_ntp_daemon_rx_timestamps_total", "chrony_serverstats_ntp_daemon_tx_timestamps_total",
	"chrony_serverstats_ntp_kernel_rx_timestamps_total", "chrony_serverstats_ntp_kernel_tx_timestamps_total",
	"chrony_serverstats_ntp_hw_rx_timestamps_total", "chrony_serverstats_ntp_hw_tx_timestamps_total",
}

// TestMetricNames: the names we expose equal chrony_exporter 0.13.3's list (captured from its
// /metrics against chrony 4.3), plus the 4.4+ timestamp counters; the supervisor's own names
// all carry the chrony_container_ prefix and none is in that list.
func TestMetricNames(t *testing.T) {
	list := readNameList(t, filepath.Join("testdata", "chrony_exporter-metrics.txt"))
	tests := []struct {
		name string
		fake *chronyfake.Fake
		want []string
	}{
		{"chrony 4.3", fake43(), list},
		{"chrony 4.6", fake46(), append(slices.Clone(list), ts44Names...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &dialer{fake: tt.fake}
			got := gatheredNames(t, New(Options{Dial: d.dial}))
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("names differ\n got: %v\nwant: %v", got, want)
			}
		})
	}
	t.Run("supervisor", func(t *testing.T) {
		got := gatheredNames(t, NewContainerCollector(func() ContainerFacts {
			return ContainerFacts{StartTime: time.Unix(1, 0)}
		}, BuildInfo{}))
		want := []string{"chrony_container_build_info", "chrony_container_chronyd_start_time_seconds", "chrony_container_clock_control"}
		if !slices.Equal(got, want) {
			t.Errorf("supervisor names %v, want %v", got, want)
		}
		for _, n := range got {
			if !strings.HasPrefix(n, "chrony_container_") || slices.Contains(list, n) {
				t.Errorf("supervisor metric %s lacks the chrony_container_ prefix or clashes with chrony_exporter", n)
			}
		}
	})
}

func gatheredNames(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	names := gatheredNamesFrom(t, reg)
	sort.Strings(names)
	return names
}

func readNameList(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	if len(names) < 40 {
		t.Fatalf("%s holds %d names: not the list", path, len(names))
	}
	return names
}

func TestContainerCollector(t *testing.T) {
	tests := []struct {
		name, golden string
		facts        func() ContainerFacts
	}{
		{"clock control on", "supervisor-on.prom", func() ContainerFacts {
			return ContainerFacts{ClockControl: true, ClockControlReason: preflight.ClockCodeAutoPermitted, StartTime: time.Unix(1800000000, 250000000)}
		}},
		{"clock control off, chronyd not running", "supervisor-off.prom", func() ContainerFacts {
			return ContainerFacts{ClockControlReason: preflight.ClockCodeOff}
		}},
		{"build info only", "supervisor-build.prom", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewContainerCollector(tt.facts, BuildInfo{Version: "1.2.3", Revision: "abc123", GoVersion: "go1.26.8"})
			compareGolden(t, c, tt.golden, exposition(t, c), *update)
		})
	}
}

func TestNewRegistry(t *testing.T) {
	for _, goProcess := range []bool{false, true} {
		d := &dialer{fake: fake43()}
		cs := []prometheus.Collector{New(Options{Dial: d.dial}), NewContainerCollector(nil, BuildInfo{})}
		if goProcess {
			cs = append(cs, GoProcessCollectors()...)
		}
		reg, err := NewRegistry(cs...)
		if err != nil {
			t.Fatal(err)
		}
		names := gatheredNamesFrom(t, reg)
		for _, want := range []string{"chrony_up", "chrony_container_build_info"} {
			if !slices.Contains(names, want) {
				t.Errorf("goProcess=%v: registry lacks %s", goProcess, want)
			}
		}
		for _, runtimeName := range []string{"go_goroutines", "process_resident_memory_bytes"} {
			if got := slices.Contains(names, runtimeName); got != goProcess {
				t.Errorf("goProcess=%v: registry has %s: %v", goProcess, runtimeName, got)
			}
		}
	}
}

func gatheredNamesFrom(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}
