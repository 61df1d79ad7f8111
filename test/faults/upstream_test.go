package faults

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// upstreamAddrs: chronyd keeps one source per IP address, so each upstream gets its own.
var upstreamAddrs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// startUpstreams runs one `local stratum 1` chronyd (-x) per address; ports[i] 0 picks one.
func startUpstreams(t *testing.T, ports []int) []*chronytest.Instance {
	t.Helper()
	ups := make([]*chronytest.Instance, len(upstreamAddrs))
	for i, addr := range upstreamAddrs {
		ups[i] = chronytest.Start(t, chronytest.Options{
			Addr: addr, Port: ports[i],
			Lines: []string{"local stratum 1", "allow 127.0.0.0/8"},
		})
	}
	return ups
}

// lostAll is how `probe ready` explains a chronyd whose sources all went away: the selected
// one unreachable, or (once chronyd gives it up) none selected.
var lostAll = regexp.MustCompile(`^not ready: (no selected source|selected source 127\.0\.0\.\d is unreachable \(reach 000)`)

var readySource = regexp.MustCompile(`^ready: synchronised: stratum 2, source (127\.0\.0\.\d)`)

// TestUpstreamLossAndReturn: with no upstream reachable the container serves its own clock at
// LOCAL_STRATUM=10 and `probe ready` says why it is not ready; upstreams appearing make it
// ready; losing the selected one of three keeps it ready throughout; losing all keeps it
// serving (see below) while `probe ready` says why; upstreams returning on the same addresses
// make it ready again with the same chronyd (no restart).
//
// chrony 4.3, 4.6.1 and 4.9 alike (this test runs against each) serve `local stratum` only while it has never synchronised or once its root
// distance exceeds `local distance` (default 1 s): after losing its sources it keeps serving
// its last stratum with a root dispersion that grows by a few ppm of the time since the last
// update (too little to see in a test: 1/65536 s resolution), so clients can judge it. The
// test checks that it keeps serving, not stratum 10.
//
// Reselection after the selected upstream stops: chronyd keeps it selected (shown `*`, reach
// 000) until its distance, growing with the age of its last sample at maxclockerror, exceeds
// another's by reselectdist (100 us). At chrony's default of 1 ppm that takes well over 30 s
// (measured on 4.3), so the test sets maxclockerror 20 ppm through a conf.d drop-in, as
// TestSyncStateLog does: seconds instead, on every release.
func TestUpstreamLossAndReturn(t *testing.T) {
	t.Parallel()
	ports := make([]int, len(upstreamAddrs))
	pending := make([]*chronytest.Instance, len(upstreamAddrs))
	for i, addr := range upstreamAddrs {
		ports[i] = chronytest.FreeUDPPort(t)
		pending[i] = &chronytest.Instance{Addr: addr, Port: ports[i]}
	}
	c := entrypointtest.NewContainer(t, entrypointtest.Sources(pending...))
	entrypointtest.Must(t, os.WriteFile(filepath.Join(c.ConfDir, "reselect.conf"), []byte("maxclockerror 20\n"), 0o644))
	c.Set(t, "LOCAL_STRATUM=10")
	p := entrypointtest.Start(t, bin, c.Env)

	// No upstream yet: the local clock at stratum 10, not ready, and the probe says why.
	waitStratum(t, p, c.NTPPort, 10, 10*time.Second)
	r := entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 1, 10*time.Second)
	if !strings.HasPrefix(r.Stdout, "not ready: serving the local clock (stratum 10") {
		t.Errorf("probe ready without upstreams = %q, want the reason: serving the local clock at stratum 10", r.Stdout)
	}
	chronydPID := entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid"))

	ups := startUpstreams(t, ports)
	t0 := time.Now()
	r = entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 20*time.Second)
	waitStratum(t, p, c.NTPPort, 2, 5*time.Second)
	t.Logf("upstreams up: ready after %v", time.Since(t0).Round(time.Millisecond))
	waitAllSelectable(t, c, p, ups, 20*time.Second)
	r = entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 5*time.Second)
	t.Logf("all three selectable after %v", time.Since(t0).Round(time.Millisecond))

	// Stop the selected upstream: chronyd must move to another without ever being unready.
	m := readySource.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("probe ready = %q, want a synchronised line naming the source", r.Stdout)
	}
	lost := m[1]
	for _, up := range ups {
		if up.Addr == lost {
			up.Stop()
		}
	}
	t0 = time.Now()
	deadline := t0.Add(20 * time.Second)
	for {
		r = entrypointtest.Run(t, bin, c.Env, "probe", "ready")
		if r.Code != 0 {
			t.Fatalf("one of three upstreams (%s) down %v: probe ready exit %d: %s%s\nlogs:\n%s",
				lost, time.Since(t0).Round(time.Millisecond), r.Code, r.Stdout, r.Stderr, p.Logs)
		}
		if m := readySource.FindStringSubmatch(r.Stdout); m != nil && m[1] != lost {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still selecting stopped upstream %s after 20 s: %s", lost, r.Stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("selected upstream %s stopped: reselected %v later, ready throughout", lost, time.Since(t0).Round(time.Millisecond))
	waitStratum(t, p, c.NTPPort, 2, 5*time.Second)

	// All upstreams gone: once the reach registers empty (8 polls of at most 1 s) nothing is
	// selectable; not ready, with the reason; still serving, with a growing root dispersion.
	for _, up := range ups {
		up.Stop()
	}
	t0 = time.Now()
	r = entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 1, 20*time.Second)
	t.Logf("all upstreams stopped: not ready after %v: %s", time.Since(t0).Round(time.Millisecond), strings.TrimSpace(r.Stdout))
	if !lostAll.MatchString(r.Stdout) {
		t.Errorf("probe ready without upstreams = %q, want the reason: %s", r.Stdout, lostAll)
	}
	if reply := waitStratum(t, p, c.NTPPort, 2, 5*time.Second); reply.Settings>>6 == 3 {
		t.Errorf("served leap indicator 3 (unsynchronised) right after losing the sources, want the last stratum kept")
	}
	if live := entrypointtest.Run(t, bin, c.Env, "probe", "live"); live.Code != 0 {
		t.Errorf("probe live without upstreams: exit %d %s%s, want 0: chronyd still answers", live.Code, live.Stdout, live.Stderr)
	}

	// Upstreams return on the same addresses and ports: ready again, same chronyd.
	startUpstreams(t, ports)
	t0 = time.Now()
	entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 20*time.Second)
	waitStratum(t, p, c.NTPPort, 2, 5*time.Second)
	t.Logf("upstreams back: ready after %v", time.Since(t0).Round(time.Millisecond))
	if got := entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid")); got != chronydPID {
		t.Errorf("chronyd pid %d, was %d: recovery restarted chronyd", got, chronydPID)
	}
	select {
	case <-p.Done():
		t.Fatalf("entrypoint exited during the test:\n%s", p.Logs)
	default:
	}
}

