// Command driver measures for bench/probes-and-metrics.sh what the shell cannot measure
// finely: it runs and times other programs, never stands in for one. The figures are the
// real entrypoint's, built as the Dockerfile builds it.
//
//	driver execbench N CMD ARGS...   median wall and user+sys CPU per exec of CMD ("wall_us cpu_us")
//	driver scrapebench N URL PID     median latency and CPU per scrape of PID, its RSS after
//	                                 ("latency_us cpu_us rss_kib")
//	driver memseries N STEP NAME=URL@PID...
//	                                 scrapes each URL N times, STEP at a time in turn, and after
//	                                 each step prints one line per NAME: "NAME scrapes rss_kib
//	                                 anon_kib file_kib cpu_us" (cpu_us: mean per scrape so far);
//	                                 then "NAME touched exe_rss_kib exe_referenced_kib": of its
//	                                 binary's resident pages, those used in the last step
//	driver freeport udp|tcp          a free 127.0.0.1 port
//	driver as UID GID CMD ARGS...    exec CMD as UID:GID with no supplementary groups
//
// execbench runs CMD as the uid and gid in BENCH_UID and BENCH_GID when set, without an extra
// exec in between (setpriv would add its own exec to each figure).
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chris-short/chrony/internal/procstatus"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: driver execbench|scrapebench|freeport|as ...")
	}
	switch os.Args[1] {
	case "execbench":
		execBench(atoi(os.Args[2]), os.Args[3:])
	case "scrapebench":
		scrapeBench(atoi(os.Args[2]), os.Args[3], atoi(os.Args[4]))
	case "memseries":
		memSeries(atoi(os.Args[2]), atoi(os.Args[3]), os.Args[4:])
	case "freeport":
		freePort(os.Args[2])
	case "as":
		runAs(atoi(os.Args[2]), atoi(os.Args[3]), os.Args[4:])
	default:
		fail("unknown command " + os.Args[1])
	}
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

// scrapeOnce GETs url, failing unless the answer is 200 with chrony_up 1.
func scrapeOnce(client *http.Client, url string) {
	resp, err := client.Get(url)
	if err != nil {
		fail(err.Error())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "\nchrony_up 1\n") {
		fail(fmt.Sprintf("scrape %s: %d, chrony_up not 1", url, resp.StatusCode))
	}
}

// memSeries scrapes every target n times, step scrapes at a time and the targets in turn
// (the first target first in odd steps, last in even ones, so a neighbour's load falls on all
// alike), and prints each target's memory after each step: how it grows, not one point.
func memSeries(n, step int, targets []string) {
	type target struct {
		name, url string
		pid       int
		cpu0      time.Duration
	}
	ts := make([]*target, 0, len(targets))
	for _, a := range targets {
		name, rest, ok1 := strings.Cut(a, "=")
		url, pid, ok2 := strings.Cut(rest, "@")
		if !ok1 || !ok2 {
			fail("memseries: want NAME=URL@PID, got " + a)
		}
		t := &target{name: name, url: url, pid: atoi(pid)}
		t.cpu0 = procCPU(t.pid)
		ts = append(ts, t)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for done, round := 0, 0; done < n; round++ {
		k := min(step, n-done)
		order := slices.Clone(ts)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		last := done+k >= n
		if last {
			// Steady state: which of the binary's pages does a scrape use? The kernel maps
			// the page cache 64 KB around each page faulted, and start-up touches much that
			// scrapes never do; clearing the referenced bits first tells them apart.
			for _, t := range ts {
				if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", t.pid), []byte("1"), 0); err != nil {
					fail(err.Error())
				}
			}
		}
		for _, t := range order {
			for range k {
				scrapeOnce(client, t.url)
			}
		}
		done += k
		for _, t := range ts {
			st, err := procstatus.Read(t.pid)
			if err != nil {
				fail(err.Error())
			}
			kib := func(k string) int { v, _ := strconv.Atoi(st.First(k)); return v }
			cpu := (procCPU(t.pid) - t.cpu0) / time.Duration(done)
			fmt.Printf("%s %d %d %d %d %d\n", t.name, done, kib("VmRSS"), kib("RssAnon"), kib("RssFile"), cpu.Microseconds())
		}
	}
	for _, t := range ts {
		rss, ref := exeReferenced(t.pid)
		fmt.Printf("%s touched %d %d\n", t.name, rss, ref)
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

// scrapeBench scrapes url n times in sequence, failing unless every scrape says chrony_up 1.
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
