package main

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/httpapi"
	"github.com/chris-short/chrony/pkg/launch"
	"github.com/chris-short/chrony/pkg/metrics"
	"github.com/chris-short/chrony/pkg/preflight"
)

// httpShutdownTimeout bounds how long requests in flight may hold up the container's exit.
const httpShutdownTimeout = 2 * time.Second

// runCommand validates, launches and supervises chronyd; the exit code is chronyd's.
func runCommand(c *cli.Context, environ []string) error {
	s, err := loadSettings(environ)
	if err != nil {
		return err
	}
	log, err := newLogger(s.LogLevel, s.LogFormat, c.App.ErrWriter)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	defer func() { _ = log.Sync() }()
	log.Info("entrypoint starting", zap.String("version", version), zap.String("revision", revision))

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	web := &webServer{s: s, log: log}
	code, err := launch.Run(ctx, s, log, launch.Hooks{
		OnPlan:    web.setPlan,
		OnStarted: func(int, string) error { return web.start(ctx) },
	})
	cancel()
	web.wait()
	if err != nil {
		log.Error("chronyd not started", zap.Error(err))
		return cli.Exit("", exitFailure)
	}
	log.Info("entrypoint exiting", zap.Int("exit_code", code))
	return cli.Exit("", code)
}

// webServer serves /healthz, /readyz and /metrics while chronyd runs.
type webServer struct {
	s   *config.Settings
	log *zap.Logger

	mu      sync.Mutex
	plan    preflight.Plan
	started time.Time
	done    chan struct{}
}

func (w *webServer) setPlan(p preflight.Plan) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.plan = p
}

// start binds HTTP_ADDR and serves until ctx ends. Binding happens here, synchronously, so a
// port already in use is an error that stops chronyd rather than a log line nobody reads.
func (w *webServer) start(ctx context.Context) error {
	w.mu.Lock()
	w.started = time.Now()
	w.mu.Unlock()
	if w.s.HTTPAddr == "" {
		return nil
	}
	prober := proberFor(w.s)
	collector := metrics.New(metrics.Options{
		Dial:   metrics.DialSocket(w.s.SocketPath(), w.s.RunDir),
		Logger: w.log.Named("metrics"),
	})
	sup := metrics.NewSupervisorCollector(w.facts, metrics.BuildInfo{
		Version: version, Revision: revision, GoVersion: runtime.Version(),
	})
	reg, err := metrics.NewRegistry(collector, sup)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	srv := httpapi.New(w.s.HTTPAddr, httpapi.Deps{
		Live: prober.Live, Ready: prober.Ready, Metrics: reg, Logger: w.log.Named("http"),
	})
	ln, err := net.Listen("tcp", w.s.HTTPAddr)
	if err != nil {
		_ = collector.Close()
		return fmt.Errorf("listen on HTTP_ADDR=%s: %w", w.s.HTTPAddr, err)
	}
	w.log.Info("serving /healthz, /readyz and /metrics", zap.String("addr", ln.Addr().String()))
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		defer func() { _ = collector.Close() }()
		if err := httpapi.Serve(ctx, srv, ln, httpShutdownTimeout); err != nil {
			w.log.Error("HTTP server failed", zap.Error(err))
		}
	}()
	return nil
}

// wait returns once the HTTP server has shut down (at most httpShutdownTimeout after ctx ends).
func (w *webServer) wait() {
	if w.done != nil {
		<-w.done
	}
}

func (w *webServer) facts() metrics.SupervisorFacts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return metrics.SupervisorFacts{
		ClockControl:       w.plan.ClockControl,
		ClockControlReason: w.plan.ClockReason,
		StartTime:          w.started,
	}
}

// proberFor asks the chronyd that s describes, binding client sockets in RUN_DIR.
func proberFor(s *config.Settings) health.Prober {
	return health.Prober{
		Socket:    s.SocketPath(),
		ClientDir: s.RunDir,
		Thresholds: health.Thresholds{
			MaxDistance: s.ReadyMaxDistance,
			AllowLocal:  s.ReadyAllowLocal,
		},
	}
}
