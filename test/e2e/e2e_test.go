package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/test/readme"
	"github.com/chris-short/chrony/test/standin"
)

// clientEnv makes a container sync from the upstream container, polling fast (sub-second) so
// the test takes seconds, not the minutes iburst with default polling would.
func clientEnv() []string {
	return []string{"-e", "NTP_SERVERS=" + upstream + " iburst minpoll -2 maxpoll 0", "-e", "LOG_FORMAT=console"}
}

// testRunFlags turns the README's quick-start `docker run` flags, read from README.md, into the
// test's. They run as written except: no SYS_TIME (a real chronyd must never set this machine's
// clock), the test's own volume name, and no -p (the container is on an internal network; the
// test talks to its address instead of a published host port).
func testRunFlags(t *testing.T, volume string) []string {
	t.Helper()
	f, err := readme.DockerRunFlags()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == "--cap-add" && f[i+1] == "SYS_TIME", f[i] == "-p":
			i++
		case f[i] == "-v" && strings.HasPrefix(f[i+1], "chrony-state:"):
			out = append(out, "-v", volume+strings.TrimPrefix(f[i+1], "chrony-state"))
			i++
		default:
			out = append(out, f[i])
		}
	}
	if slices.Contains(out, "SYS_TIME") || len(out) != len(f)-4 {
		t.Fatalf("README flags not transformed as expected: %q", out)
	}
	return out
}

func TestImageDeclarations(t *testing.T) {
	needs.Docker(t)
	var img struct {
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			StopSignal   string
			Volumes      map[string]struct{}
			ExposedPorts map[string]struct{}
			Labels       map[string]string
			Healthcheck  struct {
				Test                           []string
				Interval, Timeout, StartPeriod time.Duration
				Retries                        int
			}
		}
	}
	inspect(t, "image", image, &img)
	c := img.Config
	keys := func(m map[string]struct{}) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return k
	}
	sorted := func(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }
	hc := rt.Healthcheck
	checks := []struct {
		what      string
		got, want any
	}{
		{"user", c.User, rt.User},
		{"entrypoint", c.Entrypoint, rt.Entrypoint},
		{"cmd", len(c.Cmd), len(rt.Cmd)},
		{"stop signal", c.StopSignal, rt.StopSignal},
		{"volumes", keys(c.Volumes), sorted(rt.Volumes)},
		{"exposed ports", keys(c.ExposedPorts), sorted(rt.Exposed)},
		{"healthcheck", c.Healthcheck.Test, append([]string{"CMD"}, hc.Test...)},
		{"healthcheck timing", []any{c.Healthcheck.Interval, c.Healthcheck.Timeout, c.Healthcheck.StartPeriod, c.Healthcheck.Retries},
			[]any{hc.Interval, hc.Timeout, hc.StartPeriod, hc.Retries}},
		{"source label", c.Labels["org.opencontainers.image.source"], rt.Labels["org.opencontainers.image.source"]},
		{"licenses label", c.Labels["org.opencontainers.image.licenses"], rt.Labels["org.opencontainers.image.licenses"]},
		{"label names", len(c.Labels), len(rt.Labels)},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("stand-in %s = %v, Dockerfile declares %v", ch.what, ch.got, ch.want)
		}
	}
	if c.User != fmt.Sprintf("%d:%d", standin.ChronyUID, standin.ChronyGID) {
		t.Errorf("user %q, want the chrony user 100:101", c.User)
	}
}

