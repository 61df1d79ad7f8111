package e2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chris-short/chrony/internal/procstatus"
)

type containerInfo struct {
	State struct {
		Running  bool
		Pid      int
		ExitCode int
		Health   *struct{ Status string }
	}
	HostConfig struct {
		ReadonlyRootfs bool
	}
	NetworkSettings struct {
		Networks map[string]struct{ IPAddress string }
	}
	Mounts []struct {
		Type        string
		Name        string
		Source      string
		Destination string
	}
}

func info(t *testing.T, name string) containerInfo {
	t.Helper()
	var ci containerInfo
	inspect(t, "container", name, &ci)
	return ci
}

func ipOf(t *testing.T, name string) string {
	t.Helper()
	n, ok := info(t, name).NetworkSettings.Networks[network]
	if !ok || n.IPAddress == "" {
		t.Fatalf("%s has no address on %s", name, network)
	}
	return n.IPAddress
}

// waitHealth waits (bounded) until the container's HEALTHCHECK reports want.
func waitHealth(t *testing.T, name, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ci := info(t, name)
		if !ci.State.Running {
			t.Fatalf("%s stopped (exit %d) while waiting for %s", name, ci.State.ExitCode, want)
		}
		if ci.State.Health != nil {
			last = ci.State.Health.Status
			if last == want {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: health %q, want %q within %s\n%s", name, last, want, within,
		dockerT(t, "inspect", "-f", "{{json .State.Health}}", name))
}

// ntpQuery sends one NTP client request and returns the reply's stratum.
func ntpQuery(addr string) (int, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return 0, fmt.Errorf("ntp query %s: %w", addr, err)
	}
	defer c.Close()
	req := make([]byte, 48)
	req[0] = 0<<6 | 4<<3 | 3 // no leap warning, version 4, client
	binary.BigEndian.PutUint64(req[40:], uint64(time.Now().UnixNano()))
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return 0, err
	}
	if _, err := c.Write(req); err != nil {
		return 0, fmt.Errorf("ntp query %s: %w", addr, err)
	}
	resp := make([]byte, 128)
	n, err := c.Read(resp)
	if err != nil {
		return 0, fmt.Errorf("ntp query %s: %w", addr, err)
	}
	if n < 48 || resp[0]&7 != 4 {
		return 0, fmt.Errorf("ntp query %s: not a server reply (%d bytes, mode %d)", addr, n, resp[0]&7)
	}
	return int(resp[1]), nil
}

// waitStratum polls addr until it serves the wanted stratum.
func waitStratum(t *testing.T, addr string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int
	var err error
	for time.Now().Before(deadline) {
		if got, err = ntpQuery(addr); err == nil && got == want {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: stratum %d (%v), want %d within %s", addr, got, err, want, within)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	return string(body)
}

// process is one process of a container, seen from the host's /proc.
type process struct {
	PID     int
	Name    string
	Cmdline []string
	UIDs    []string // real, effective, saved, fs
	GIDs    []string
	CapPrm  string
	CapEff  string
	CapAmb  string
}

// processes lists the container's processes with their /proc status.
func processes(t *testing.T, name string) []process {
	t.Helper()
	var out []process
	for _, f := range strings.Fields(dockerT(t, "top", name, "-eo", "pid")) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue // the PID header
		}
		p := process{PID: pid}
		st, err := procstatus.Read(pid)
		if err != nil {
			continue // exited in between
		}
		p.Name, p.UIDs, p.GIDs = st["Name"], strings.Fields(st["Uid"]), strings.Fields(st["Gid"])
		p.CapPrm, p.CapEff, p.CapAmb = st["CapPrm"], st["CapEff"], st["CapAmb"]
		if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			p.Cmdline = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no processes", name)
	}
	return out
}

// assertNoRoot fails when any process of the container has a root uid or gid of any kind, or
// holds a capability other than those allowed (hex mask).
func assertNoRoot(t *testing.T, name string, allowedCaps uint64) []process {
	t.Helper()
	ps := processes(t, name)
	for _, p := range ps {
		for _, id := range append(append([]string{}, p.UIDs...), p.GIDs...) {
			if id == "0" {
				t.Errorf("%s: process %d (%s) runs with uid/gid 0: Uid %v Gid %v", name, p.PID, p.Name, p.UIDs, p.GIDs)
				break
			}
		}
		for _, c := range []string{p.CapPrm, p.CapEff, p.CapAmb} {
			v, err := strconv.ParseUint(c, 16, 64)
			if err != nil || v&^allowedCaps != 0 {
				t.Errorf("%s: process %d (%s) holds capabilities %s (allowed %x)", name, p.PID, p.Name, c, allowedCaps)
			}
		}
	}
	return ps
}

// rootReadOnly says whether the container's / is mounted read-only.
func rootReadOnly(t *testing.T, pid int) bool {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == "/" {
			for _, o := range strings.Split(f[5], ",") {
				if o == "ro" {
					return true
				}
			}
			return false
		}
	}
	t.Fatalf("no / in mountinfo of %d", pid)
	return false
}

func chronydOf(t *testing.T, ps []process) process {
	t.Helper()
	for _, p := range ps {
		if p.Name == "chronyd" {
			return p
		}
	}
	t.Fatalf("no chronyd among %+v", ps)
	return process{}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hardNofile is this process's hard limit on open files (1024 when it cannot be read).
func hardNofile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	return r.Max
}

// composeForTest writes a copy of the repository's docker-compose.yaml with the changes every
// compose test needs, and returns its path: image and container name, no SYS_TIME (the file
// must have asked for it), no host port, NTP_SERVERS=source instead of the pools (no
// Internet), and the test's network as the default one; edit makes the test's own changes
// to the service.
func composeForTest(t *testing.T, image, name, source, network string, edit func(svc map[string]any)) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf map[string]any
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	svc := cf["services"].(map[string]any)["chrony"].(map[string]any)
	svc["image"], svc["container_name"] = image, name
	var caps []any
	for _, c := range svc["cap_add"].([]any) {
		if c != "SYS_TIME" {
			caps = append(caps, c)
		}
	}
	if len(caps) != len(svc["cap_add"].([]any))-1 {
		t.Fatalf("docker-compose.yaml cap_add %v lacks SYS_TIME", svc["cap_add"])
	}
	svc["cap_add"] = caps
	delete(svc, "ports")
	env := svc["environment"].(map[string]any)
	delete(env, "NTP_POOLS")
	env["NTP_SERVERS"] = source
	edit(svc)
	cf["networks"] = map[string]any{"default": map[string]any{"external": true, "name": network}}
	out, err := yaml.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "docker-compose.yaml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
