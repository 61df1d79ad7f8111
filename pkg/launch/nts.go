package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"kernel.org/pub/linux/libs/security/libcap/cap"

	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/ntswatch"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/rundir"
)

// defaultKeysInterval is how often NTS_KEYS_FROM is read when NTS_WATCH_INTERVAL=off.
const defaultKeysInterval = 10 * time.Second

// ntsFlow is the NTS server's part of a run: the certificate watch that restarts chronyd with
// a renewed pair, and the copy and reload of the generating server's cookie keys. Both start
// with chronyd (as its user, holding no effective capability) and stop with Run.
type ntsFlow struct {
	s      *config.Settings
	paths  rundir.Layout
	plan   preflight.Plan
	log    *zap.Logger
	status *ntswatch.Status

	// restart is the supervisor's restart request; nil when chronyd is never restarted.
	restart chan struct{}
	started bool // chronyd started once (OnStart runs again at each restart)

	mu          sync.Mutex
	requestedAt time.Time

	cancel context.CancelFunc
	certs  *ntswatch.CertWatcher
	keys   *ntswatch.KeySync
}

func newNTSFlow(s *config.Settings, paths rundir.Layout, plan preflight.Plan, log *zap.Logger, status *ntswatch.Status) *ntsFlow {
	if status == nil {
		status = &ntswatch.Status{}
	}
	f := &ntsFlow{s: s, paths: paths, plan: plan, log: log, status: status}
	if s.ServesNTS() && s.NTSWatchInterval > 0 {
		f.restart = make(chan struct{}, 1)
	}
	return f
}

// restartArgs is chronyd's argv at a restart: -r reloads the measurement history the stopped
// chronyd wrote to its dumpdir (chronyconf.Render sets one when restarts are on), so the new
// one is synchronised at once rather than after several polls of its sources. Only at a
// restart: at a container's start the files would be stale, and the dumpdir (in RUN_DIR, a
// tmpfs) is empty anyway.
func (f *ntsFlow) restartArgs(args []string) []string {
	if f.restart == nil {
		return nil
	}
	return append(slices.Clip(args), "-r")
}

// dropCapabilities gives up what this process holds once chronyd runs. When chronyd may be
// restarted, the capabilities it was started with stay permitted and inheritable (not
// effective): exec can then raise them again as the new chronyd's ambient set, and this
// process itself can use none without first raising it.
func (f *ntsFlow) dropCapabilities() error {
	if f.restart == nil || f.plan.Keep == 0 {
		return preflight.ClearCapabilities()
	}
	if err := cap.ResetAmbient(); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	set := cap.NewSet()
	for _, flag := range []cap.Flag{cap.Permitted, cap.Inheritable} {
		if err := set.SetFlag(flag, true, f.plan.Keep.Values()...); err != nil {
			return fmt.Errorf("keep %s for chronyd's restarts: %w", f.plan.Keep, err)
		}
	}
	if err := set.SetProc(); err != nil {
		return fmt.Errorf("keep %s for chronyd's restarts: %w", f.plan.Keep, err)
	}
	f.log.Info("keeping chronyd's capabilities permitted (not effective) to restart it with a renewed NTS certificate; NTS_WATCH_INTERVAL=off gives them up",
		zap.String("kept", f.plan.Keep.String()))
	return nil
}

// start begins the watches under ctx.
func (f *ntsFlow) start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(ctx)
	if f.restart != nil {
		f.certs = ntswatch.WatchCert(ctx, ntswatch.CertOptions{
			Cert: f.s.NTSServerCert, Key: f.s.NTSServerKey, Interval: f.s.NTSWatchInterval,
			Restart: f.requestRestart, Status: f.status, Logger: f.log.Named("nts"),
		})
	} else if f.s.ServesNTS() {
		if p, err := ntswatch.LoadPair(f.s.NTSServerCert, f.s.NTSServerKey); err == nil {
			f.status.SetCertNotAfter(p.NotAfter)
			f.log.Info("NTS certificate served; NTS_WATCH_INTERVAL=off: a renewal is loaded at the next restart",
				zap.String("subject", p.Subject), zap.Time("not_after", p.NotAfter))
		}
	}
	if f.s.NTSKeysFrom != "" {
		every := f.s.NTSWatchInterval
		if every <= 0 {
			every = defaultKeysInterval
		}
		f.keys = ntswatch.SyncKeys(ctx, ntswatch.KeyOptions{
			From: f.s.NTSKeysFrom, StateDir: f.paths.NTSDumpDir(), Interval: every,
			Rekey: ntswatch.Rekeyer(f.paths.Socket(), f.paths.ClientDir()), Status: f.status, Logger: f.log.Named("nts"),
		})
	}
}

// requestRestart asks the supervisor for a restart; one already pending is the same restart.
func (f *ntsFlow) requestRestart() {
	f.mu.Lock()
	f.requestedAt = time.Now()
	f.mu.Unlock()
	select {
	case f.restart <- struct{}{}:
	default:
	}
}

// restarted counts a restart and logs how long chronyd was away.
func (f *ntsFlow) restarted(pid int) {
	f.status.Restarted()
	f.mu.Lock()
	took := time.Since(f.requestedAt)
	f.mu.Unlock()
	f.log.Info("chronyd restarted with the renewed NTS certificate", zap.Int("pid", pid),
		zap.Duration("stop_and_start", took))
}

// stop ends the watches and waits for them.
func (f *ntsFlow) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	if f.certs != nil {
		f.certs.Wait()
	}
	if f.keys != nil {
		f.keys.Wait()
	}
}

// removeStale removes the pidfile and socket a chronyd stopped for a restart may have left
// (after SIGKILL): a pidfile naming a live pid would stop the new one. This process is
// chronyd's user, in chronyd's own 0750 directory; Remove unlinks the name, follows nothing.
func removeStale(paths rundir.Layout) error {
	for _, p := range []string{paths.PIDFile(), paths.Socket()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s before restarting chronyd: %w", p, err)
		}
	}
	return nil
}