// TestDockerRunReadme runs the README's command (without SYS_TIME) as a client of the upstream
// container and checks everything the README promises about it.
func TestDockerRunReadme(t *testing.T) {
	needs.Docker(t)
	name, volume := prefix+"-run", prefix+"-state"
	ownContainer(t, name)
	args := append([]string{"run", "-d", "--name", name, "--network", network,
		// Docker 20.10 has no --health-start-interval: poll fast so healthy shows in seconds; the
		// command and its meaning are the image's.
		"--health-interval", "1s"}, testRunFlags(t, volume)...)
	args = append(append(args, clientEnv()...), image)
	dockerT(t, args...)

	ip := ipOf(t, name)
	// Synchronised to the stratum 1 upstream, it serves stratum 2.
	waitStratum(t, ip+":123", 2, 30*time.Second)
	waitHealth(t, name, "healthy", 30*time.Second)

	metrics := httpGet(t, "http://"+ip+":9123/metrics")
	if !strings.Contains(metrics, "\nchrony_up 1\n") && !strings.HasPrefix(metrics, "chrony_up 1\n") {
		t.Errorf("/metrics lacks chrony_up 1:\n%.2000s", metrics)
	}
	if body := httpGet(t, "http://"+ip+":9123/readyz"); body == "" {
		t.Error("/readyz: empty reason")
	}

	ci := info(t, name)
	if !ci.HostConfig.ReadonlyRootfs || !rootReadOnly(t, ci.State.Pid) {
		t.Error("root file system is writable")
	}
	// Started as root; after start-up nothing runs as root and, without SYS_TIME granted,
	// nothing holds any capability.
	ps := assertNoRoot(t, name, 0)
	if cd := chronydOf(t, ps); !slices.Contains(cd.Cmdline, "-x") {
		t.Errorf("chronyd without CAP_SYS_TIME must run with -x: %q", cd.Cmdline)
	}

	// docker stop: SIGTERM, clean exit, drift file on the volume.
	dockerT(t, "stop", "-t", "10", name)
	if ci := info(t, name); ci.State.ExitCode != 0 {
		t.Errorf("docker stop: exit code %d, want 0", ci.State.ExitCode)
	}
	mp := dockerT(t, "volume", "inspect", "-f", "{{.Mountpoint}}", volume)
	st, err := os.Stat(filepath.Join(mp, "drift"))
	if err != nil {
		t.Fatalf("no drift file on the volume after docker stop: %v", err)
	}
	if st.Size() == 0 {
		t.Error("drift file is empty")
	}
}

// TestCompose runs the repository's docker-compose.yaml with the changes a test needs, each
// made to a copy: the stand-in image, no SYS_TIME, the internal network instead of the default
// bridge, sources from the upstream container instead of pool.ntp.org (no Internet), no host
// port, its own container name, and a fast health interval.
func TestCompose(t *testing.T) {
	needs.Docker(t)
	name := prefix + "-compose"
	// Volumes are named <project>_chrony-state: the project name carries the prefix.
	file := composeForTest(t, image, name, upstream+" iburst minpoll -2 maxpoll 0", network, func(svc map[string]any) {
		svc["healthcheck"].(map[string]any)["interval"] = "1s"
	})
	project := strings.ReplaceAll(prefix, "-", "") + "compose"
	compose := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", project, "-f", file}, args...)...)
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, o)
		}
		return string(o)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, "docker-compose", "-p", project, "-f", file, "down", "-v", "-t", "5").Run()
	})
	ownContainer(t, name)
	compose("up", "-d")

	ip := ipOf(t, name)
	waitStratum(t, ip+":123", 2, 30*time.Second)
	waitHealth(t, name, "healthy", 30*time.Second)
	ci := info(t, name)
	if !rootReadOnly(t, ci.State.Pid) {
		t.Error("root file system is writable")
	}
	assertNoRoot(t, name, 0)
	assertChronyc(t, name)
	vol := ""
	for _, m := range ci.Mounts {
		if m.Destination == "/var/lib/chrony" && m.Type == "volume" {
			vol = m.Name
		}
	}
	if vol != project+"_chrony-state" {
		t.Errorf("/var/lib/chrony is not on the named volume: %+v", ci.Mounts)
	}
	compose("stop", "-t", "10")
	if ci := info(t, name); ci.State.ExitCode != 0 {
		t.Errorf("compose stop: exit code %d, want 0", ci.State.ExitCode)
	}
}

// capReport is what internal/testbin/capreport writes.
type capReport struct {
	Argv                           []string
	UID, GID                       int
	CapEff, CapPrm, CapInh, CapAmb string
}

const capSysTime = "0000000002000000"
const capNone = "0000000000000000"

