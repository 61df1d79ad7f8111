// Command benchentry is a bench-only stand-in for cmd/entrypoint until its `probe` command
// exists, plus the measuring helpers bench/probes-and-metrics.sh needs (rusage per exec and
// /proc CPU per scrape have finer resolution than /usr/bin/time).
//
//	benchentry probe live|ready        env RUN_DIR, READY_MAX_DISTANCE; exit 0/1/2
//	benchentry serve ADDR              /healthz /readyz /metrics for RUN_DIR's chronyd
//	benchentry execbench N CMD ARGS... median wall and user+sys CPU per exec of CMD
//	benchentry scrapebench N URL PID   median latency and CPU per scrape, RSS after
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/httpapi"
	"github.com/chris-short/chrony/pkg/metrics"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: benchentry probe|serve|execbench|scrapebench ...")
	}
	switch os.Args[1] {
	case "probe":
		os.Exit(probe(os.Args[2:]))
	case "serve":
		serve(os.Args[2])
	case "execbench":
		n, _ := strconv.Atoi(os.Args[2])
		execBench(n, os.Args[3:])
	case "scrapebench":
		n, _ := strconv.Atoi(os.Args[2])
		pid, _ := strconv.Atoi(os.Args[4])
		scrapeBench(n, os.Args[3], pid)
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) { fmt.Fprintln(os.Stderr, msg); os.Exit(2) }

func prober() health.Prober {
	run := os.Getenv("RUN_DIR")
	if run == "" {
		fail("RUN_DIR not set")
	}
	th := health.Thresholds{AllowLocal: os.Getenv("READY_ALLOW_LOCAL") == "true"}
	if v := os.Getenv("READY_MAX_DISTANCE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fail(fmt.Sprintf("READY_MAX_DISTANCE=%q: %v", v, err))
		}
		th.MaxDistance = d
	}
	return health.Prober{Socket: filepath.Join(run, "chronyd", "chronyd.sock"), ClientDir: run, Timeout: 2 * time.Second, Thresholds: th}
}

func probe(args []string) int {
	p := prober()
	var r health.Result
	switch {
	case len(args) == 1 && args[0] == "live":
		r = p.Live(context.Background())
	case len(args) == 1 && args[0] == "ready":
		r = p.Ready(context.Background())
	default:
		fail("usage: benchentry probe live|ready")
	}
	fmt.Println(r.Reason)
	switch {
	case r.OK:
		return 0
	case r.Err != nil:
		return 2
	}
	return 1
}

func serve(addr string) {
	p := prober()
	log := zap.NewNop()
	reg, err := metrics.NewRegistry(
		metrics.New(metrics.Options{Dial: metrics.DialSocket(p.Socket, p.ClientDir), Logger: log}),
		metrics.NewSupervisorCollector(nil, metrics.BuildInfo{Version: "bench"}))
	if err != nil {
		fail(err.Error())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err.Error())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := httpapi.Serve(ctx, httpapi.New(addr, httpapi.Deps{Live: p.Live, Ready: p.Ready, Metrics: reg, Logger: log}), ln, 5*time.Second); err != nil {
		fail(err.Error())
	}
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// execBench prints "wall_us cpu_us" medians over n execs of argv, failing on a non-zero exit.
func execBench(n int, argv []string) {
	walls, cpus := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			fail(fmt.Sprintf("%v: %v", argv, err))
		}
		walls = append(walls, time.Since(start))
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	fmt.Printf("%d %d\n", median(walls).Microseconds(), median(cpus).Microseconds())
}

// procCPU is utime+stime of pid from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail(err.Error())
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return time.Duration(u+s) * 10 * time.Millisecond
}

func procRSSKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fail(err.Error())
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.Atoi(strings.Fields(l)[1])
			return v
		}
	}
	return 0
}

// scrapeBench prints "latency_us cpu_us_per_scrape rss_kib" over n sequential scrapes.
func scrapeBench(n int, url string, pid int) {
	client := &http.Client{Timeout: 5 * time.Second}
	lat := make([]time.Duration, 0, n)
	cpu0 := procCPU(pid)
	for range n {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			fail(err.Error())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != 200 || !strings.Contains(string(body), "\nchrony_up 1\n") {
			fail(fmt.Sprintf("scrape %s: %d, chrony_up not 1", url, resp.StatusCode))
		}
	}
	cpu := (procCPU(pid) - cpu0) / time.Duration(n)
	fmt.Printf("%d %d %d\n", median(lat).Microseconds(), cpu.Microseconds(), procRSSKiB(pid))
}
