package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Paths are the PEM files Write made.
type Paths struct {
	// CA is the CA certificate, the one a client must trust.
	CA string
	// Cert is the server certificate, signed by CA, for the hosts and IPs asked for.
	Cert string
	// Key is the server certificate's private key (PKCS #8).
	Key string
}

// Write makes a P-256 CA and a server certificate it signed for hosts (DNS names, the first
// also the common name) and ips, valid from an hour ago for a day, and writes ca.crt, tls.crt
// and tls.key into dir. The certificates are 0644; the key gets keyMode and belongs to uid:gid
// (os.Chown's -1 keeps the test's own). Any failure fails the test.
func Write(t testing.TB, dir string, hosts []string, ips []net.IP, uid, gid int, keyMode fs.FileMode) Paths {
	t.Helper()
	fail := func(op string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testcert: %s: %v", op, err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail("generate CA key", err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	fail("create CA certificate", err)
	caCert, err := x509.ParseCertificate(caDER)
	fail("parse CA certificate", err)

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail("generate server key", err)
	cn := ""
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     hosts,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	fail("create server certificate", err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	fail("encode server key", err)

	p := Paths{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
	fail("write CA certificate", os.WriteFile(p.CA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	fail("write server certificate", os.WriteFile(p.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o644))
	fail("write server key", os.WriteFile(p.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), keyMode))
	// WriteFile's mode passes through the umask; the test asked for exactly keyMode.
	fail("chmod server key", os.Chmod(p.Key, keyMode))
	fail("chown server key", os.Chown(p.Key, uid, gid))
	return p
}
