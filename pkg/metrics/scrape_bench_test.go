package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/pkg/chrony"
)

// BenchmarkScrape weighs the collector's connection policy (the figures are in Collector's
// comment): one GET /metrics through promhttp (every request of a round, the exposition
// encoded) on a real chronyd -x (CHRONY_VERSION) synchronised to a loopback upstream and
// serving clients, with the entrypoint's options (Extended, SourceNames, Clients; MinInterval
// 0 so that every scrape asks chronyd), client sockets on a tmpfs like RUN_DIR's. "kept" reuses
// one connection across scrapes; "dial-per-scrape" dials before each scrape and closes after
// it, as the prober does. "paced-20ms" leaves 20 ms between scrapes (not timed), so each finds
// its caches as cold as a Prometheus scrape 15 s after the last does, rather than warm from the
// scrape before; "dial-close-only" is chrony.Dial and Close without a request. Besides ns/op and
// allocs/op: cpu-ns/op, this process's user+system CPU during the scrapes (getrusage), and
// chronyd-cpu-ns/op, chronyd's during them (/proc/<pid>/stat, in 10 ms ticks: the median of
// several runs means something, one run little). Run the pairs several times, as the figures
// vary by 10-20 % from run to run on a shared machine:
//
//	for i in 1 2 3 4 5 6; do go test ./pkg/metrics -run '^$' -bench Scrape -benchtime 400x; done
func BenchmarkScrape(b *testing.B) {
	up := chronytest.StartUpstream(b)
	cl := chronytest.Start(b, chronytest.Options{Lines: []string{up.ServerLine(), "allow 127.0.0.1"}})
	clientDir := tmpfsDir(b)
	newHandler := func() (*Collector, http.Handler) {
		c := New(Options{Dial: DialSocket(cl.Socket, clientDir), Extended: true, SourceNames: true, Clients: true})
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		return c, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	// Scrape until the client is synchronised, so the benchmark's scrapes carry a source and its
	// statistics like a running container's.
	c, h := newHandler()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	gatherSynced(b, reg, cl)
	c.Close()

	policies := []struct {
		name        string
		afterScrape func(c *Collector)
	}{
		{"kept", func(*Collector) {}},
		{"dial-per-scrape", func(c *Collector) { _ = c.Close() }},
	}
	for _, pause := range []time.Duration{0, 20 * time.Millisecond} {
		for _, p := range policies {
			name := p.name
			if pause > 0 {
				name += "/paced-" + pause.String()
			}
			b.Run(name, func(b *testing.B) {
				c, h = newHandler()
				defer c.Close()
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				scrape := func() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "\nchrony_up 1\n") {
						b.Fatalf("scrape: %d\n%s", rec.Code, rec.Body)
					}
					p.afterScrape(c)
				}
				scrape() // the kept connection is dialled outside the timing, as in a long run
				b.ReportAllocs()
				var cpu, chronyd int64
				b.ResetTimer()
				for range b.N {
					if pause > 0 {
						b.StopTimer()
						time.Sleep(pause)
						b.StartTimer()
					}
					cpu0, chronyd0 := selfCPU(b), procCPU(b, cl.PID())
					scrape()
					cpu += selfCPU(b) - cpu0
					chronyd += procCPU(b, cl.PID()) - chronyd0
				}
				b.StopTimer()
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(chronyd)/float64(b.N), "chronyd-cpu-ns/op")
				if es, err := os.ReadDir(clientDir); err != nil || len(es) > 1 {
					b.Errorf("client socket directories left: %d, %v", len(es), err)
				}
			})
		}
	}
	// What dial-per-scrape adds, alone: chrony.Dial and Close, no request.
	b.Run("dial-close-only", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := selfCPU(b)
		for range b.N {
			conn, err := chrony.Dial(context.Background(), cl.Socket, clientDir)
			if err != nil {
				b.Fatal(err)
			}
			if err := conn.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(selfCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

// selfCPU is this process's user+system CPU time in ns.
func selfCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// procCPU is pid's user+system CPU time in ns (utime and stime of /proc/<pid>/stat, in
// USER_HZ ticks of 10 ms).
func procCPU(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var utime, stime int64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &utime, &stime); err != nil {
		b.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return (utime + stime) * int64(10*time.Millisecond)
}

// tmpfsDir is a directory on a tmpfs (/dev/shm), where the image's RUN_DIR is one (--tmpfs):
// a mkdir there costs less than on a disk's file system. Without /dev/shm, a directory in
// /tmp. Removed when the benchmark ends.
func tmpfsDir(b *testing.B) string {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		b.Logf("no tmpfs at /dev/shm (%v): client sockets in /tmp", err)
		return chronytest.ShortTempDir(b)
	}
	d, err := os.MkdirTemp("/dev/shm", "ct")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}
