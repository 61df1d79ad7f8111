package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/chris-short/chrony/internal/chronytest"
)

// TestRealChronyd scrapes Debian's chronyd 4.3 (-x) synchronised to a loopback upstream and
// checks the values make sense: stratum 2, one source in state sync, reachable, our own
// command requests counted.
func TestRealChronyd(t *testing.T) {
	up := chronytest.StartUpstream(t)
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine(), "allow 127.0.0.1"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(Options{Dial: DialSocket(cl.Socket, chronytest.ShortTempDir(t)), Timeout: 2 * time.Second, Logger: zaptest.NewLogger(t)}))

	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(20 * time.Second)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		fams = map[string]*dto.MetricFamily{}
		for _, mf := range mfs {
			fams[mf.GetName()] = mf
		}
		if value(fams, "chrony_tracking_stratum", nil) == 2 && value(fams, "chrony_sourcestats_samples", nil) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synchronised within 20s\n%s", cl.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	src := map[string]string{"source_address": "127.0.0.1", "source_name": "127.0.0.1"}
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
	}{
		{"chrony_up", nil, func(v float64) bool { return v == 1 }},
		{"chrony_tracking_stratum", nil, func(v float64) bool { return v == 2 }},
		{"chrony_tracking_remote_reference", nil, func(v float64) bool { return v == 1 }},
		{"chrony_tracking_info", map[string]string{"tracking_address": "127.0.0.1", "tracking_refid": "7F000001"}, func(v float64) bool { return v == 1 }},
		{"chrony_tracking_root_delay_seconds", nil, func(v float64) bool { return v > 0 && v < 0.01 }},
		{"chrony_tracking_reference_timestamp_seconds", nil, func(v float64) bool {
			return v > float64(time.Now().Add(-time.Minute).Unix()) && v <= float64(time.Now().Unix()+1)
		}},
		{"chrony_sources_state_info", map[string]string{"source_address": "127.0.0.1", "source_state": "sync", "source_mode": "client"}, func(v float64) bool { return v == 1 }},
		{"chrony_sources_stratum", src, func(v float64) bool { return v == 1 }},
		{"chrony_sources_reachability_ratio", src, func(v float64) bool { return v > 0 && v <= 1 }},
		{"chrony_sources_reachability_success", src, func(v float64) bool { return v == 1 }},
		{"chrony_sources_polling_interval_seconds", src, func(v float64) bool { return v >= 0.25 && v <= 1 }},
		{"chrony_sources_peer_delay_seconds", src, func(v float64) bool { return v > 0 && v < 0.01 }},
		{"chrony_sourcestats_samples", src, func(v float64) bool { return v >= 2 }},
		{"chrony_serverstats_command_packets_received_total", nil, func(v float64) bool { return v >= 5 }},
		{"chrony_serverstats_ntp_timestamps_held", nil, func(v float64) bool { return v >= 0 }},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := fams[c.name]; !ok {
				t.Fatalf("%s missing", c.name)
			}
			if v := value(fams, c.name, c.labels); !c.ok(v) {
				t.Errorf("%s%v = %v: not sane", c.name, c.labels, v)
			}
		})
	}
	// chrony 4.3 sends ServerStats3: no 4.4+ counters.
	if _, ok := fams["chrony_serverstats_ntp_daemon_rx_timestamps_total"]; ok {
		t.Error("4.4+ counter present against chrony 4.3")
	}
}

// value is the first sample of family name whose labels include want (-1 when none).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
