package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/test/readme"
	"github.com/chris-short/chrony/test/standin"
)

// Podman's resources carry the same per-run prefix as Docker's; Podman keeps its own images,
// so the image under test is copied over (docker save | podman load).
var (
	podmanNet      = prefix + "-pnet"
	podmanUpstream = prefix + "-pupstream"
	podmanImage    string
	podmanConf     string // CONTAINERS_CONF for every podman command
	podmanUpAddr   string // the upstream's address: Podman's CNI networks need a plugin for names
	podmanOnce     sync.Once
	podmanErr      error
)

// podmanCmd is podman with the test's containers.conf: Podman's default limits for a root
// container (nofile 1048576, nproc 4194304) are more than a container on a machine with lower
// hard limits may set ("error setting rlimit"), so the test sets the machine's own nofile and
// a modest nproc. Nothing the README's commands depend on.
func podmanCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+podmanConf)
	return cmd
}

// ownPodmanContainer is ownContainer for Podman: the container is removed when the test ends.
func ownPodmanContainer(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = podmanCmd(ctx, "rm", "-f", name).Run()
	})
}

// podmanT runs podman and fails the test on error; podman's complaints about a missing systemd
// (healthcheck timers) go to the log, not into the output.
func podmanT(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := podmanCmd(ctx, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// setupPodman copies the image into Podman and starts an upstream on an internal Podman
// network, once per run; cleanupPodman removes all of it.
func setupPodman(t *testing.T) {
	t.Helper()
	podmanOnce.Do(func() { podmanErr = startPodman() })
	if podmanErr != nil {
		t.Fatal(podmanErr)
	}
}

func startPodman() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	podmanConf = filepath.Join(work, "containers.conf")
	nofile := hardNofile()
	conf := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=4096:4096\"]\n", nofile, nofile)
	if err := os.WriteFile(podmanConf, []byte(conf), 0o644); err != nil {
		return err
	}
	save := exec.CommandContext(ctx, "docker", "save", image)
	load := podmanCmd(ctx, "load")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	var loadOut strings.Builder
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		return fmt.Errorf("podman load: %w", err)
	}
	if err := save.Run(); err != nil {
		return fmt.Errorf("docker save %s: %w", image, err)
	}
	if err := load.Wait(); err != nil {
		return fmt.Errorf("podman load: %w: %s", err, loadOut.String())
	}
	for _, l := range strings.Split(loadOut.String(), "\n") {
		if name, ok := strings.CutPrefix(l, "Loaded image: "); ok {
			podmanImage = strings.TrimSpace(name)
		}
	}
	if podmanImage == "" {
		return fmt.Errorf("podman load: no image name in %q", loadOut.String())
	}
	if out, err := podmanCmd(ctx, "network", "create", "--internal", podmanNet).CombinedOutput(); err != nil {
		return fmt.Errorf("podman network create: %w: %s", err, out)
	}
	if out, err := podmanCmd(ctx, "run", "-d", "--name", podmanUpstream, "--network", podmanNet,
		"--read-only", "--read-only-tmpfs=false", "--tmpfs", "/run/chrony", "--cap-drop", "ALL",
		"-e", "NTP_SERVERS=127.0.0.1 noselect", "-e", "LOCAL_STRATUM=1", "-e", "ALLOW=all",
		"-e", "CLOCK_CONTROL=off", "-e", "READY_ALLOW_LOCAL=true", "-e", "NTP_PORT=1123",
		"-e", "LOG_FORMAT=console", podmanImage).CombinedOutput(); err != nil {
		return fmt.Errorf("podman run upstream: %w: %s", err, out)
	}
	out, err := podmanCmd(ctx, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", podmanUpstream).Output()
	if podmanUpAddr = strings.TrimSpace(string(out)); err != nil || podmanUpAddr == "" {
		return fmt.Errorf("podman inspect upstream: no address (%v)", err)
	}
	return nil
}

func cleanupPodman() {
	if podmanConf == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, _ := podmanCmd(ctx, "ps", "-aq", "--filter", "name="+prefix).Output(); len(strings.TrimSpace(string(out))) > 0 {
		_ = podmanCmd(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(string(out))...)...).Run()
	}
	if out, _ := podmanCmd(ctx, "volume", "ls", "-q", "--filter", "name="+prefix).Output(); len(strings.TrimSpace(string(out))) > 0 {
		_ = podmanCmd(ctx, append([]string{"volume", "rm", "-f"}, strings.Fields(string(out))...)...).Run()
	}
	_ = podmanCmd(ctx, "network", "rm", "-f", podmanNet).Run()
	if podmanImage != "" {
		_ = podmanCmd(ctx, "rmi", "-f", podmanImage).Run()
	}
}

// podmanUpstreamSource is the NTP_SERVERS entry for the Podman upstream (NTP_PORT=1123: the
// upstream is no README command, and Podman keeps port 123 privileged without the sysctl).
func podmanUpstreamSource() string {
	return podmanUpAddr + " port 1123 iburst minpoll -2 maxpoll 0"
}

