package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// clientDirs lists the client socket directories in RUN_DIR.
func clientDirs(t *testing.T, run string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(run, "client-*"))
	entrypointtest.Must(t, err)
	return m
}

// probeDirs is clientDirs without the running entrypoint's own: it asks chronyd too (its sync
// watch and metrics), through a directory it removes once each request is done, at moments no
// test controls. Counting one caught mid-request as a probe's leftover made the test flaky.
func probeDirs(t *testing.T, run string, p *entrypointtest.Proc) []string {
	t.Helper()
	own := filepath.Join(run, "client-"+strconv.Itoa(p.Cmd.Process.Pid)+"-")
	var out []string
	for _, d := range clientDirs(t, run) {
		if !strings.HasPrefix(d, own) {
			out = append(out, d)
		}
	}
	return out
}

// plantAbandoned makes a client socket directory as a probe killed mid-request leaves it
// (owned by the chrony user, holding its socket file), named after a pid that is gone.
func plantAbandoned(t *testing.T, run, name string) {
	t.Helper()
	dir := filepath.Join(run, name)
	entrypointtest.Must(t, os.Mkdir(dir, 0o711))
	entrypointtest.Must(t, os.WriteFile(filepath.Join(dir, "s"), nil, 0o666))
	for _, p := range []string{dir, filepath.Join(dir, "s")} {
		entrypointtest.Must(t, os.Chown(p, entrypointtest.ChronyUID, entrypointtest.ChronyGID))
	}
}

// TestKilledProbesLeaveNothing: probes SIGKILLed while they wait for chronyd (as a kubelet
// does at a probe's timeout) never run their cleanup. What they leave in RUN_DIR must not pile
// up until its inodes run out: the entrypoint sweeps at start, and every probe or scrape
// sweeps the directories of dead clients before it binds its own.
func TestKilledProbesLeaveNothing(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, up.SourceEntry())

	// Left by an earlier run of the container (RUN_DIR on a volume, or a restart in place).
	gone := exec.Command("true")
	entrypointtest.Must(t, gone.Run())
	for i := range 20 {
		plantAbandoned(t, c.Run, "client-"+strconv.Itoa(gone.Process.Pid)+"-"+strconv.Itoa(i))
	}
	plantAbandoned(t, c.Run, "client-1234567")
	old := time.Now().Add(-time.Hour)
	entrypointtest.Must(t, os.Chtimes(filepath.Join(c.Run, "client-1234567"), old, old))

	p := entrypointtest.Start(t, bin, c.Env)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs.String(), "starting chronyd") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"starting chronyd\" log after 10 s:\n%s", p.Logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// No probe has run yet: only the entrypoint can have removed them.
	if left := probeDirs(t, c.Run, p); len(left) != 0 {
		t.Errorf("%d client directories of an earlier run left after start: %v", len(left), left)
	}
	entrypointtest.WaitProbe(t, bin, p, c.Env, "live", 0, 10*time.Second)

	// A stopped chronyd never answers, so each probe is surely mid-request when it is killed.
	pid := entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid"))
	entrypointtest.Must(t, syscall.Kill(pid, syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	const killed = 50
	seen := map[string]bool{}
	for i := range killed {
		probe := exec.Command(bin, "probe", "live", "--timeout", "30s")
		probe.Env = append([]string{entrypointtest.Path}, c.Env...)
		entrypointtest.Must(t, probe.Start())
		deadline := time.Now().Add(10 * time.Second)
		for bound := false; !bound; {
			for _, d := range probeDirs(t, c.Run, p) {
				if !seen[d] {
					seen[d], bound = true, true
				}
			}
			if !bound && time.Now().After(deadline) {
				_ = probe.Process.Kill()
				_ = probe.Wait()
				t.Fatalf("probe %d bound no client socket within 10 s", i)
			}
			if !bound {
				time.Sleep(2 * time.Millisecond)
			}
		}
		entrypointtest.Must(t, probe.Process.Kill())
		_ = probe.Wait()
	}
	left := probeDirs(t, c.Run, p)
	t.Logf("%d probes SIGKILLed mid-request: %d client directories left", killed, len(left))
	if len(left) > 1 {
		t.Errorf("%d client directories left after %d killed probes, want at most the last one's", len(left), killed)
	}

	resume()
	entrypointtest.WaitProbe(t, bin, p, c.Env, "live", 0, 10*time.Second)
	if left := probeDirs(t, c.Run, p); len(left) != 0 {
		t.Errorf("after a probe that finished, client directories are left: %v", left)
	}
}
