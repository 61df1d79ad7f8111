package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestWrite: the server pair loads as a TLS key pair, verifies against the CA for each host and
// IP asked for (and not for another name), and the key has the owner and mode asked for.
func TestWrite(t *testing.T) {
	uid, gid := os.Getuid(), os.Getgid()
	p := Write(t, t.TempDir(), []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, uid, gid, 0o400)

	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatalf("load key pair: %v", err)
	}
	caPEM, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", p.CA)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"localhost", true}, {"127.0.0.1", true}, {"example.com", false}} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: tt.name, Roots: roots})
		if (err == nil) != tt.ok {
			t.Errorf("verify for %s: %v, want ok=%v", tt.name, err, tt.ok)
		}
	}

	fi, err := os.Stat(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o400 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("key %v owned by %d:%d, want 0400 owned by %d:%d", fi.Mode(), st.Uid, st.Gid, uid, gid)
	}
}