// TestFalseticker: one of three upstreams made 5 s wrong on the client side (chrony's
// `offset` source option) is rejected as a falseticker, the metrics say so, and the client
// stays synchronised to the other two.
func TestFalseticker(t *testing.T) {
	t.Parallel()
	ups := startUpstreams(t, make([]int, 3))
	bad := ups[2]
	c := entrypointtest.NewContainer(t, entrypointtest.Sources(ups...)+" offset 5")
	p := entrypointtest.Start(t, bin, c.Env)

	// source_mode "client": facebook/time names chronyd's server mode from our side.
	want := fmt.Sprintf(`chrony_sources_state_info{source_address=%q,source_mode="client",source_name=%q,source_state="falseticker"} 1`, bad.Addr, bad.Addr)
	// Steady state: the bad one a falseticker, both good ones selected or candidates. Until
	// the good ones have answered, chronyd may briefly call any of them a falseticker.
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for {
		body, _ = metrics(c.HTTPAddr) // not listening yet is fine until the deadline
		if strings.Contains(body, want) && goodState(body, ups[0].Addr) && goodState(body, ups[1].Addr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s as falseticker and the others selectable within 20 s; want\n%s\nin:\n%s\nlogs:\n%s", bad.Addr, want, sourceLines(body), p.Logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
	r := entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 10*time.Second)
	m := readySource.FindStringSubmatch(r.Stdout)
	if m == nil || m[1] == bad.Addr {
		t.Errorf("probe ready = %q, want synchronised to %s or %s", r.Stdout, ups[0].Addr, ups[1].Addr)
	}
	if reply := waitStratum(t, p, c.NTPPort, 2, 5*time.Second); reply.ReferenceID>>24 != 127 {
		t.Errorf("served reference ID %08x, want an upstream's loopback address", reply.ReferenceID)
	}
}

// goodState: /metrics shows the source at addr selectable: selected, combined (candidate) or
// not combined (outlier, which chronyd can still select when the others go away).
func goodState(body, addr string) bool {
	for _, state := range []string{"sync", "candidate", "outlier"} {
		if strings.Contains(body, fmt.Sprintf(`source_name=%q,source_state=%q} 1`, addr, state)) {
			return true
		}
	}
	return false
}

// waitAllSelectable waits (bounded) until every upstream is selected or a candidate: only then
// can chronyd move to another when one goes away. Right after the first sync the others may
// not have enough samples yet, and losing the selected one then falls back to the local clock.
func waitAllSelectable(t *testing.T, c *entrypointtest.Container, p *entrypointtest.Proc, ups []*chronytest.Instance, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		body, _ := metrics(c.HTTPAddr)
		all := true
		for _, up := range ups {
			all = all && goodState(body, up.Addr)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstreams not all selectable within %v:\n%s\nlogs:\n%s", within, sourceLines(body), p.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metrics fetches /metrics (5 s deadline).
func metrics(addr string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(b), nil
}

func sourceLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "chrony_sources_state_info") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
