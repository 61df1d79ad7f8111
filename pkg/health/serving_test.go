package health_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/pkg/health"
)

// TestServing runs the real chronyd (-x) synchronised to a loopback upstream, once with its
// NTP port free and once with the port taken before it starts (as happens when another
// process binds it between the entrypoint's check and chronyd's bind): chronyd then logs
// "Could not open NTP socket", runs on as a client and answers tracking like a healthy
// server. Ready must be false, naming the port and the variable.
func TestServing(t *testing.T) {
	up := chronytest.StartUpstream(t)
	for _, taken := range []bool{false, true} {
		t.Run(fmt.Sprintf("port taken=%v", taken), func(t *testing.T) {
			port := chronytest.FreeUDPPort(t)
			if taken {
				pc, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pc.Close() })
			}
			in := chronytest.Start(t, chronytest.Options{Port: port, Lines: []string{
				"allow 127.0.0.0/8", up.ServerLine(),
			}})
			serving := filepath.Join(in.Dir, "serving.json")
			want := health.Serving{NTPPort: port, NTPFrom: fmt.Sprintf("NTP_PORT=%d", port)}
			if err := os.WriteFile(serving, want.Marshal(), 0o644); err != nil {
				t.Fatal(err)
			}
			p := health.Prober{Socket: in.Socket, ClientDir: in.Dir, ServingFile: serving, PIDFile: filepath.Join(in.Dir, "chronyd.pid"),
				Thresholds: health.Thresholds{MaxDistance: 10 * time.Second}}
			// Wait until chronyd is synchronised, so only the port can make it not ready.
			deadline := time.Now().Add(15 * time.Second)
			var r health.Result
			for {
				r = health.Prober{Socket: in.Socket, ClientDir: in.Dir, Thresholds: p.Thresholds}.Ready(context.Background())
				if r.OK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not synchronised within 15s: %s\n%s", r.Reason, in.Logs())
				}
				time.Sleep(100 * time.Millisecond)
			}
			r = p.Ready(context.Background())
			if !taken {
				if !r.OK {
					t.Errorf("not ready: %s", r.Reason)
				}
				return
			}
			wantReason := fmt.Sprintf("holds no UDP socket on NTP port %d (NTP_PORT=%d)", port, port)
			if r.OK || r.Err != nil || !strings.Contains(r.Reason, wantReason) || !strings.Contains(r.Reason, fmt.Sprintf("change NTP_PORT=%d", port)) {
				t.Errorf("ready %v (err %v): %q, want not ready with %q", r.OK, r.Err, r.Reason, wantReason)
			}
			if !strings.Contains(in.Logs(), "Could not open NTP socket") {
				t.Errorf("chronyd did not fail to open its socket:\n%s", in.Logs())
			}
		})
	}
}

// TestServingFileFIFO: a FIFO where the entrypoint wrote the Serving file (chronyd's user can
// put one there) makes Ready answer "cannot check" at once instead of hanging the probe or
// an HTTP handler.
func TestServingFileFIFO(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "chronyd.pid")
	if err := os.WriteFile(pidfile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "serving.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan health.Result, 1)
	go func() {
		done <- health.Prober{Socket: filepath.Join(dir, "none.sock"), ClientDir: dir, ServingFile: fifo, PIDFile: pidfile}.Ready(context.Background())
	}()
	select {
	case r := <-done:
		if r.OK || r.Err == nil || !strings.Contains(r.Reason, "not a regular file") {
			t.Errorf("Ready = %+v, want an error saying the file is not a regular file", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ready blocked on a FIFO")
	}
}
