package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/pkg/syncwatch"
)

// waitLog waits (bounded) until the entrypoint has logged an entry for which match is true
// and returns it; the test fails at the deadline with the whole log.
func waitLog(t *testing.T, p *entrypointtest.Proc, what string, within time.Duration, match func(entrypointtest.LogLine) bool) entrypointtest.LogLine {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		lines, err := entrypointtest.ParseLogs(p.Logs.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, p.Logs)
		}
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log entry %s within %v\nlogs:\n%s", what, within, p.Logs)
		}
		select {
		case <-p.Done():
			t.Fatalf("entrypoint exited while waiting for a log entry %s\n%s", what, p.Logs)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// syncLines returns the entries of the sync-state logger.
func syncLines(t *testing.T, p *entrypointtest.Proc) []entrypointtest.LogLine {
	t.Helper()
	lines, err := entrypointtest.ParseLogs(p.Logs.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Logs)
	}
	var out []entrypointtest.LogLine
	for _, l := range lines {
		if l.Logger == "sync" {
			out = append(out, l)
		}
	}
	return out
}

func field(l entrypointtest.LogLine, name string) string {
	v, _ := l.Fields[name].(string)
	return v
}

func msgIs(level, msg string) func(entrypointtest.LogLine) bool {
	return func(l entrypointtest.LogLine) bool { return l.Logger == "sync" && l.Level == level && l.Msg == msg }
}

// TestSyncStateLog: `docker logs` tells the story without chronyc: one line when chronyd first
// synchronises (info, naming the source), one when it moves to another source because the
// selected upstream stopped (info), one when every upstream is gone (warn); nothing in
// between, however many polls.
//
// chronyd keeps an upstream that stopped answering selected until its distance, growing with
// the age of its last sample, exceeds another's by reselectdist (100 us): at chrony's default
// maxclockerror of 1 ppm that takes minutes. A drop-in with maxclockerror 20 ppm makes it
// seconds; live sources (sampled every second) stay within 20 us of each other, so chronyd
// does not flap between them.
func TestSyncStateLog(t *testing.T) {
	t.Parallel()
	ups := startUpstreams(t, make([]int, len(upstreamAddrs)))
	c := entrypointtest.NewContainer(t, entrypointtest.Sources(ups...))
	entrypointtest.Must(t, os.WriteFile(filepath.Join(c.ConfDir, "reselect.conf"), []byte("maxclockerror 20\n"), 0o644))
	p := entrypointtest.Start(t, bin, c.Env)

	first := waitLog(t, p, `"chronyd synchronised"`, 30*time.Second, msgIs("info", "chronyd synchronised"))
	selected := field(first, "source")
	t.Logf("first sync: %s", first.Raw)
	waitAllSelectable(t, c, p, ups, 20*time.Second)

	for _, up := range ups {
		if up.Addr == selected {
			up.Stop()
		}
	}
	// Synchronised, the watcher polls every syncwatch.DefaultSteadyInterval: a change is seen
	// up to that much later than chronyd makes it, so each wait below allows for it.
	moved := waitLog(t, p, `"chronyd changed its selected source"`, 30*time.Second+syncwatch.DefaultSteadyInterval, msgIs("info", "chronyd changed its selected source"))
	t.Logf("after stopping %s: %s", selected, moved.Raw)
	if field(moved, "previous") != selected || field(moved, "source") == selected || field(moved, "source") == "" {
		t.Errorf("source change %s, want from %s to another upstream", moved.Raw, selected)
	}

	for _, up := range ups {
		up.Stop()
	}
	lost := waitLog(t, p, `"chronyd lost synchronisation"`, 40*time.Second+syncwatch.DefaultSteadyInterval, msgIs("warn", "chronyd lost synchronisation"))
	t.Logf("after stopping all: %s", lost.Raw)
	if field(lost, "previous") != field(moved, "source") || !strings.Contains(field(lost, "status"), "NTP_SERVERS") {
		t.Errorf("loss %s, want previous %s and a status naming NTP_SERVERS", lost.Raw, field(moved, "source"))
	}

	// Two more polls: still nothing new.
	time.Sleep(5 * time.Second)
	var story []string
	for _, l := range syncLines(t, p) {
		if l.Level != "debug" {
			story = append(story, l.Level+" "+l.Msg)
		}
	}
	want := []string{"info chronyd synchronised", "info chronyd changed its selected source", "warn chronyd lost synchronisation"}
	if fmt.Sprint(story) != fmt.Sprint(want) {
		t.Errorf("sync log:\n%s\nwant exactly:\n%s", strings.Join(story, "\n"), strings.Join(want, "\n"))
	}
}

