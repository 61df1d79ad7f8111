// Command driver measures for bench/probes-and-metrics.sh what the shell cannot measure
// finely: it runs and times other programs, never stands in for one. The figures are the
// real entrypoint's, built as the Dockerfile builds it.
//
//	driver execbench N CMD ARGS...   median wall and user+sys CPU per exec of CMD ("wall_us cpu_us")
//	driver scrapebench [-gap D] N URL@PID...
//	                                 scrapes each URL N times, the URLs in turn, and prints one
//	                                 line per URL: median latency and mean CPU per scrape of
//	                                 PID, its RSS after ("latency_us cpu_us rss_kib")
//	driver memseries [-gap D] N STEP NAME=URL@PID...
//	                                 scrapes each URL N times, the URLs in turn, and after every
//	                                 STEP scrapes of each prints one line per NAME: "NAME scrapes
//	                                 rss_kib anon_kib file_kib pss_kib pss_anon_kib pss_file_kib
//	                                 cg_kib cg_anon_kib cg_file_kib cg_ws_kib cpu_us" (VmRSS and
//	                                 its split from /proc/PID/status, PSS from smaps_rollup, cg_*
//	                                 the memory cgroup's charge when PID has a memory cgroup
//	                                 other than the driver's, as in a container, else -1, with
//	                                 the working set the kubelet reports; cpu_us: mean
//	                                 per scrape so far); then "NAME touched exe_rss_kib
//	                                 exe_referenced_kib": of its binary's resident pages, those
//	                                 used in the last step
//	driver standin TAG               builds the stand-in image (test/standin) as TAG
//	driver freeport udp|tcp          a free 127.0.0.1 port
//	driver as UID GID CMD ARGS...    exec CMD as UID:GID with no supplementary groups
//
// -gap D: a URL is scraped again no sooner than D after its previous scrape ended (default 0:
// back to back). The entrypoint answers a scrape within its reuse window (250 ms after a round)
// from the last round without asking chronyd, so a gap just beyond it measures fresh rounds,
// as Prometheus's scrapes every 15-60 s are; chrony_exporter asks chronyd at every scrape
// either way. The URLs are scraped in turn (one scrape each, the order reversed every other
// time), so a neighbour's load falls on all alike and the gap costs the run once, not once per
// URL.
//
// execbench runs CMD as the uid and gid in BENCH_UID and BENCH_GID when set, without an extra
// exec in between (setpriv would add its own exec to each figure).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chris-short/chrony/internal/procstatus"
	"github.com/chris-short/chrony/test/standin"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: driver execbench|scrapebench|freeport|as ...")
	}
	switch os.Args[1] {
	case "execbench":
		execBench(atoi(os.Args[2]), os.Args[3:])
	case "scrapebench":
		gap, args := gapFlag(os.Args[1], os.Args[2:])
		if len(args) < 2 {
			fail("usage: driver scrapebench [-gap D] N URL@PID...")
		}
		scrapeBench(atoi(args[0]), gap, args[1:])
	case "memseries":
		gap, args := gapFlag(os.Args[1], os.Args[2:])
		if len(args) < 3 {
			fail("usage: driver memseries [-gap D] N STEP NAME=URL@PID...")
		}
		memSeries(atoi(args[0]), atoi(args[1]), gap, args[2:])
	case "freeport":
		freePort(os.Args[2])
	case "standin":
		buildStandin(os.Args[2])
	case "as":
		runAs(atoi(os.Args[2]), atoi(os.Args[3]), os.Args[4:])
	default:
		fail("unknown command " + os.Args[1])
	}
}

// gapFlag parses the -gap option that scrapebench and memseries take before their arguments.
func gapFlag(cmd string, args []string) (time.Duration, []string) {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	gap := fs.Duration("gap", 0, "least time between the end of a URL's scrape and the start of its next")
	_ = fs.Parse(args) // ExitOnError: Parse exits on a bad flag
	if *gap < 0 {
		fail("-gap: negative duration")
	}
	return *gap, fs.Args()
}

func fail(msg string) { fmt.Fprintln(os.Stderr, "driver:", msg); os.Exit(2) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail(fmt.Sprintf("not a number: %q", s))
	}
	return n
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// credential is BENCH_UID:BENCH_GID, or nil to run as ourselves.
func credential() *syscall.Credential {
	u, g := os.Getenv("BENCH_UID"), os.Getenv("BENCH_GID")
	if u == "" {
		return nil
	}
	return &syscall.Credential{Uid: uint32(atoi(u)), Gid: uint32(atoi(g)), NoSetGroups: false}
}

// execBench prints median wall and CPU (the child's rusage) over n execs, failing on any
// non-zero exit: a benchmark of a failing probe would measure the wrong path.
func execBench(n int, argv []string) {
	walls, cpus := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	cred := credential()
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		start := time.Now()
		if err := cmd.Run(); err != nil {
			fail(fmt.Sprintf("%v: %v", argv, err))
		}
		walls = append(walls, time.Since(start))
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	fmt.Printf("%d %d\n", median(walls).Microseconds(), median(cpus).Microseconds())
}

