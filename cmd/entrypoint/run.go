package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/httpapi"
	"github.com/chris-short/chrony/pkg/launch"
	"github.com/chris-short/chrony/pkg/metrics"
	"github.com/chris-short/chrony/pkg/ntswatch"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/rundir"
)

// httpShutdownTimeout bounds how long requests in flight may hold up the container's exit.
const httpShutdownTimeout = 2 * time.Second

// runCommand validates, launches and supervises chronyd; the exit code is chronyd's.
func runCommand(c *cli.Context, environ []string) error {
	s, err := loadRunSettings(environ, c.App.ErrWriter)
	if err != nil {
		return err
	}
	log := newLogger(s.LogLevel, s.LogFormat == "console", c.App.ErrWriter)
	defer func() { _ = log.Sync() }()
	leanRuntime(environ)
	log.Info("entrypoint starting", zap.String("version", version), zap.String("revision", revision))
	for _, n := range s.Notices {
		log.Warn(n)
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	plan, err := decide(ctx, s, log)
	if err != nil {
		return notStarted(c, log, err)
	}
	web := &webServer{s: s, log: log, nts: &ntswatch.Status{}, plan: plan.Privileges, paths: plan.Layout}
	// Bound before chronyd starts, while still root in a root start (a low port then works): a
	// bad HTTP_ADDR is one error and chronyd never starts.
	if err := web.listen(); err != nil {
		return notStarted(c, log, err)
	}
	chronyd, err := launch.Execute(ctx, plan, log, launch.Options{Env: environ, NTS: web.nts})
	if err != nil {
		web.closeUnused()
		return notStarted(c, log, err)
	}
	// chronyd runs and this process holds no capability any more: serve, watch, wait.
	watch := &syncWatch{}
	watch.start(ctx, plan.Layout, log)
	serveErr := web.start(ctx, time.Now())
	if serveErr != nil {
		cancel() // stops chronyd
	}
	code, err := chronyd.Wait()
	cancel()
	web.wait()
	watch.wait()
	if err := errors.Join(serveErr, err); err != nil {
		log.Error("chronyd stopped", zap.Error(err))
		return cli.Exit("", exitFailure)
	}
	log.Info("entrypoint exiting", zap.Int("exit_code", code))
	return cli.Exit("", code)
}

// decide is a start's decision, up to the plan Execute carries out: the host's IP families,
// the facts Gather reads, and Decide's plan. `config` prints the plan's file; its error is
// the one `run` stops on.
func decide(ctx context.Context, s *config.Settings, log *zap.Logger) (launch.Plan, error) {
	s.NoIPv6 = !ipv6Usable("/proc")
	if s.NoIPv6 && s.IPFamily == config.FamilyAuto {
		log.Info("IPv6 is disabled on this host: chronyd runs with -4 (IP_FAMILY=auto)")
		if off := s.OffFamilySources(); len(off) > 0 {
			log.Warn("IPv6 sources unusable on this host: chronyd -4 ignores them", zap.Strings("sources", off))
		}
	}
	facts, err := launch.Gather(ctx, s, log)
	if err != nil {
		return launch.Plan{}, err
	}
	return launch.Decide(s, facts)
}

// notStarted ends a start that stopped before chronyd ran: exit 1 with err, or 0 when a stop
// was asked meanwhile (it may have interrupted `chronyd -p` or the start itself).
func notStarted(c *cli.Context, log *zap.Logger, err error) error {
	if c.Context.Err() != nil {
		log.Info("stop requested before chronyd started: exiting", zap.NamedError("reason", context.Cause(c.Context)), zap.Error(err))
		return cli.Exit("", exitOK)
	}
	log.Error("chronyd not started", zap.Error(err))
	return cli.Exit("", exitFailure)
}

// webServer serves /healthz, /readyz and /metrics while chronyd runs.
type webServer struct {
	s   *config.Settings
	log *zap.Logger

	ln      net.Listener // bound by listen before chronyd starts; nil when HTTP_ADDR=off
	nts     *ntswatch.Status
	plan    preflight.Plan
	paths   rundir.Layout
	started time.Time // set by start, before it serves
	done    chan struct{}
}

// listen binds HTTP_ADDR.
func (w *webServer) listen() error {
	if w.s.HTTPAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", w.s.HTTPAddr)
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("listen on HTTP_ADDR=%s: %w; a port below net.ipv4.ip_unprivileged_port_start needs root or CAP_NET_BIND_SERVICE: choose a port of 1024 or more (default :9123)", w.s.HTTPAddr, err)
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("listen on HTTP_ADDR=%s: %w; the address is not on this host (container): use :PORT for every address, or one of the container's own addresses", w.s.HTTPAddr, err)
	}
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR=%s: %w", w.s.HTTPAddr, err)
	}
	w.ln = ln
	return nil
}

// closeUnused closes the listener when chronyd never started, so nothing served it.
func (w *webServer) closeUnused() {
	if w.ln != nil {
		_ = w.ln.Close()
	}
}

// start serves on the listener bound by listen until ctx ends; chronyd started at started.
func (w *webServer) start(ctx context.Context, started time.Time) error {
	w.started = started
	if w.ln == nil {
		return nil
	}
	prober := proberFor(w.s, w.paths)
	collector := metrics.New(metrics.Options{
		Dial:        metrics.DialSocket(w.paths.Socket(), w.paths.ClientDir()),
		Logger:      w.log.Named("metrics"),
		MinInterval: 250 * time.Millisecond,
		Extended:    true,
		Ready:       prober.ReadyOn,
		SourceNames: true,
		Clients:     w.s.ServesNTP() && !w.s.NoClientLog,
	})
	sup := metrics.NewContainerCollector(w.facts, metrics.BuildInfo{
		Version: version, Revision: revision, GoVersion: runtime.Version(),
	})
	cs := []prometheus.Collector{collector, sup, metrics.NewNTSCollector(w.ntsFacts)}
	if w.s.MetricsGoProcess {
		cs = append(cs, metrics.GoProcessCollectors()...)
	}
	reg, err := metrics.NewRegistry(cs...)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	srv := httpapi.New(w.s.HTTPAddr, httpapi.Deps{
		Live: prober.Live, Ready: prober.Ready, Metrics: reg, Logger: w.log.Named("http"),
	})
	ln := w.ln
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

func (w *webServer) facts() metrics.ContainerFacts {
	return metrics.ContainerFacts{
		ClockControl:       w.plan.ClockControl,
		ClockControlReason: w.plan.ClockCode,
		StartTime:          w.started,
	}
}

func (w *webServer) ntsFacts() metrics.NTSFacts {
	n := w.nts.Snapshot()
	return metrics.NTSFacts{
		CertNotAfter: n.CertNotAfter, Restarts: n.Restarts, RenewalsRejected: n.RenewalsRejected,
		KeyReloads: n.KeyReloads, KeyReloadErrors: n.KeyReloadErrors, KeysShared: w.s.NTSKeysFrom != "",
	}
}

// proberFor asks the chronyd whose files paths lays out, with s's thresholds, binding client
// sockets in RUN_DIR.
func proberFor(s *config.Settings, paths rundir.Layout) health.Prober {
	return health.Prober{
		Socket:    paths.Socket(),
		ClientDir: paths.ClientDir(),
		// Ready also checks that chronyd holds the ports it must serve, as launch.Execute wrote
		// them at start-up.
		ServingFile: paths.ServingFile(),
		PIDFile:     paths.PIDFile(),
		Thresholds: health.Thresholds{
			MaxDistance: s.ReadyMaxDistance,
			AllowLocal:  s.ReadyAllowLocal,
		},
	}
}
