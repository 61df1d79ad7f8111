package ntswatch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chris-short/chrony/internal/testcert"
)

// keys4_3 is an ntskeys file as chronyd 4.3 writes it (captured from a test run of the
// entrypoint with NTS_SERVER_CERT, keys replaced by other hex of the same length).
const keys4_3 = "NKS0\n30 0.0\n" +
	"9A4C1D03 1C1F5B2E4D5A6978899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00\n" +
	"7E1B2C00 2C1F5B2E4D5A6978899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF01\n" +
	"5D0E9F01 3C1F5B2E4D5A6978899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF02\n" +
	"1F2E3D02 4C1F5B2E4D5A6978899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF03\n"

// keys4_4 is the same keys in the format chronyd 4.4 and later write (NKS1, algorithm last).
const keys4_4 = "NKS1\n0.0\n" +
	"9A4C1D03 1C1F5B2E4D5A6978899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00 30\n" +
	"7E1B2C00 2C1F5B2E4D5A6978899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF01 30\n"

func TestCopyKeys(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" with fifo: a FIFO
		fifo    bool
		want    string // error substring; "" means copied
	}{
		{"chrony 4.3 format", keys4_3, false, ""},
		{"chrony 4.4+ format", keys4_4, false, ""},
		{"truncated", keys4_3[:40], false, "not a chronyd ntskeys file"},
		{"not keys", "hello\n", false, "not a chronyd ntskeys file"},
		{"a FIFO is not opened for reading", "", true, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, state := filepath.Join(t.TempDir(), "ntskeys"), t.TempDir()
			if tt.fifo {
				if err := syscall.Mkfifo(src, 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(src, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			changed, err := CopyKeys(src, state)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "NTS_KEYS_FROM") {
					t.Fatalf("err = %v, want %q naming NTS_KEYS_FROM", err, tt.want)
				}
				if _, err := os.Stat(filepath.Join(state, KeysFile)); err == nil {
					t.Error("a refused file was copied")
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("CopyKeys = %v, %v; want copied", changed, err)
			}
			got, err := os.ReadFile(filepath.Join(state, KeysFile))
			if err != nil || string(got) != tt.content {
				t.Fatalf("copied %q, %v", got, err)
			}
			fi, _ := os.Stat(filepath.Join(state, KeysFile))
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600 as chronyd writes it", fi.Mode().Perm())
			}
			if changed, err := CopyKeys(src, state); changed || err != nil {
				t.Errorf("second copy of the same contents = %v, %v; want unchanged", changed, err)
			}
		})
	}
}

// TestWatchCert polls a pair replaced in place: a valid new pair asks for one restart, once it
// held still for two polls; a pair whose key belongs to another certificate is rejected once
// (logged as an error, counted), however many polls see it; the files missing for a moment
// are no renewal.
func TestWatchCert(t *testing.T) {
	tests := []struct {
		name         string
		change       func(t *testing.T, dir string, live testcert.Paths)
		wantRestarts int32
		wantRejected int
	}{
		{"renewed pair", func(t *testing.T, dir string, live testcert.Paths) {
			replace(t, testcert.Write(t, t.TempDir(), []string{"renewed"}, nil, -1, -1, 0o600), live)
		}, 1, 0},
		{"key of another certificate", func(t *testing.T, dir string, live testcert.Paths) {
			other := testcert.Write(t, t.TempDir(), []string{"other"}, nil, -1, -1, 0o600)
			if err := os.Rename(other.Key, live.Key); err != nil {
				t.Fatal(err)
			}
		}, 0, 1},
		{"files gone for a while", func(t *testing.T, dir string, live testcert.Paths) {
			if err := os.Remove(live.Cert); err != nil {
				t.Fatal(err)
			}
		}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			live := testcert.Write(t, dir, []string{"localhost"}, nil, -1, -1, 0o600)
			core, logs := observer.New(zapcore.InfoLevel)
			var restarts atomic.Int32
			st := &Status{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := WatchCert(ctx, CertOptions{Cert: live.Cert, Key: live.Key, Interval: 100 * time.Millisecond,
				Restart: func() { restarts.Add(1) }, Status: st, Logger: zap.New(core)})
			first := st.Snapshot().CertNotAfter
			if first.IsZero() || logs.FilterMessage("NTS certificate served").Len() != 1 {
				t.Fatalf("expiry %v not recorded or not logged at start", first)
			}
			tt.change(t, dir, live)
			time.Sleep(1500 * time.Millisecond) // 15 polls
			cancel()
			w.Wait()
			if got := restarts.Load(); got != tt.wantRestarts {
				t.Errorf("%d restarts asked, want %d", got, tt.wantRestarts)
			}
			s := st.Snapshot()
			if s.RenewalsRejected != tt.wantRejected || logs.FilterMessage("renewed NTS certificate or key rejected: chronyd keeps serving the pair it has").Len() != tt.wantRejected {
				t.Errorf("rejected %d (logged %d), want %d", s.RenewalsRejected,
					logs.FilterMessage("renewed NTS certificate or key rejected: chronyd keeps serving the pair it has").Len(), tt.wantRejected)
			}
			if tt.wantRestarts > 0 && logs.FilterMessage("renewed NTS certificate: restarting chronyd to load it").FilterField(zap.String("subject", "CN=renewed")).Len() != 1 {
				t.Errorf("the renewed certificate was not logged with its subject")
			}
		})
	}
}

// replace renames from's certificate and key over to's, as a renewal written file by file.
func replace(t *testing.T, from, to testcert.Paths) {
	t.Helper()
	if err := os.Rename(from.Cert, to.Cert); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a poll may see the new certificate with the old key
	if err := os.Rename(from.Key, to.Key); err != nil {
		t.Fatal(err)
	}
}
