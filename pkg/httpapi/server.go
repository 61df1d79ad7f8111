package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/health"
)

// Deps are what the handlers ask.
type Deps struct {
	// Live and Ready answer /healthz and /readyz (health.Prober's methods fit).
	Live, Ready func(ctx context.Context) health.Result
	// Metrics is gathered for /metrics.
	Metrics prometheus.Gatherer
	Logger  *zap.Logger
}

// Server limits. A probe answers within chronyd's request deadline; a scrape within the
// collector's; these leave margin above both.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 15 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 8 << 10
)

// New returns a server for addr (host:port) with every timeout set.
func New(addr string, d Deps) *http.Server {
	log := d.Logger
	if log == nil {
		log = zap.NewNop()
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", probeHandler(d.Live))
	mux.Handle("/readyz", probeHandler(d.Ready))
	mux.Handle("/metrics", promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(log),
		// OpenMetrics when the scraper's Accept header asks for it (Prometheus does). Concurrent
		// scrapes are not refused: the chrony collector shares one chronyd round among them.
		EnableOpenMetrics: true,
	}))
	return &http.Server{
		Addr:              addr,
		Handler:           readOnly(mux),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log),
		// `OPTIONS *` goes to readOnly and is refused like every other method; net/http's
		// general handler would answer it 200.
		DisableGeneralOptionsHandler: true,
	}
}

// Serve serves srv on ln until ctx is done, then shuts it down, waiting at most
// shutdownTimeout for requests in flight. It returns nil after a shutdown asked by ctx.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, shutdownTimeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down http on %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}

// readOnly refuses every method but GET and HEAD.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// probeHandler answers 200 or 503 with the result's one-line reason.
func probeHandler(probe func(ctx context.Context) health.Result) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := probe(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		status, word := http.StatusOK, "ok"
		if !res.OK {
			status, word = http.StatusServiceUnavailable, "fail"
		}
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, "%s: %s\n", word, res.Reason)
		}
	})
}
