package switching

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// TestIPFamily starts the entrypoint (real chronyd -x) and looks at the argv it logs and at
// the UDP sockets chronyd opened on NTP_PORT, read from /proc/<chronyd>/net (chronyd's own
// network namespace). "no IPv6 host" runs the entrypoint in a network namespace of its own
// with net.ipv6.conf.all.disable_ipv6=1: without IP_FAMILY it must give chronyd -4 by itself.
func TestIPFamily(t *testing.T) {
	upstream := chronytest.StartUpstream(t)
	tests := []struct {
		name     string
		env      []string
		noIPv6   bool // run in a namespace with IPv6 disabled
		flag     string
		wantUDP6 bool
	}{
		{"IP_FAMILY=4", []string{"IP_FAMILY=4"}, false, "-4", false},
		{"IP_FAMILY=dual", []string{"IP_FAMILY=dual"}, false, "", true},
		{"default on an IPv6 host", nil, false, "", true},
		{"default on a host with IPv6 disabled", nil, true, "-4", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, entrypointtest.Sources(upstream))
			c.Set(t, "ALLOW=all", "HTTP_ADDR=off")
			c.Set(t, tt.env...)
			var p *entrypointtest.Proc
			if tt.noIPv6 {
				// A fresh namespace: only its own loopback, IPv6 switched off, no upstream
				// reachable (none is needed to open the server sockets).
				script := `ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && exec "$0"`
				p = entrypointtest.Start(t, "unshare", c.Env, "--net", "--", "sh", "-c", script, bin)
			} else {
				p = entrypointtest.Start(t, bin, c.Env)
			}
			pidfile := filepath.Join(c.Run, "chronyd", "chronyd.pid")
			var pid int
			waitFor(t, p, 20*time.Second, "chronyd's pidfile and NTP socket", func() bool {
				if _, err := os.Stat(pidfile); err != nil {
					return false
				}
				pid = entrypointtest.ReadPID(t, pidfile)
				return hasUDPPort(pid, "udp", c.NTPPort)
			})
			argv := startingArgv(t, p.Logs.String())
			gotFlag := ""
			for _, a := range argv {
				if a == "-4" || a == "-6" {
					gotFlag = a
				}
			}
			if gotFlag != tt.flag {
				t.Errorf("chronyd argv %q: family flag %q, want %q", argv, gotFlag, tt.flag)
			}
			if got := hasUDPPort(pid, "udp6", c.NTPPort); got != tt.wantUDP6 {
				t.Errorf("chronyd has an IPv6 socket on port %d: %v, want %v", c.NTPPort, got, tt.wantUDP6)
			}
		})
	}
}

// waitFor polls cond every 50 ms until it holds, failing after within or when p exits.
func waitFor(t *testing.T, p *entrypointtest.Proc, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		select {
		case <-p.Done():
			t.Fatalf("entrypoint exited while waiting for %s: %v\n%s", what, p.Err(), p.Logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v\n%s", what, within, p.Logs)
		}
	}
}

// hasUDPPort says whether /proc/<pid>/net/<file> lists a socket bound to port.
func hasUDPPort(pid int, file string, port int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
	if err != nil {
		return false
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasSuffix(f[1], suffix) {
			return true
		}
	}
	return false
}

// startingArgv is the argv of the entrypoint's "starting chronyd" log line.
func startingArgv(t *testing.T, logs string) []string {
	t.Helper()
	lines, err := entrypointtest.ParseLogs(logs)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if l.Msg == "starting chronyd" {
			var argv []string
			raw, _ := l.Fields["argv"].([]any)
			for _, a := range raw {
				s, _ := a.(string)
				argv = append(argv, s)
			}
			return argv
		}
	}
	t.Fatalf("no \"starting chronyd\" line in\n%s", logs)
	return nil
}
