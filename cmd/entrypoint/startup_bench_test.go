package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/procstatus"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// Start-up cost, side by side with what a user would otherwise run: chronyd started bare with
// the same rendered file. Both are timed from exec until chronyd's command socket exists (the
// moment probes can ask). The entrypoint's figure includes validation, `chronyd -p`, the
// privilege drop and directory set-up. Reported too: the entrypoint's resident memory while it
// supervises a synchronised chronyd.
//
//	go test ./cmd/entrypoint -run '^$' -bench Startup -benchtime 20x

func BenchmarkStartupEntrypoint(b *testing.B) {
	up := chronytest.StartUpstream(b)
	var rssKB int
	var total time.Duration
	for i := 0; i < b.N; i++ {
		c := entrypointtest.NewContainer(b, up.SourceEntry())
		start := time.Now()
		p := entrypointtest.Start(b, bin, c.Env)
		waitForSocket(b, filepath.Join(c.Run, "chronyd", "chronyd.sock"), start)
		total += time.Since(start)
		if i == b.N-1 {
			// Let it synchronise and answer a scrape before reading its memory.
			entrypointtest.WaitProbe(b, bin, p, c.Env, "ready", 0, 20*time.Second)
			httpGet(b, "http://"+c.HTTPAddr+"/metrics")
			rssKB = vmRSS(b, p.Cmd.Process.Pid)
		}
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		p.Wait(b, 10*time.Second)
	}
	reportStartup(b, total)
	b.ReportMetric(float64(rssKB)/1024, "MB-rss-supervising")
}

// reportStartup replaces ns/op (which includes stopping) with the mean time to the socket.
func reportStartup(b *testing.B, total time.Duration) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-socket")
}

func BenchmarkStartupBareChronyd(b *testing.B) {
	up := chronytest.StartUpstream(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		dir := chronytest.ShortTempDir(b)
		entrypointtest.Must(b, os.Chmod(dir, 0o750))
		conf := filepath.Join(dir, "chrony.conf")
		sock := filepath.Join(dir, "chronyd.sock")
		entrypointtest.Must(b, os.WriteFile(conf, []byte(strings.Join([]string{
			fmt.Sprintf("server 127.0.0.1 port %d iburst minpoll -2 maxpoll 0", up.Port),
			"driftfile " + filepath.Join(dir, "drift"),
			"makestep 1 3", "local stratum 10",
			fmt.Sprintf("port %d", chronytest.FreeUDPPort(b)), "allow 127.0.0.1",
			"ratelimit interval 1 burst 16 leak 2", "clientloglimit 1048576",
			"bindcmdaddress " + sock, "pidfile " + filepath.Join(dir, "chronyd.pid"), "cmdport 0",
		}, "\n")+"\n"), 0o644))
		cmd := exec.Command(chronytest.Chronyd(b), "-x", "-d", "-U", "-u", chronytest.CurrentUser(b), "-f", conf)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitForSocket(b, sock, start)
		total += time.Since(start)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	reportStartup(b, total)
}

func waitForSocket(b *testing.B, path string, start time.Time) {
	b.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("no socket %s within 10 s", path)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func vmRSS(b *testing.B, pid int) int {
	b.Helper()
	st, err := procstatus.Read(pid)
	if err != nil {
		b.Fatal(err)
	}
	kb, err := st.RSSKiB()
	if err != nil {
		b.Fatal(err)
	}
	return kb
}
