package security

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testbin"
	"github.com/chris-short/chrony/internal/testcert"
)

// newPKI writes a CA certificate, a server certificate for 127.0.0.1 and localhost, and its
// key into dir. The key belongs to nobody with mode 0400, as a Kubernetes Secret mounted for
// the chrony user.
func newPKI(t *testing.T, dir string) testcert.Paths {
	t.Helper()
	return testcert.Write(t, dir, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)},
		entrypointtest.ChronyUID, entrypointtest.ChronyGID, 0o400)
}

func chronyc(t *testing.T) string {
	return chronytest.Chronyc(t)
}

// TestNTSServer is the NTS server end to end: the entrypoint serves NTS-KE on NTS_PORT (a free
// port, not 4460) with a certificate made here, and a second chronyd (-x) that trusts only the
// test CA synchronises to it over NTS. Its authdata shows cookies from a successful NTS-KE, and
// the entrypoint's /metrics counts the NTS-KE connection and the authenticated NTP requests.
func TestNTSServer(t *testing.T) {
	up := chronytest.StartUpstream(t)
	c := newContainer(t, up)
	tls := filepath.Join(c.Base, "tls")
	entrypointtest.Must(t, os.Mkdir(tls, 0o755))
	p := newPKI(t, tls)
	ntsPort := chronytest.FreeTCPPort(t)
	c.Set(t, "NTS_SERVER_CERT="+p.Cert, "NTS_SERVER_KEY="+p.Key, "NTS_PORT="+strconv.Itoa(ntsPort))
	c.start(t)
	c.waitProbe(t, "ready", 20*time.Second)

	client := chronytest.Start(t, chronytest.Options{Lines: []string{
		fmt.Sprintf("server 127.0.0.1 port %d nts ntsport %d iburst minpoll -2 maxpoll 0", c.NTPPort, ntsPort),
		"ntstrustedcerts " + p.CA,
	}})

	// Synchronised over NTS within 20 s (about 2 s here).
	var tracking, authdata string
	deadline := time.Now().Add(20 * time.Second)
	for {
		tracking = chronycOut(t, client.Socket, "tracking")
		authdata = chronycOut(t, client.Socket, "authdata")
		if strings.Contains(tracking, "Leap status     : Normal") && ntsCookies(authdata) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client not synchronised over NTS within 20 s\ntracking:\n%s\nauthdata:\n%s\nclient log:\n%s\nentrypoint log:\n%s",
				tracking, authdata, client.Logs(), c.proc.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("tracking:\n%s\nauthdata:\n%s", tracking, authdata)
	if !strings.Contains(tracking, "Reference ID    : 7F000001") {
		t.Errorf("client tracks another source:\n%s", tracking)
	}
	fields := authFields(authdata)
	if fields == nil || fields[1] != "NTS" || fields[7] != "0" {
		t.Errorf("authdata: want mode NTS and no NAK:\n%s", authdata)
	}

	body := c.metrics(t)
	if v := metricValue(body, "chrony_serverstats_nts_ke_connections_accepted_total"); v < 1 {
		t.Errorf("nts_ke_connections_accepted_total = %v, want >= 1", v)
	}
	if v := metricValue(body, "chrony_serverstats_authenticated_ntp_packets_total"); v < 1 {
		t.Errorf("authenticated_ntp_packets_total = %v, want >= 1", v)
	}
	conf, err := os.ReadFile(filepath.Join(c.Run, "chrony.conf"))
	entrypointtest.Must(t, err)
	if !strings.Contains(string(conf), fmt.Sprintf("\nntsport %d\n", ntsPort)) {
		t.Errorf("rendered chrony.conf lacks ntsport %d:\n%s", ntsPort, conf)
	}
}

func chronycOut(t *testing.T, socket, command string) string {
	t.Helper()
	out, _ := exec.Command(chronyc(t), "-n", "-h", socket, command).CombinedOutput()
	return string(out)
}

// authFields is the first data row of `chronyc authdata`: Name, Mode, KeyID, Type, KLen, Last,
// Atmp, NAK, Cook, CLen.
func authFields(out string) []string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 10 && f[0] == "127.0.0.1" {
			return f
		}
	}
	return nil
}

// ntsCookies is the cookie count of authdata's first row: cookies exist only after a
// successful NTS-KE.
func ntsCookies(out string) int {
	f := authFields(out)
	if f == nil {
		return 0
	}
	n, _ := strconv.Atoi(f[8])
	return n
}

// TestNTSBadKeyPair: an NTS certificate or key chronyd cannot use (unreadable by the chrony
// user, or not a matching pair) stops the entrypoint with 1 before chronyd starts, naming the
// variable; capreport stands in for chronyd and must never have run.
func TestNTSBadKeyPair(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	tests := []struct {
		name  string
		spoil func(t *testing.T, p testcert.Paths, dir string)
		want  string
	}{
		{"certificate mode 000", func(t *testing.T, p testcert.Paths, dir string) { entrypointtest.Must(t, os.Chmod(p.Cert, 0)) }, "NTS_SERVER_CERT "},
		{"key mode 000", func(t *testing.T, p testcert.Paths, dir string) { entrypointtest.Must(t, os.Chmod(p.Key, 0)) }, "NTS_SERVER_KEY "},
		{"key owned by root 0600", func(t *testing.T, p testcert.Paths, dir string) {
			entrypointtest.Must(t, os.Chown(p.Key, 0, 0))
			entrypointtest.Must(t, os.Chmod(p.Key, 0o600))
		}, "NTS_SERVER_KEY "},
		{"key of another certificate", func(t *testing.T, p testcert.Paths, dir string) {
			other := newPKI(t, dir)
			entrypointtest.Must(t, os.Rename(other.Key, p.Key))
		}, "NTS_SERVER_CERT " /* and NTS_SERVER_KEY, in one message */},
		{"CA certificate instead of the server's", func(t *testing.T, p testcert.Paths, dir string) {
			entrypointtest.Must(t, os.Rename(p.CA, p.Cert))
		}, "not a usable certificate and matching key"},
		{"certificate path is a directory", func(t *testing.T, p testcert.Paths, dir string) {
			entrypointtest.Must(t, os.Remove(p.Cert))
			entrypointtest.Must(t, os.Mkdir(p.Cert, 0o755))
		}, "NTS_SERVER_CERT "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContainer(t, nil)
			tls := filepath.Join(c.Base, "tls")
			entrypointtest.Must(t, os.Mkdir(tls, 0o755))
			p := newPKI(t, tls)
			other := filepath.Join(c.Base, "other")
			entrypointtest.Must(t, os.Mkdir(other, 0o755))
			tt.spoil(t, p, other)
			report := filepath.Join(c.Base, "capreport.json")
			c.Set(t, "CHRONYD="+capreport, "CAPREPORT_OUT="+report, "NTP_SERVERS=127.0.0.1",
				"NTS_SERVER_CERT="+p.Cert, "NTS_SERVER_KEY="+p.Key, "NTS_PORT="+strconv.Itoa(chronytest.FreeTCPPort(t)))
			r := entrypointtest.Run(t, bin, c.Env)
			if r.Code != 1 || !strings.Contains(r.Stderr, tt.want) || !strings.Contains(r.Stderr, `"chronyd not started"`) {
				t.Errorf("exit %d, want 1 with %q and \"chronyd not started\" in:\n%s", r.Code, tt.want, r.Stderr)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("the chronyd stand-in was started")
			}
		})
	}
}
