package httpapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/metrics"
)

// TestConcurrentProbesAndScrapes serves a synchronised real chronyd (-x) and sends 20
// concurrent rounds of /healthz, /readyz and /metrics: every answer is 200 with the expected
// content, and no client socket is left behind.
func TestConcurrentProbesAndScrapes(t *testing.T) {
	up := chronytest.StartUpstream(t)
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine(), "allow 127.0.0.1"}})
	clientDir := chronytest.ShortTempDir(t)
	p := health.Prober{Socket: cl.Socket, ClientDir: clientDir, Timeout: 2 * time.Second,
		Thresholds: health.Thresholds{MaxDistance: time.Second}}
	collector := metrics.New(metrics.Options{Dial: metrics.DialSocket(cl.Socket, clientDir)})
	reg, err := metrics.NewRegistry(collector)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, New(ln.Addr().String(), Deps{Live: p.Live, Ready: p.Ready, Metrics: reg}), ln, 5*time.Second)
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	defer func() {
		// The transport may hold a connection it dialled but never used; the server counts such
		// a connection as active for 5 s, which would outlast the shutdown deadline.
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(path string) (int, string, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	// Wait (bounded) for sync.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := get("/readyz")
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 20s: %d %q %v", code, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	const n = 20
	want := map[string]string{"/healthz": "ok: chronyd answers", "/readyz": "ok: synchronised: stratum 2", "/metrics": "\nchrony_up 1\n"}
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		for path, sub := range want {
			wg.Go(func() {
				code, body, err := get(path)
				if err != nil || code != 200 || !strings.Contains(body, sub) {
					errs <- fmt.Errorf("round %d %s: %d %v, body lacks %q:\n%.300s", i, path, code, err, sub, body)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Let in-flight handlers finish their Close; the collector keeps one connection across
	// scrapes until it is closed (the entrypoint closes it when the server stops). Then
	// nothing may be left in clientDir.
	time.Sleep(100 * time.Millisecond)
	if err := collector.Close(); err != nil {
		t.Errorf("close the collector: %v", err)
	}
	if left, _ := filepathGlob(clientDir); len(left) != 0 {
		t.Errorf("client sockets left behind: %v", left)
	}
}

func filepathGlob(dir string) ([]string, error) { return filepath.Glob(filepath.Join(dir, "*")) }
