package security

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testcert"
)

// secretVolume lays out dir as Kubernetes mounts a Secret: the files are symlinks through
// ..data, a symlink to a timestamped directory; an update writes a new directory and renames a
// new ..data symlink over the old one (one atomic swap for both files).
type secretVolume struct {
	dir  string
	n    int
	Cert string // dir/tls.crt
	Key  string // dir/tls.key
}

func newSecretVolume(t *testing.T, dir string, p testcert.Paths) *secretVolume {
	t.Helper()
	v := &secretVolume{dir: dir, Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}
	v.update(t, p)
	entrypointtest.Must(t, os.Symlink("..data/tls.crt", v.Cert))
	entrypointtest.Must(t, os.Symlink("..data/tls.key", v.Key))
	return v
}

// update publishes p's certificate and key as the Secret's new contents.
func (v *secretVolume) update(t *testing.T, p testcert.Paths) {
	t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_11_30_00_00_%02d.%d", v.n, os.Getpid())
	d := filepath.Join(v.dir, ts)
	entrypointtest.Must(t, os.Mkdir(d, 0o755))
	for src, dst := range map[string]string{p.Cert: "tls.crt", p.Key: "tls.key"} {
		b, err := os.ReadFile(src)
		entrypointtest.Must(t, err)
		fi, err := os.Stat(src)
		entrypointtest.Must(t, err)
		entrypointtest.Must(t, os.WriteFile(filepath.Join(d, dst), b, fi.Mode().Perm()))
		entrypointtest.Must(t, os.Chown(filepath.Join(d, dst), entrypointtest.ChronyUID, entrypointtest.ChronyGID))
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	entrypointtest.Must(t, os.Symlink(ts, tmp))
	entrypointtest.Must(t, os.Rename(tmp, filepath.Join(v.dir, "..data")))
}

// ntsKE performs one NTS-KE exchange (RFC 8915) with addr, trusting only caFile: it returns
// the certificate the server presented and the number of cookies it gave.
func ntsKE(addr, caFile string) (*x509.Certificate, int, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, 0, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	host, _, _ := net.SplitHostPort(addr)
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		RootCAs: roots, ServerName: host, NextProtos: []string{"ntske/1"}, MinVersion: tls.VersionTLS13,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("NTS-KE TLS handshake with %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	// Next protocol NTPv4 (0), AEAD AES-SIV-CMAC-256 (15), end of message; all critical.
	req := []byte{0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0}
	if _, err := conn.Write(req); err != nil {
		return nil, 0, err
	}
	cookies := 0
	for {
		var h [4]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			return nil, 0, fmt.Errorf("read NTS-KE record: %w", err)
		}
		typ, n := binary.BigEndian.Uint16(h[:2])&0x7fff, binary.BigEndian.Uint16(h[2:])
		body := make([]byte, n)
		if _, err := io.ReadFull(conn, body); err != nil {
			return nil, 0, fmt.Errorf("read NTS-KE record body: %w", err)
		}
		switch typ {
		case 0:
			return conn.ConnectionState().PeerCertificates[0], cookies, nil
		case 2:
			return nil, 0, fmt.Errorf("NTS-KE error record %x", body)
		case 5:
			cookies++
		}
	}
}

// gapMeter asks an NTP server for the time every 20 ms from its own socket and keeps the
// longest time between two answers (how long a client would have found the server silent),
// and between two synchronised answers (leap indicator not 3, and the stratum of the first
// answer: the server following its upstream, not serving its local clock at LOCAL_STRATUM).
type gapMeter struct {
	mu                   sync.Mutex
	last, lastSync       time.Time
	longest, longestSync time.Duration
	answers              int
	stratum              byte
	stop                 chan struct{}
	done                 chan struct{}
}

func startGapMeter(t *testing.T, addr string) *gapMeter {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	entrypointtest.Must(t, err)
	g := &gapMeter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		defer conn.Close()
		req := make([]byte, 48)
		req[0] = 0x23 // NTPv4, client
		buf := make([]byte, 512)
		for i := 0; i < 100000; i++ { // bounded: at most ~35 min at 20 ms
			select {
			case <-g.stop:
				return
			default:
			}
			binary.BigEndian.PutUint64(req[40:], uint64(time.Now().UnixNano())) // transmit timestamp as a nonce
			if _, err := conn.Write(req); err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := conn.Read(buf)
			now := time.Now()
			if err == nil && n >= 48 && buf[0]&7 == 4 {
				g.mu.Lock()
				if !g.last.IsZero() && now.Sub(g.last) > g.longest {
					g.longest = now.Sub(g.last)
				}
				g.last = now
				g.answers++
				if g.answers == 1 {
					g.stratum = buf[1]
				}
				if buf[0]>>6 != 3 && buf[1] == g.stratum {
					if !g.lastSync.IsZero() && now.Sub(g.lastSync) > g.longestSync {
						g.longestSync = now.Sub(g.lastSync)
					}
					g.lastSync = now
				}
				g.mu.Unlock()
			}
			if err == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(g.close)
	return g
}

func (g *gapMeter) close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// result is the longest silence, the longest time without a synchronised answer, and the
// number of answers so far.
func (g *gapMeter) result() (silent, unsynchronised time.Duration, answers int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.longest, g.longestSync, g.answers
}

// labelledValue is the value of the sample name{labels} in exposition text, or -1.
func labelledValue(body, name, labels string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+"{"+labels+"} "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// waitFor calls cond every 200 ms until it returns true, failing the test with what() after
// within.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// x509ParsePEM parses the first certificate of a PEM file.
func x509ParsePEM(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// pemDER is the DER of a PEM certificate file's first certificate.
func pemDER(t *testing.T, path string) []byte {
	t.Helper()
	c, err := x509ParsePEM(path)
	entrypointtest.Must(t, err)
	return c.Raw
}
