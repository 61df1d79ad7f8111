package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
)

// pki is a CA and a server certificate for 127.0.0.1 and localhost, as PEM files.
type pki struct {
	ca, cert, key string
}

// newPKI writes the CA certificate, the server certificate and the server key into dir. The
// key belongs to nobody with mode 0400, as a Kubernetes Secret mounted for the chrony user.
func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "security test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	must(t, err)

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	must(t, err)

	p := pki{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key")}
	must(t, os.WriteFile(p.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	must(t, os.WriteFile(p.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o644))
	must(t, os.WriteFile(p.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o400))
	must(t, os.Chown(p.key, 65534, 65534))
	return p
}

func chronyc(t *testing.T) string {
	return strings.Replace(chronytest.Chronyd(t), "sbin/chronyd", "bin/chronyc", 1)
}

// TestNTSServer is the NTS server end to end: the entrypoint serves NTS-KE on NTS_PORT (a free
// port, not 4460) with a certificate made here, and a second chronyd (-x) that trusts only the
// test CA synchronises to it over NTS. Its authdata shows cookies from a successful NTS-KE, and
// the entrypoint's /metrics counts the NTS-KE connection and the authenticated NTP requests.
func TestNTSServer(t *testing.T) {
	up := chronytest.StartUpstream(t)
	c := newContainer(t, up)
	tls := filepath.Join(c.base, "tls")
	must(t, os.Mkdir(tls, 0o755))
	p := newPKI(t, tls)
	ntsPort := freeTCPPort(t)
	c.env = append(c.env, "NTS_SERVER_CERT="+p.cert, "NTS_SERVER_KEY="+p.key, "NTS_PORT="+strconv.Itoa(ntsPort))
	c.start(t)
	c.waitProbe(t, "ready", 20*time.Second)

	client := chronytest.Start(t, chronytest.Options{Lines: []string{
		fmt.Sprintf("server 127.0.0.1 port %d nts ntsport %d iburst minpoll -2 maxpoll 0", c.ntpPort, ntsPort),
		"ntstrustedcerts " + p.ca,
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
				tracking, authdata, client.Logs(), c.logs)
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
	conf, err := os.ReadFile(filepath.Join(c.run, "chrony.conf"))
	must(t, err)
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
	tests := []struct {
		name  string
		spoil func(t *testing.T, p pki, dir string)
		want  string
	}{
		{"certificate mode 000", func(t *testing.T, p pki, dir string) { must(t, os.Chmod(p.cert, 0)) }, "NTS_SERVER_CERT "},
		{"key mode 000", func(t *testing.T, p pki, dir string) { must(t, os.Chmod(p.key, 0)) }, "NTS_SERVER_KEY "},
		{"key owned by root 0600", func(t *testing.T, p pki, dir string) {
			must(t, os.Chown(p.key, 0, 0))
			must(t, os.Chmod(p.key, 0o600))
		}, "NTS_SERVER_KEY "},
		{"key of another certificate", func(t *testing.T, p pki, dir string) {
			other := newPKI(t, dir)
			must(t, os.Rename(other.key, p.key))
		}, "NTS_SERVER_CERT " /* and NTS_SERVER_KEY, in one message */},
		{"CA certificate instead of the server's", func(t *testing.T, p pki, dir string) {
			must(t, os.Rename(p.ca, p.cert))
		}, "not a usable certificate and matching key"},
		{"certificate path is a directory", func(t *testing.T, p pki, dir string) {
			must(t, os.Remove(p.cert))
			must(t, os.Mkdir(p.cert, 0o755))
		}, "NTS_SERVER_CERT "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContainer(t, nil)
			tls := filepath.Join(c.base, "tls")
			must(t, os.Mkdir(tls, 0o755))
			p := newPKI(t, tls)
			other := filepath.Join(c.base, "other")
			must(t, os.Mkdir(other, 0o755))
			tt.spoil(t, p, other)
			report := filepath.Join(c.base, "capreport.json")
			env := append(c.env, "CHRONYD="+capreport, "CAPREPORT_OUT="+report, "NTP_SERVERS=127.0.0.1",
				"NTS_SERVER_CERT="+p.cert, "NTS_SERVER_KEY="+p.key, "NTS_PORT="+strconv.Itoa(freeTCPPort(t)))
			r := runBin(t, 20*time.Second, env)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, `"chronyd not started"`) {
				t.Errorf("exit %d, want 1 with %q and \"chronyd not started\" in:\n%s", r.code, tt.want, r.stderr)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("the chronyd stand-in was started")
			}
		})
	}
}
