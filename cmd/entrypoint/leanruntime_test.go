package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// TestRunGoProcessSeriesAndRuntime: /metrics leaves out the go_* and process_* series unless
// METRICS_GO_PROCESS=true, and `run` uses one P and GOGC=50 unless GOMAXPROCS and GOGC say
// otherwise (read back from the go_* series themselves).
func TestRunGoProcessSeriesAndRuntime(t *testing.T) {
	up := chronytest.StartUpstream(t)
	cases := []struct {
		name string
		env  []string
		want map[string]string // series name -> value; "" = absent
	}{
		{"default", nil, map[string]string{
			"go_goroutines": "", "process_resident_memory_bytes": "", "go_gc_gogc_percent": "",
		}},
		{"go-process", []string{"METRICS_GO_PROCESS=true"}, map[string]string{
			"go_gc_gogc_percent": "50", "go_sched_gomaxprocs_threads": "1", "process_resident_memory_bytes": "*",
		}},
		{"user-runtime-settings", []string{"METRICS_GO_PROCESS=true", "GOGC=100", "GOMAXPROCS=2"}, map[string]string{
			"go_gc_gogc_percent": "100", "go_sched_gomaxprocs_threads": "2",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := entrypointtest.NewContainer(t, up.SourceEntry())
			ct.Set(t, c.env...)
			p := entrypointtest.Start(t, bin, ct.Env)
			entrypointtest.WaitProbe(t, bin, p, ct.Env, "live", 0, 20*time.Second)
			body, code := httpGet(t, "http://"+ct.HTTPAddr+"/metrics")
			if code != http.StatusOK || !strings.Contains(body, "\nchrony_up 1\n") {
				t.Fatalf("GET /metrics: %d:\n%.2000s", code, body)
			}
			for name, want := range c.want {
				m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
				switch {
				case want == "" && m != nil:
					t.Errorf("/metrics has %s without METRICS_GO_PROCESS=true", m[0])
				case want == "*" && m == nil, want != "" && want != "*" && (m == nil || m[1] != want):
					t.Errorf("/metrics: %s = %v, want %s", name, m, want)
				}
			}
			series := strings.Contains(body, "\ngo_") || strings.Contains(body, "\nprocess_")
			if wantSeries := len(c.env) > 0; series != wantSeries {
				t.Errorf("go_*/process_* series present = %v, want %v:\n%.3000s", series, wantSeries, body)
			}
		})
	}
}

// TestProbeInitAllocations: what package initialisation allocates is paid by every probe exec
// (and stays in PID 1's heap when it is kept). No package may allocate more than initBudget at
// init; work that only `run` needs is built on first use (chronylog's severity matcher was
// 1.1 MB here). Allocation counts are exact, unlike times on a shared machine.
func TestProbeInitAllocations(t *testing.T) {
	const initBudget = 256 << 10
	c := entrypointtest.NewContainer(t, "127.0.0.1")
	r := entrypointtest.Run(t, bin, append(c.Env, "GODEBUG=inittrace=1"), "probe", "live")
	// inittrace lines: "init PKG @T ms, C ms clock, B bytes, A allocs"
	re := regexp.MustCompile(`(?m)^init (\S+) @.* (\d+) bytes, \d+ allocs$`)
	lines := re.FindAllStringSubmatch(r.Stderr, -1)
	if len(lines) == 0 {
		t.Fatalf("no inittrace lines in the probe's stderr:\n%s", r.Stderr)
	}
	for _, m := range lines {
		if n, _ := strconv.Atoi(m[2]); n > initBudget {
			t.Errorf("init of %s allocates %d bytes, over %d: build it on first use", m[1], n, initBudget)
		}
	}
}
