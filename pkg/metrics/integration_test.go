package metrics

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/proctest"
)

// TestRealChronyd scrapes Debian's chronyd (-x, each CHRONY_VERSION) synchronised to a loopback upstream and
// checks the values make sense: stratum 2, one source in state sync, reachable, our own
// command requests counted.
func TestRealChronyd(t *testing.T) {
	up := chronytest.StartUpstream(t)
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine(), "allow 127.0.0.1"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(Options{Dial: DialSocket(cl.Socket, chronytest.ShortTempDir(t)), Timeout: 2 * time.Second, Logger: zaptest.NewLogger(t)}))

	fams := byName(gatherSynced(t, reg, cl))
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
	// chrony 4.3 sends ServerStats3: no 4.4+ counters; 4.4 and later send them.
	_, has44 := fams["chrony_serverstats_ntp_daemon_rx_timestamps_total"]
	if want := chronytest.AtLeast(t, "4.4"); has44 != want {
		t.Errorf("chrony %s: 4.4+ counter present %v, want %v", chronytest.Version(t), has44, want)
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

// TestRealChronydKeptConnection: scrapes of a real chronyd share one client socket; when
// chronyd restarts on the same socket path the next scrape reconnects and still reports
// chrony_up 1; Close removes the client socket.
func TestRealChronydKeptConnection(t *testing.T) {
	cl := chronytest.Start(t, chronytest.Options{})
	clientDir := chronytest.ShortTempDir(t)
	c := New(Options{Dial: DialSocket(cl.Socket, clientDir), Timeout: 2 * time.Second, Logger: zaptest.NewLogger(t)})
	defer c.Close()
	entries := func() int {
		t.Helper()
		es, err := os.ReadDir(clientDir)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	steps := []struct {
		name        string
		before      func()
		wantEntries int
	}{
		{"first scrape", func() {}, 1},
		{"second scrape", func() {}, 1},
		{"after chronyd restarted", func() { restart(t, cl) }, 1},
		{"third scrape", func() {}, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.before()
			if up := upValue(t, c); up != 1 {
				t.Errorf("chrony_up = %v, want 1", up)
			}
			if n := entries(); n != st.wantEntries {
				t.Errorf("%d client socket directories, want %d", n, st.wantEntries)
			}
		})
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 0 {
		t.Errorf("after Close: %d client socket directories left", n)
	}
}

// restart stops in and runs chronyd again (-x, as chronytest does) with its configuration, so
// the command socket is a new one at the same path. The new chronyd is stopped at cleanup.
func restart(t *testing.T, in *chronytest.Instance) {
	t.Helper()
	in.Stop()
	cmd := exec.Command(chronytest.Chronyd(t), "-x", "-d", "-U", "-u", chronytest.CurrentUser(t), "-f", in.Conf)
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart chronyd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { proctest.Stop(t, "restarted chronyd", cmd.Process, done, 5*time.Second) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(in.Socket); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatal("restarted chronyd exited before opening its socket")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted chronyd did not open %s within 10s", in.Socket)
		}
	}
}

// gatherSynced gathers g until cl reports its source synchronised (stratum 2, two samples of
// it), for at most 20 s, and returns that gathering.
func gatherSynced(tb testing.TB, g prometheus.Gatherer, cl *chronytest.Instance) []*dto.MetricFamily {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mfs, err := g.Gather()
		if err != nil {
			tb.Fatal(err)
		}
		fams := byName(mfs)
		if value(fams, "chrony_tracking_stratum", nil) == 2 && value(fams, "chrony_sourcestats_samples", nil) >= 2 {
			return mfs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not synchronised within 20s\n%s", cl.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// byName indexes gathered families by name.
func byName(mfs []*dto.MetricFamily) map[string]*dto.MetricFamily {
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}
