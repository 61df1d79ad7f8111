package launch

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/testbin"
	"github.com/chris-short/chrony/internal/testcert"
)

// writePair writes a server certificate for localhost and its key into dir, both readable by
// anyone, and returns their paths.
func writePair(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	p := testcert.Write(t, dir, []string{"localhost"}, nil, -1, -1, 0o644)
	return p.Cert, p.Key
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
		{"certificate is a FIFO", func(t *testing.T, cert, key, other string) {
			must(t, os.Remove(cert))
			must(t, syscall.Mkfifo(cert, 0o644))
		}, "not a regular file"},
		{"key of another certificate", func(t *testing.T, cert, key, other string) {
			_, otherKey := writePair(t, other)
			must(t, os.Rename(otherKey, key))
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
			cert, key := writePair(t, tls)
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