// procCPU is utime+stime of pid's own threads from /proc (clock ticks of 10 ms; children
// such as chronyd are not counted).
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
	st, err := procstatus.Read(pid)
	if err != nil {
		fail(err.Error())
	}
	kb, err := st.RSSKiB()
	if err != nil {
		fail(fmt.Sprintf("pid %d: %v", pid, err))
	}
	return kb
}

// target is one measured server: its /metrics URL and the PID whose CPU and memory are read.
type target struct {
	name, url string
	pid       int
	cpu0      time.Duration // procCPU at the start
	lastEnd   time.Time     // when its last scrape ended
	lat       []time.Duration
}

// parseTargets reads URL@PID or, when named, NAME=URL@PID arguments.
func parseTargets(args []string, named bool) []*target {
	ts := make([]*target, 0, len(args))
	for _, a := range args {
		t := &target{}
		rest := a
		if named {
			var ok bool
			if t.name, rest, ok = strings.Cut(a, "="); !ok {
				fail("want NAME=URL@PID, got " + a)
			}
		}
		url, pid, ok := strings.Cut(rest, "@")
		if !ok {
			fail("want URL@PID, got " + a)
		}
		t.url, t.pid = url, atoi(pid)
		t.cpu0 = procCPU(t.pid)
		ts = append(ts, t)
	}
	return ts
}

// inTurn returns the targets in order for even i, reversed for odd i, so that none is always
// scraped first.
func inTurn(ts []*target, i int) []*target {
	order := slices.Clone(ts)
	if i%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// scrape waits until gap has passed since t's last scrape ended, then GETs t's URL, failing
// unless the answer is 200 with chrony_up 1, and records the latency.
func (t *target) scrape(client *http.Client, gap time.Duration) {
	if !t.lastEnd.IsZero() {
		if d := time.Until(t.lastEnd.Add(gap)); d > 0 {
			time.Sleep(d)
		}
	}
	start := time.Now()
	resp, err := client.Get(t.url)
	if err != nil {
		fail(err.Error())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.lastEnd = time.Now()
	t.lat = append(t.lat, t.lastEnd.Sub(start))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "\nchrony_up 1\n") {
		fail(fmt.Sprintf("scrape %s: %d, chrony_up not 1", t.url, resp.StatusCode))
	}
}

// memSeries scrapes every target n times, the targets in turn, and prints each target's memory
// after every step scrapes of each: how it grows, not one point.
func memSeries(n, step int, gap time.Duration, args []string) {
	ts := parseTargets(args, true)
	client := &http.Client{Timeout: 5 * time.Second}
	for done := 0; done < n; {
		k := min(step, n-done)
		if done+k >= n {
			// Steady state: which of the binary's pages does a scrape use? The kernel maps
			// the page cache 64 KB around each page faulted, and start-up touches much that
			// scrapes never do; clearing the referenced bits first tells them apart.
			for _, t := range ts {
				if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", t.pid), []byte("1"), 0); err != nil {
					fail(err.Error())
				}
			}
		}
		for i := range k {
			for _, t := range inTurn(ts, done+i) {
				t.scrape(client, gap)
			}
		}
		done += k
		for _, t := range ts {
			st, err := procstatus.Read(t.pid)
			if err != nil {
				fail(err.Error())
			}
			kib := func(k string) int { v, _ := strconv.Atoi(st.First(k)); return v }
			pss, pssAnon, pssFile := pssKiB(t.pid)
			cg := cgroupKiB(t.pid)
			cpu := (procCPU(t.pid) - t.cpu0) / time.Duration(done)
			fmt.Printf("%s %d %d %d %d %d %d %d %d %d %d %d %d\n", t.name, done, kib("VmRSS"), kib("RssAnon"), kib("RssFile"),
				pss, pssAnon, pssFile, cg.total, cg.anon, cg.file, cg.workingSet, cpu.Microseconds())
		}
	}
	for _, t := range ts {
		rss, ref := exeReferenced(t.pid)
		fmt.Printf("%s touched %d %d\n", t.name, rss, ref)
	}
}

// pssKiB is pid's proportional set size and its anonymous and file-backed parts (KiB, from
// /proc/PID/smaps_rollup): a page shared by k processes counts 1/k in each, which is what an
// orchestrator that sums its processes should charge.
func pssKiB(pid int) (pss, anon, file int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		fail(err.Error())
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Pss:":
			pss = v
		case "Pss_Anon:":
			anon = v
		case "Pss_File:":
			file = v
		}
	}
	return pss, anon, file
}

// charge is what a memory cgroup is charged, in KiB.
type charge struct {
	total, anon, file int
	workingSet        int // total less inactive page cache: what the kubelet reports and evicts on
}

