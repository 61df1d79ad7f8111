package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/pkg/chrony"
)

// waitFor probes every 200 ms until want(result) or the deadline, returning the last result
// and how long it took.
func waitFor(t *testing.T, probe func(context.Context) Result, want func(Result) bool, deadline time.Duration) (Result, time.Duration) {
	t.Helper()
	start := time.Now()
	var r Result
	for time.Since(start) < deadline {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r = probe(ctx)
		cancel()
		if want(r) {
			return r, time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v; last result: %+v", deadline, r)
	return r, 0
}

// TestReadyFollowsUpstream runs Debian's chronyd (-x) against a loopback upstream: not ready
// before the first sync, ready after it, not ready once the upstream is gone and its samples
// have aged out, ready again when an upstream comes back on the same port (no restart).
func TestReadyFollowsUpstream(t *testing.T) {
	up := chronytest.StartUpstream(t)
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine(), "allow 127.0.0.1"}})
	p := Prober{Socket: cl.Socket, ClientDir: chronytest.ShortTempDir(t), Timeout: time.Second,
		Thresholds: Thresholds{MaxDistance: time.Second}}

	r, took := waitFor(t, p.Ready, func(r Result) bool { return r.OK }, 20*time.Second)
	t.Logf("ready after %v: %s", took, r.Reason)
	if !strings.Contains(r.Reason, "stratum 2") || !strings.Contains(r.Reason, "source 127.0.0.1") {
		t.Errorf("reason %q lacks stratum or source", r.Reason)
	}

	up.Stop()
	r, took = waitFor(t, p.Ready, func(r Result) bool { return !r.OK }, 60*time.Second)
	t.Logf("not ready %v after the upstream stopped: %s", took, r.Reason)
	if r.Err != nil {
		t.Errorf("not ready should be chronyd's answer, not a failure to ask: %v", r.Err)
	}
	if lv := p.Live(context.Background()); !lv.OK {
		t.Errorf("chronyd still runs but Live = %+v", lv)
	}

	chronytest.Start(t, chronytest.Options{Port: up.Port, Lines: []string{"local stratum 1", "allow 127.0.0.0/8"}})
	r, took = waitFor(t, p.Ready, func(r Result) bool { return r.OK }, 60*time.Second)
	t.Logf("ready again %v after a new upstream on port %d: %s", took, up.Port, r.Reason)
}

// TestLiveFailsWhenChronydStops: an error within the deadline, never a hang.
func TestLiveFailsWhenChronydStops(t *testing.T) {
	cl := chronytest.Start(t, chronytest.Options{})
	p := Prober{Socket: cl.Socket, ClientDir: chronytest.ShortTempDir(t), Timeout: time.Second}
	if r := p.Live(context.Background()); !r.OK {
		t.Fatalf("Live before stop = %+v", r)
	}
	if r := p.Ready(context.Background()); r.OK || r.Err != nil || !strings.Contains(r.Reason, "not synchronised") {
		t.Errorf("Ready with no source = %+v, want not synchronised", r)
	}
	// A chronyd that hangs (SIGSTOP) keeps its socket but never answers: a deadline error.
	if err := syscall.Kill(cl.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := p.Live(context.Background())
	_ = syscall.Kill(cl.PID(), syscall.SIGCONT)
	if r.OK || r.Err == nil || !errors.Is(r.Err, os.ErrDeadlineExceeded) {
		t.Errorf("Live of a stopped process = %+v, want a deadline error", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Live took %v to fail with a 1s timeout", d)
	}
	t.Logf("while SIGSTOPped: %s", r.Reason)

	cl.Stop()
	start = time.Now()
	r = p.Live(context.Background())
	if r.OK || r.Err == nil {
		t.Fatalf("Live after stop = %+v, want failure with Err", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Live took %v to fail", d)
	}
	t.Logf("after stop: %s", r.Reason)
}

// TestLocalReference: a chronyd serving `local stratum` while it has a network source that
// does not answer is ready only when allowed, and the reason names READY_ALLOW_LOCAL.
func TestLocalReference(t *testing.T) {
	silent := chronytest.FreeUDPPort(t) // nothing answers there
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{
		fmt.Sprintf("server 127.0.0.1 port %d iburst minpoll -2 maxpoll 0", silent), "local stratum 8"}})
	p := Prober{Socket: cl.Socket, ClientDir: chronytest.ShortTempDir(t), Timeout: time.Second}
	r, _ := waitFor(t, p.Ready, func(r Result) bool { return strings.Contains(r.Reason, "local clock") }, 20*time.Second)
	if r.OK || !strings.Contains(r.Reason, "READY_ALLOW_LOCAL=true") {
		t.Errorf("local reference not allowed: Ready = %+v, want not ready naming READY_ALLOW_LOCAL", r)
	}
	p.Thresholds.AllowLocal = true
	if r := p.Ready(context.Background()); !r.OK {
		t.Errorf("local reference allowed but Ready = %+v", r)
	}
}

// TestOfflineMode: cturra/ntp documents NTP_SERVERS=127.127.1.1 (ntpd's local clock driver)
// as its offline mode; its startup script writes `server 127.127.1.1` and `local stratum 10`.
// To chrony that is an ordinary address: nothing answers there, or (when chronyd serves that
// port on every address, as in a container on port 123) chronyd itself, whose replies it
// rejects. Either way it serves the local clock, which is what was asked for: ready without
// READY_ALLOW_LOCAL. So is a chronyd whose only directive is `local stratum`.
func TestOfflineMode(t *testing.T) {
	self := chronytest.FreeUDPPort(t)
	tests := []struct {
		name string
		opts chronytest.Options
		// answered: chronyd's own replies reach it (reach not 000), so the test covers the
		// loop, not only silence.
		answered bool
	}{
		{"127.127.1.1, nothing listening", chronytest.Options{Lines: []string{
			fmt.Sprintf("server 127.127.1.1 port %d iburst minpoll -2 maxpoll 0", chronytest.FreeUDPPort(t)), "local stratum 10"}}, false},
		{"127.127.1.1 is chronyd itself", chronytest.Options{Addr: "127.127.1.1", Port: self, Lines: []string{
			fmt.Sprintf("server 127.127.1.1 port %d iburst minpoll -2 maxpoll 0", self), "local stratum 10", "allow 127.0.0.0/8"}}, true},
		{"local stratum only", chronytest.Options{Lines: []string{"local stratum 10"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := chronytest.Start(t, tt.opts)
			p := Prober{Socket: cl.Socket, ClientDir: chronytest.ShortTempDir(t), Timeout: time.Second}
			r, took := waitFor(t, p.Ready, func(r Result) bool { return r.OK }, 20*time.Second)
			t.Logf("ready after %v: %s", took, r.Reason)
			if !strings.Contains(r.Reason, "local clock as configured") || r.Source != "" {
				t.Errorf("Ready = %+v, want the local clock as configured", r)
			}
			// It stays ready: chronyd keeps polling 127.127.1.1, which never becomes a source.
			time.Sleep(3 * time.Second)
			if r := p.Ready(context.Background()); !r.OK {
				t.Errorf("3 s later: Ready = %+v", r)
			}
			if tt.answered {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				c, err := chrony.Dial(ctx, cl.Socket, chronytest.ShortTempDir(t))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				srcs, err := chrony.Sources(ctx, c)
				if err != nil || len(srcs) != 1 || srcs[0].Reachability == 0 {
					t.Errorf("sources = %+v, %v: want 127.127.1.1 answering (chronyd itself)", srcs, err)
				}
			}
		})
	}
}