// TestClockControl checks what chronyd gets in each way of starting the container, with the
// capability reporter in chronyd's place: it cannot set the clock whatever it is given.
func TestClockControl(t *testing.T) {
	needs.Docker(t)
	if _, err := os.Stat(filepath.Join(repo, "internal", "testbin", "capreport", "main.go")); err != nil {
		t.Fatalf("capability reporter missing: %v", err)
	}
	tests := []struct {
		name  string
		flags []string
		env   []string
		// want in the reporter: uid, capabilities (permitted = effective = ambient), -x or not.
		wantCaps string
		wantX    bool
	}{
		{name: "root start with SYS_TIME, SETUID, SETGID",
			flags:    []string{"--user", "0:0", "--cap-add", "SYS_TIME", "--cap-add", "SETUID", "--cap-add", "SETGID", "--security-opt", "no-new-privileges"},
			env:      []string{"CLOCK_CONTROL=on"},
			wantCaps: capSysTime},
		{name: "non-root with the +p file capability",
			flags:    []string{"--cap-add", "SYS_TIME"},
			env:      []string{"CLOCK_CONTROL=on"},
			wantCaps: capSysTime},
		{name: "non-root under no-new-privileges serves with -x",
			flags:    []string{"--cap-add", "SYS_TIME", "--security-opt", "no-new-privileges"},
			env:      []string{"CLOCK_CONTROL=auto"},
			wantCaps: capNone, wantX: true},
		{name: "CLOCK_CONTROL=off gives chronyd nothing",
			flags:    []string{"--user", "0:0", "--cap-add", "SYS_TIME", "--cap-add", "SETUID", "--cap-add", "SETGID", "--security-opt", "no-new-privileges"},
			env:      []string{"CLOCK_CONTROL=off"},
			wantCaps: capNone, wantX: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-cap%d", prefix, i)
			ownContainer(t, name)
			args := []string{"run", "-d", "--name", name, "--network", network, "--read-only",
				"--tmpfs", "/run/chrony", "--cap-drop", "ALL"}
			args = append(append(args, tc.flags...), capreportMount...)
			env := append([]string{"CHRONYD=" + capreport, "CAPREPORT_OUT=/run/chrony/chronyd/capreport.json",
				"NTP_SERVERS=" + upstream, "NTP_PORT=1123", "HTTP_ADDR=off", "LOG_FORMAT=console"}, tc.env...)
			for _, e := range env {
				args = append(args, "-e", e)
			}
			dockerT(t, append(args, image)...)

			pid := info(t, name).State.Pid
			path := fmt.Sprintf("/proc/%d/root/run/chrony/chronyd/capreport.json", pid)
			var rep capReport
			deadline := time.Now().Add(15 * time.Second)
			for {
				data, err := os.ReadFile(path)
				if err == nil && json.Unmarshal(data, &rep) == nil {
					break
				}
				if ci := info(t, name); !ci.State.Running {
					t.Fatalf("container exited (code %d) before chronyd's stand-in reported", ci.State.ExitCode)
				}
				if time.Now().After(deadline) {
					t.Fatalf("no capability report at %s within 15s: %v", path, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if rep.UID != standin.ChronyUID || rep.GID != standin.ChronyGID {
				t.Errorf("chronyd runs as %d:%d, want %d:%d", rep.UID, rep.GID, standin.ChronyUID, standin.ChronyGID)
			}
			if rep.CapPrm != tc.wantCaps || rep.CapEff != tc.wantCaps || rep.CapAmb != tc.wantCaps {
				t.Errorf("chronyd capabilities prm %s eff %s amb %s, want %s", rep.CapPrm, rep.CapEff, rep.CapAmb, tc.wantCaps)
			}
			if got := slices.Contains(rep.Argv, "-x"); got != tc.wantX {
				t.Errorf("chronyd argv %q: -x %v, want %v", rep.Argv, got, tc.wantX)
			}
			// Nothing runs as root; only chronyd holds what it was given.
			mask, _ := strconv.ParseUint(tc.wantCaps, 16, 64)
			for _, p := range assertNoRoot(t, name, mask) {
				if p.PID == pid && p.CapPrm != capNone {
					t.Errorf("PID 1 keeps capabilities %s after start-up", p.CapPrm)
				}
			}
		})
	}
}
