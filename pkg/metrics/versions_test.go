package metrics

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/golden"
)

// TestRealChronydExposition records what /metrics exposes for a synchronised real chronyd of
// the release under test (CHRONY_VERSION): each family's name, type and help, and each series'
// label names. The golden file is per release where the exposition differs: 4.3 sends
// serverstats version 3; 4.4 and later (4.6.1 and 4.9 here) send version 4 with the six NTP
// timestamp counters. bench/exporter-parity.sh checks the same against chrony_exporter.
func TestRealChronydExposition(t *testing.T) {
	since := chronytest.ByVersion(t, map[string]string{"4.3": "4.3", "4.4": "4.4"})
	file := "exposition-chrony-" + since + ".txt"
	up := chronytest.StartUpstream(t)
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine(), "allow 127.0.0.1"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(Options{Dial: DialSocket(cl.Socket, chronytest.ShortTempDir(t)), Timeout: 2 * time.Second, Logger: zaptest.NewLogger(t)}))

	mfs := gatherSynced(t, reg, cl)
	var b strings.Builder
	fmt.Fprintf(&b, "# /metrics of a synchronised chronyd %s or later (one loopback source): family, type, help; series' label names\n", since)
	for _, mf := range mfs {
		fmt.Fprintf(&b, "%s %s %q\n", mf.GetName(), mf.GetType(), mf.GetHelp())
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			var names []string
			for _, lp := range m.GetLabel() {
				names = append(names, lp.GetName())
			}
			sort.Strings(names)
			if k := strings.Join(names, ","); !seen[k] {
				seen[k] = true
				fmt.Fprintf(&b, "  {%s}\n", k)
			}
		}
	}
	golden.Compare(t, *update, filepath.Join("testdata", file), b.String())
}