// podmanRunFlags turns the README's `podman run` flags into the test's: the test's volume, its
// network instead of -p, and without SYS_TIME unless keepSysTime.
func podmanRunFlags(t *testing.T, volume string, keepSysTime bool) []string {
	t.Helper()
	f, err := readme.PodmanRunFlags()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == "--cap-add" && f[i+1] == "SYS_TIME" && !keepSysTime, f[i] == "-p":
			i++
		case f[i] == "-v" && strings.HasPrefix(f[i+1], "chrony-state:"):
			out = append(out, "-v", volume+strings.TrimPrefix(f[i+1], "chrony-state"))
			i++
		default:
			out = append(out, f[i])
		}
	}
	return append(out, "--network", podmanNet)
}

// podmanReady waits (bounded) until `entrypoint probe ready` passes in the container.
func podmanReady(t *testing.T, name string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := podmanCmd(ctx, "exec", name, standin.EntrypointPath, "probe", "ready").CombinedOutput()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := podmanCmd(context.Background(), "logs", "--tail", "40", name).CombinedOutput()
			t.Fatalf("%s: probe ready not passing within %s: %v %s\nlogs:\n%s", name, within, err, out, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// podmanChronyc runs the README's chronyc commands with `podman exec`.
func podmanChronyc(t *testing.T, name string) {
	t.Helper()
	cmds, err := readme.ChronycCommands()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := podmanCmd(ctx, append([]string{"exec", name, "chronyc"}, c...)...).CombinedOutput()
		cancel()
		if want := chronycWants[c[0]]; err != nil || !strings.Contains(string(out), want) {
			t.Errorf("podman exec %s chronyc %s: %v, want output with %q:\n%s", name, strings.Join(c, " "), err, want, out)
		}
	}
}

// TestPodmanRun runs the README's `podman run` line: with SYS_TIME the capability reporter
// stands in for chronyd (never a real chronyd with CAP_SYS_TIME) and must get SYS_TIME as
// UID 100 without -x; without SYS_TIME the real chronyd serves port 123
// with -x, synchronises, and chronyc works through `podman exec`.
func TestPodmanRun(t *testing.T) {
	needs.Docker(t)
	needs.Podman(t)
	setupPodman(t)
	t.Run("clock control with the capability reporter", func(t *testing.T) {
		name := prefix + "-podcap"
		ownPodmanContainer(t, name)
		args := append([]string{"run", "-d", "--name", name}, podmanRunFlags(t, prefix+"-podcap-state", true)...)
		args = append(append(args, capreportMount...), "-e", "CHRONYD="+capreport,
			"-e", "CAPREPORT_OUT=/run/chrony/chronyd/capreport.json", "-e", "NTP_SERVERS="+podmanUpAddr,
			"-e", "LOG_FORMAT=console", podmanImage)
		podmanT(t, args...)
		pid := podmanT(t, "inspect", "-f", "{{.State.Pid}}", name)
		var rep capReport
		deadline := time.Now().Add(15 * time.Second)
		for {
			data, err := os.ReadFile("/proc/" + pid + "/root/run/chrony/chronyd/capreport.json")
			if err == nil && json.Unmarshal(data, &rep) == nil {
				break
			}
			if time.Now().After(deadline) {
				logs, _ := podmanCmd(context.Background(), "logs", name).CombinedOutput()
				t.Fatalf("no capability report within 15s: %v\nlogs:\n%s", err, logs)
			}
			time.Sleep(200 * time.Millisecond)
		}
		const want = capSysTime // and no CAP_NET_BIND_SERVICE: the sysctl opens port 123
		if rep.UID != standin.ChronyUID || rep.CapAmb != want || rep.CapEff != want || slices.Contains(rep.Argv, "-x") {
			t.Errorf("chronyd's stand-in: uid %d amb %s eff %s argv %q; want uid %d, %s, no -x",
				rep.UID, rep.CapAmb, rep.CapEff, rep.Argv, standin.ChronyUID, want)
		}
	})
	t.Run("serving with -x", func(t *testing.T) {
		name := prefix + "-podrun"
		ownPodmanContainer(t, name)
		args := append([]string{"run", "-d", "--name", name}, podmanRunFlags(t, prefix+"-podrun-state", false)...)
		podmanT(t, append(args, "-e", "NTP_SERVERS="+podmanUpstreamSource(), "-e", "LOG_FORMAT=console", podmanImage)...)
		podmanReady(t, name, 30*time.Second)
		podmanChronyc(t, name)
	})
}

// TestPodmanCompose runs the README's podman-compose line on the repository's
// docker-compose.yaml with TestCompose's changes (image, no SYS_TIME, the test's network and
// upstream, no host port, its own name).
func TestPodmanCompose(t *testing.T) {
	needs.Docker(t)
	needs.Podman(t)
	setupPodman(t)
	words, err := readme.PodmanComposeArgs()
	if err != nil {
		t.Fatal(err)
	}
	name := prefix + "-podcompose"
	file := composeForTest(t, podmanImage, name, podmanUpstreamSource(), podmanNet, func(svc map[string]any) {
		delete(svc, "healthcheck") // Podman runs healthchecks from systemd timers; not here
	})
	project := strings.ReplaceAll(prefix, "-", "") + "podcompose"
	compose := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "podman-compose", append([]string{"-p", project, "-f", file}, args...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+podmanConf)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("podman-compose %s: %v\n%s", strings.Join(args, " "), err, o)
		}
	}
	t.Cleanup(func() { compose("down", "-t", "5") })
	compose(words...)
	podmanReady(t, name, 30*time.Second)
	podmanChronyc(t, name)
}
