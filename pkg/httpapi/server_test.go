package httpapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chris-short/chrony/pkg/health"
)

func deps(live, ready health.Result) Deps {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chrony_up", Help: "up"}, func() float64 { return 1 }))
	return Deps{
		Live:    func(context.Context) health.Result { return live },
		Ready:   func(context.Context) health.Result { return ready },
		Metrics: reg,
	}
}

func TestHandlers(t *testing.T) {
	good := health.Result{OK: true, Reason: "synchronised: stratum 2, source 127.0.0.1"}
	bad := health.Result{Reason: "no selected source (stratum 0): no sources"}
	down := health.Result{Reason: "cannot reach chronyd: connect: no such file", Err: errors.New("x")}
	tests := []struct {
		name, method, path string
		d                  Deps
		wantStatus         int
		wantBody           string
	}{
		{"live", "GET", "/healthz", deps(good, bad), 200, "ok: synchronised: stratum 2, source 127.0.0.1\n"},
		{"not live", "GET", "/healthz", deps(down, down), 503, "fail: cannot reach chronyd: connect: no such file\n"},
		{"ready", "GET", "/readyz", deps(good, good), 200, "ok: synchronised: stratum 2, source 127.0.0.1\n"},
		{"not ready", "GET", "/readyz", deps(good, bad), 503, "fail: no selected source (stratum 0): no sources\n"},
		{"head ready", "HEAD", "/readyz", deps(good, good), 200, ""},
		{"head not ready", "HEAD", "/readyz", deps(good, bad), 503, ""},
		{"metrics", "GET", "/metrics", deps(good, good), 200, "# HELP chrony_up up\n# TYPE chrony_up gauge\nchrony_up 1\n"},
		{"post refused", "POST", "/readyz", deps(good, good), 405, "method not allowed\n"},
		{"delete refused", "DELETE", "/metrics", deps(good, good), 405, "method not allowed\n"},
		{"unknown path", "GET", "/debug/pprof/", deps(good, good), 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New("unused", tt.d).Handler)
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestServerLimits(t *testing.T) {
	s := New(":0", Deps{Metrics: prometheus.NewRegistry()})
	for name, v := range map[string]time.Duration{"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout} {
		if v <= 0 {
			t.Errorf("%s not set", name)
		}
	}
	if s.MaxHeaderBytes <= 0 || s.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d", s.MaxHeaderBytes)
	}
}

// TestServeShutsDownWithContext: Serve answers until its context ends, then returns nil
// within the shutdown deadline and the port no longer answers.
func TestServeShutsDownWithContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	good := health.Result{OK: true, Reason: "fine"}
	srv := New(ln.Addr().String(), deps(good, good))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, 2*time.Second) }()

	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "ok") {
		t.Fatalf("healthz = %d %q", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return within 5s of cancel")
	}
	if _, err := client.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

// TestOptionsStarRefused: `OPTIONS *` (which never reaches a handler in a default
// http.Server) is refused like every method but GET and HEAD.
func TestOptionsStarRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	good := health.Result{OK: true, Reason: "fine"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, New(ln.Addr().String(), deps(good, good)), ln, 2*time.Second) }()
	defer func() { cancel(); <-done }()

	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("OPTIONS * = %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestMetricsFormat: /metrics answers OpenMetrics when the scraper asks for it (as Prometheus
// does), the text format otherwise.
func TestMetricsFormat(t *testing.T) {
	tests := []struct {
		name, accept, wantType, wantBody string
	}{
		{"text by default", "", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores",
			"# HELP chrony_up up\n# TYPE chrony_up gauge\nchrony_up 1\n"},
		{"OpenMetrics when asked", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
			"application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
			"# HELP chrony_up up\n# TYPE chrony_up gauge\nchrony_up 1.0\n# EOF\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New("unused", deps(health.Result{}, health.Result{})).Handler)
			defer srv.Close()
			req, err := http.NewRequest("GET", srv.URL+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if got := resp.Header.Get("Content-Type"); got != tt.wantType || string(body) != tt.wantBody {
				t.Errorf("Content-Type %q body %q, want %q %q", got, body, tt.wantType, tt.wantBody)
			}
		})
	}
}
