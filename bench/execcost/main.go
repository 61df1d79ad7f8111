// Command execcost measures what an exec probe costs as users pay it (issue 16, "Probe cost, as
// paid"): `docker exec` of `entrypoint probe ready`, of `chronyc tracking` and of a no-op in
// the stand-in container, the CPU of the docker client, dockerd, containerd and the container's
// shim (which reaps runc and the exec'd process) per exec, beside an HTTP GET of /readyz, which
// is what an httpGet probe costs (the kubelet's own side of it aside).
//
//	go run ./bench/execcost -n 40
//
// The container runs on an internal network of its own as its own stratum 1 (READY_ALLOW_LOCAL=true), so
// `probe ready` passes; CLOCK_CONTROL=off and no capability: the clock is never touched. The
// execs alternate (probe, chronyc, no-op, probe, ...) so that other load on dockerd falls on all
// alike; CPU comes from /proc in clock ticks (10 ms), so the mean over N is the figure to quote.
// Needs a running dockerd and scripts/fetch-chrony.sh's chronyd.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chris-short/chrony/test/standin"
)

func main() {
	n := flag.Int("n", 40, "execs of each command")
	repo := flag.String("repo", ".", "repository root")
	flag.Parse()
	if err := run(*n, *repo); err != nil {
		fmt.Fprintln(os.Stderr, "execcost:", err)
		os.Exit(1)
	}
}