// cgroupKiB is what pid's memory cgroup is charged: in total, anonymous and page cache (cgroup
// v2: memory.current, memory.stat anon and file; v1: memory.usage_in_bytes, memory.stat rss
// and cache), and the working set. A container's cgroup holds the entrypoint and its chronyd;
// the page cache of the binary is charged to the cgroup that first read it. All -1 when pid is
// in the driver's own memory cgroup (not a container of its own: the charge would be the whole
// session's).
func cgroupKiB(pid int) charge {
	mine, _ := memCgroup(os.Getpid())
	path, v2 := memCgroup(pid)
	if path == "" || path == mine {
		return charge{-1, -1, -1, -1}
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", path)
	cur, anonKey, fileKey, inactiveKey := "memory.usage_in_bytes", "total_rss", "total_cache", "total_inactive_file"
	if v2 {
		dir, cur, anonKey, fileKey, inactiveKey = filepath.Join("/sys/fs/cgroup", path), "memory.current", "anon", "file", "inactive_file"
	}
	b, err := os.ReadFile(filepath.Join(dir, cur))
	if err != nil {
		fail(err.Error())
	}
	total, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if b, err = os.ReadFile(filepath.Join(dir, "memory.stat")); err != nil {
		fail(err.Error())
	}
	var anon, file, inactive int
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(v)
		switch k {
		case anonKey:
			anon = n
		case fileKey:
			file = n
		case inactiveKey:
			inactive = n
		}
	}
	return charge{total / 1024, anon / 1024, file / 1024, max(total-inactive, 0) / 1024}
}

// memCgroup is pid's memory cgroup from /proc/PID/cgroup: the v1 memory controller's path
// when there is one, else the v2 path (v2 true).
func memCgroup(pid int) (path string, v2 bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		fail(err.Error())
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if slices.Contains(strings.Split(f[1], ","), "memory") {
			return f[2], false
		}
		if f[0] == "0" && f[1] == "" {
			path, v2 = f[2], true
		}
	}
	if v2 {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", path, "memory.current")); err != nil {
			return "", false
		}
	}
	return path, v2
}

// buildStandin builds the stand-in image (test/standin) as tag, for bench/memory.sh's
// DOCKER=1 runs.
func buildStandin(tag string) {
	repo, err := os.Getwd()
	if err != nil {
		fail(err.Error())
	}
	work, err := os.MkdirTemp("", "standin")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(work)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// ChronyRoot empty: standin fetches chrony with its libraries (scripts/fetch-chrony.sh).
	if _, err := standin.Build(ctx, standin.Options{Repo: repo, Tag: tag, WorkDir: work}); err != nil {
		fail(err.Error())
	}
}

// exeReferenced sums Rss and Referenced (KiB) over pid's mappings of its own executable.
func exeReferenced(pid int) (rss, ref int) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		fail(err.Error())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		fail(err.Error())
	}
	mine := false
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			mine = len(f) >= 6 && f[5] == exe
		case mine && len(f) >= 2 && f[0] == "Rss:":
			v, _ := strconv.Atoi(f[1])
			rss += v
		case mine && len(f) >= 2 && f[0] == "Referenced:":
			v, _ := strconv.Atoi(f[1])
			ref += v
		}
	}
	return rss, ref
}

// scrapeBench scrapes every target n times, the targets in turn, and prints for each (in the
// order given) the median latency, the mean CPU per scrape and the RSS after.
func scrapeBench(n int, gap time.Duration, args []string) {
	ts := parseTargets(args, false)
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range n {
		for _, t := range inTurn(ts, i) {
			t.scrape(client, gap)
		}
	}
	for _, t := range ts {
		cpu := (procCPU(t.pid) - t.cpu0) / time.Duration(n)
		fmt.Printf("%d %d %d\n", median(t.lat).Microseconds(), cpu.Microseconds(), procRSSKiB(t.pid))
	}
}

func freePort(proto string) {
	switch proto {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			fail(err.Error())
		}
		defer c.Close()
		fmt.Println(c.LocalAddr().(*net.UDPAddr).Port)
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err.Error())
		}
		defer l.Close()
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	default:
		fail("freeport udp|tcp")
	}
}

// runAs becomes uid:gid (every thread: Go applies set*id process-wide) and execs argv, so the
// caller's $! is the measured process itself.
func runAs(uid, gid int, argv []string) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fail(err.Error())
	}
	if err := syscall.Setgroups(nil); err != nil {
		fail("setgroups: " + err.Error())
	}
	if err := syscall.Setgid(gid); err != nil {
		fail("setgid: " + err.Error())
	}
	if err := syscall.Setuid(uid); err != nil {
		fail("setuid: " + err.Error())
	}
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		fail(fmt.Sprintf("exec %s: %v", path, err))
	}
}