// TestOfflineMode: cturra/ntp's documented offline mode, NTP_SERVERS=127.127.1.1, serves the
// local clock (stratum LOCAL_STRATUM=10) and is ready without READY_ALLOW_LOCAL, whether
// nothing answers at 127.127.1.1 or chronyd's own NTP port does (NTP_PORT=123 in a container:
// chronyd then polls itself and rejects its own replies). The log says so once.
func TestOfflineMode(t *testing.T) {
	t.Parallel()
	for _, self := range []bool{false, true} {
		t.Run(fmt.Sprintf("polls itself=%v", self), func(t *testing.T) {
			t.Parallel()
			c := entrypointtest.NewContainer(t, "127.127.1.1")
			if self {
				c.Set(t, "NTP_SERVERS=127.127.1.1 port "+strconv.Itoa(c.NTPPort), "ALLOW=127.0.0.0/8")
			}
			p := entrypointtest.Start(t, bin, c.Env)
			r := entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 20*time.Second)
			if !strings.HasPrefix(r.Stdout, "ready: serving the local clock as configured (no network source): stratum 10") {
				t.Errorf("probe ready = %q, want the local clock as configured at stratum 10", r.Stdout)
			}
			waitStratum(t, p, c.NTPPort, 10, 10*time.Second)
			waitLog(t, p, `"chronyd serves the local clock, as configured"`, 10*time.Second, msgIs("info", "chronyd serves the local clock, as configured"))
			if errs := errorLines(t, p.Logs.String()); len(errs) > 0 {
				t.Errorf("error lines in offline mode: %+v", errs)
			}
		})
	}
}

// TestUnresolvedSource: host names that cannot be resolved (a typo, or no DNS) are logged as a
// warning once, by name, and `probe ready` names them, NTP_SERVERS and READY_ALLOW_LOCAL. The
// container runs in a network namespace of its own with no interface up, so chronyd's lookup
// of a .invalid name fails at once and no packet leaves this machine.
func TestUnresolvedSource(t *testing.T) {
	t.Parallel()
	c := entrypointtest.NewContainer(t, "ntp.example.invalid iburst")
	// A pool adds a placeholder per source it may give (8 here), all under one name.
	// HTTP_ADDR=off: the empty namespace has no loopback address to bind.
	c.Set(t, "NTP_POOLS=pool.example.invalid", "HTTP_ADDR=off")
	unshare, err := exec.LookPath("unshare") // util-linux, which .ci/run installs
	if err != nil {
		t.Fatalf("unshare (util-linux) is needed to give the container an empty network namespace: %v", err)
	}
	p := entrypointtest.Start(t, unshare, c.Env, "--net", bin)

	warn := waitLog(t, p, "warning about unresolved sources", 30*time.Second, msgIs("warn",
		"NTP sources have no address: host names not resolved (no DNS, or a typo in NTP_SERVERS/NTP_POOLS); chronyd keeps trying"))
	if hosts := fmt.Sprint(warn.Fields["hosts"]); hosts != "[ntp.example.invalid pool.example.invalid]" {
		t.Errorf("warning %s, want hosts [ntp.example.invalid pool.example.invalid]", warn.Raw)
	}
	r := entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 1, 10*time.Second)
	t.Logf("probe ready: %s", strings.TrimSpace(r.Stdout))
	for _, want := range []string{"host name(s) not resolved: ntp.example.invalid, pool.example.invalid (", "NTP_SERVERS", "READY_ALLOW_LOCAL=true"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("probe ready = %q, want it to say %q", r.Stdout, want)
		}
	}
	if strings.Contains(r.Stdout, "ID#") {
		t.Errorf("probe ready = %q: the unresolved source's placeholder (ID#...) is not news to a user", r.Stdout)
	}
	time.Sleep(5 * time.Second) // two more polls: no second warning
	n := 0
	for _, l := range syncLines(t, p) {
		if l.Level == "warn" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings from the sync logger, want 1\n%s", n, p.Logs)
	}
}