func run(n int, repo string) error {
	repo, _ = filepath.Abs(repo)
	prefix := fmt.Sprintf("execcost%d", os.Getpid())
	image := prefix + ":bench"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	defer docker(context.Background(), "image", "rm", "-f", image, image+"-rootfs", image+"-noop")
	// ChronyRoot empty: standin fetches chrony with its libraries (scripts/fetch-chrony.sh).
	if _, err := standin.Build(ctx, standin.Options{Repo: repo, Tag: image, WorkDir: work}); err != nil {
		return err
	}
	// The no-op: a static Go program that returns at once, added to the stand-in (which has no
	// shell and no /bin/true).
	noopDir := filepath.Join(work, "noop")
	if err := os.MkdirAll(noopDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(noopDir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(noopDir, "go.mod"), []byte("module noop\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "noop", ".")
	build.Dir, build.Env = noopDir, append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build no-op: %w: %s", err, out)
	}
	df := fmt.Sprintf("FROM %s\nCOPY noop /usr/local/bin/noop\n", image)
	if err := os.WriteFile(filepath.Join(noopDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	if out, err := docker(ctx, "build", "--quiet", "-t", image+"-noop", noopDir); err != nil {
		return fmt.Errorf("docker build: %w: %s", err, out)
	}

	// An internal network of our own: /readyz is reached from the host's side of it, and
	// nothing leaves it.
	network := prefix + "-net"
	if out, err := docker(ctx, "network", "create", "--internal", network); err != nil {
		return fmt.Errorf("docker network create: %w: %s", err, out)
	}
	defer docker(context.Background(), "network", "rm", network)
	name := prefix + "-c"
	out, err := docker(ctx, "run", "-d", "--name", name, "--network", network, "--read-only", "--tmpfs", "/run/chrony",
		"--cap-drop", "ALL", "-e", "CLOCK_CONTROL=off", "-e", "NTP_SERVERS=127.0.0.1 noselect", "-e", "LOCAL_STRATUM=1",
		"-e", "READY_ALLOW_LOCAL=true", image+"-noop")
	if err != nil {
		return fmt.Errorf("docker run: %w: %s", err, out)
	}
	defer docker(context.Background(), "rm", "-f", "-v", name)
	cid := strings.TrimSpace(string(out))

	probe := []string{"exec", name, standin.EntrypointPath, "probe", "ready"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := docker(ctx, probe...)
		if err == nil {
			fmt.Printf("stand-in container ready: %s", out)
			break
		}
		if time.Now().After(deadline) {
			logs, _ := docker(ctx, "logs", name)
			return fmt.Errorf("not ready within 60 s: %s\n%s", out, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}

	daemons, err := daemonPIDs(cid)
	if err != nil {
		return err
	}
	cmds := []struct {
		label string
		args  []string
	}{
		{"docker exec: entrypoint probe ready", probe},
		{"docker exec: chronyc tracking", []string{"exec", name, "/usr/bin/chronyc", "-n", "-h", "/run/chrony/chronyd/chronyd.sock", "tracking"}},
		{"docker exec: no-op (static Go, exits at once)", []string{"exec", name, "/usr/local/bin/noop"}},
	}
	type sample struct{ wall, client, daemons time.Duration }
	res := make([][]sample, len(cmds))
	for range n {
		for i, c := range cmds {
			before := cpuOf(daemons)
			start := time.Now()
			cmd := exec.CommandContext(ctx, "docker", c.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("docker %v: %w: %s", c.args, err, stderr.String())
			}
			wall := time.Since(start)
			res[i] = append(res[i], sample{wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), cpuOf(daemons) - before})
		}
	}

	// An httpGet probe instead: the kubelet (here this program) GETs /readyz; nothing is
	// exec'd, and the container's side is PID 1's CPU per request.
	pid1, err := containerPID(ctx, name)
	if err != nil {
		return err
	}
	ip, err := docker(ctx, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
	if err != nil {
		return fmt.Errorf("docker inspect: %w: %s", err, ip)
	}
	url := "http://" + strings.TrimSpace(string(ip)) + ":9123/readyz"
	client := &http.Client{Timeout: 5 * time.Second}
	gets := 10 * n
	var walls []time.Duration
	cpu0 := cpuOf([]int{pid1})
	for range gets {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		walls = append(walls, time.Since(start))
	}
	getCPU := (cpuOf([]int{pid1}) - cpu0) / time.Duration(gets)

	fmt.Printf("\ndocker %s, %d execs of each, interleaved; CPU per exec: mean (median) in ms\n", dockerVersion(ctx), n)
	fmt.Printf("%-46s %10s %18s %18s %18s\n", "command", "wall", "docker client", "daemons+shim", "total")
	for i, c := range cmds {
		var w, cl, d []time.Duration
		for _, s := range res[i] {
			w, cl, d = append(w, s.wall), append(cl, s.client), append(d, s.daemons)
		}
		tot := make([]time.Duration, len(cl))
		for j := range cl {
			tot[j] = cl[j] + d[j]
		}
		fmt.Printf("%-46s %10s %18s %18s %18s\n", c.label, ms(median(w)), mm(cl), mm(d), mm(tot))
	}
	fmt.Printf("%-46s %10s %18s %18s %18s\n", fmt.Sprintf("httpGet /readyz (%d GETs; PID 1's CPU)", gets), ms(median(walls)), "-", "-",
		fmt.Sprintf("%.2f", float64(getCPU.Microseconds())/1000))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func mm(xs []time.Duration) string {
	var sum time.Duration
	for _, x := range xs {
		sum += x
	}
	return fmt.Sprintf("%.1f (%.0f)", float64(sum.Microseconds())/1000/float64(len(xs)), float64(median(xs).Microseconds())/1000)
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func docker(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "docker", args...).CombinedOutput()
}

func dockerVersion(ctx context.Context) string {
	out, _ := docker(ctx, "version", "--format", "{{.Server.Version}}")
	return strings.TrimSpace(string(out))
}

// containerPID is the host PID of the container's PID 1.
func containerPID(ctx context.Context, name string) (int, error) {
	out, err := docker(ctx, "inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		return 0, fmt.Errorf("docker inspect: %w: %s", err, out)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// daemonPIDs finds dockerd, the containerd it started, and the shim of container cid.
func daemonPIDs(cid string) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var dockerd, containerd, shim int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		switch base := filepath.Base(argv[0]); {
		case base == "dockerd":
			dockerd = pid
		case base == "containerd" && strings.Contains(string(b), "/var/run/docker/containerd"):
			containerd = pid
		case strings.HasPrefix(base, "containerd-shim") && slices.Contains(argv, cid):
			shim = pid
		}
	}
	if dockerd == 0 || containerd == 0 || shim == 0 {
		return nil, fmt.Errorf("dockerd %d, its containerd %d, shim of %.12s %d: one not found", dockerd, containerd, cid, shim)
	}
	return []int{dockerd, containerd, shim}, nil
}

// cpuOf sums utime, stime and the reaped children's cutime and cstime of pids (10 ms ticks):
// runc and the exec'd process are reaped by the shim, so they land in its cutime/cstime.
func cpuOf(pids []int) time.Duration {
	var ticks int
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		for _, i := range []int{11, 12, 13, 14} {
			v, _ := strconv.Atoi(f[i])
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
