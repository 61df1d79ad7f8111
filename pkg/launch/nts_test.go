package launch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/testbin"
)

// writePair writes a self-signed certificate and its key as PEM files readable by anyone.
func writePair(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	must(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	must(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o644))
}

// TestNTSKeyPairCheckedBeforeStart: chronyd given an unusable NTS certificate or key logs it
// and serves without NTS, so Run checks the pair first, as chronyd's user (the launcher starts
// as root and drops to nobody: a file only root may read must be refused), and never starts
// chronyd (capreport stands in: its report must not exist).
func TestNTSKeyPairCheckedBeforeStart(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	tests := []struct {
		name  string
		setup func(t *testing.T, cert, key, other string)
		want  string // in the launcher's output; "" means chronyd starts
	}{
		{"readable pair starts chronyd", func(t *testing.T, cert, key, other string) {}, ""},
		{"certificate mode 000", func(t *testing.T, cert, key, other string) { must(t, os.Chmod(cert, 0)) }, "NTS_SERVER_CERT "},
		{"key mode 000", func(t *testing.T, cert, key, other string) { must(t, os.Chmod(key, 0)) }, "NTS_SERVER_KEY "},
		{"key of another certificate", func(t *testing.T, cert, key, other string) {
			writePair(t, filepath.Join(other, "c.pem"), filepath.Join(other, "k.pem"))
			must(t, os.Rename(filepath.Join(other, "k.pem"), key))
		}, "not a usable certificate and matching key"},
		{"key is a certificate", func(t *testing.T, cert, key, other string) {
			b, err := os.ReadFile(cert)
			must(t, err)
			must(t, os.WriteFile(key, b, 0o644))
		}, "not a usable certificate and matching key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, capreport)
			tls := filepath.Join(e.base, "tls")
			must(t, os.Mkdir(tls, 0o755))
			cert, key := filepath.Join(tls, "cert.pem"), filepath.Join(tls, "key.pem")
			writePair(t, cert, key)
			tt.setup(t, cert, key, t.TempDir())
			report := filepath.Join(e.out, "report.json")
			h := startHelper(t, helperBinary(t), e, []string{"--bounding-set=-all,+setuid,+setgid"},
				"CLOCK_CONTROL=off", "ALLOW=127.0.0.1", "NTP_PORT=1123", "NTS_SERVER_CERT="+cert, "NTS_SERVER_KEY="+key,
				"CAPREPORT_OUT="+report)
			if tt.want == "" {
				h.waitStarted(t, e)
				if _, err := os.Stat(report); err != nil {
					t.Errorf("chronyd stand-in did not run: %v\n%s", err, h.stderr)
				}
				return
			}
			code := h.wait(t, 15*time.Second)
			if code != 1 || !strings.Contains(h.stderr.String(), tt.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, tt.want, h.stderr)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("chronyd stand-in was started despite the bad pair")
			}
		})
	}
}
