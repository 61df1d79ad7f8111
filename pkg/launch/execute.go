package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/chronylog"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/ntswatch"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/supervisor"
)

// Options are what Execute needs besides the plan.
type Options struct {
	// Env is chronyd's environment.
	Env []string
	// ShutdownTimeout is how long chronyd gets to exit after SIGTERM before SIGKILL; zero
	// means supervisor.DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// NTS, when set, receives the NTS server's state (certificate expiry, restarts, key
	// reloads) for the metrics.
	NTS *ntswatch.Status
}

// Running is chronyd started by Execute; Wait supervises it to the end.
type Running struct {
	// PID is the chronyd Execute started (a restart with a renewed NTS certificate starts
	// another).
	PID int

	proc *supervisor.Process
	nts  *ntsFlow
}

// Wait supervises chronyd until it exits (a stop: ctx of Execute ended, or a signal to this
// process) and returns its exit code (128+signal when a signal killed it).
func (r *Running) Wait() (int, error) {
	defer r.nts.stop()
	return r.proc.Wait()
}

// Execute carries out plan and returns once chronyd runs and this process holds no
// capability any more: the caller may then serve what needs no privilege, and Wait. Every
// problem found on the way is err, and nothing runs then (a chronyd already started is
// stopped and reaped first).
func Execute(ctx context.Context, plan Plan, log *zap.Logger, o Options) (*Running, error) {
	s, priv, conf := plan.Settings, plan.Privileges, plan.Conf
	if plan.RefclockDropped != nil {
		warnRefclockDropped(log, plan.DroppedRefclocks, plan.RefclockDropped)
	}
	if plan.CmdPort > 0 {
		log.Warn("your configuration opens chronyd's UDP command port: chronyd answers monitoring commands on it from localhost (with host networking: the node's loopback), besides its Unix socket; remove the cmdport line (or set cmdport 0) to answer only on the socket",
			zap.Int("cmdport", plan.CmdPort), zap.String("CHRONY_CONF", s.ChronyConf))
	}
	lvl := zapcore.InfoLevel
	if priv.Warn {
		lvl = zapcore.WarnLevel
	}
	log.Log(lvl, "launch plan: "+priv.Summary,
		zap.Bool("clock_control", priv.ClockControl), zap.String("clock_reason", priv.ClockReason),
		zap.String("chronyd_caps", priv.Keep.String()), zap.String("chronyd_bounding", priv.Bounding.String()),
		zap.String("bind", priv.BindReason), zap.Int("ntp_port", plan.Serving.NTPPort), zap.Int("ntske_port", plan.Serving.NTSKEPort),
		zap.Bool("mounted_conf", plan.Mounted), zap.Bool("drop_from_root", priv.DropFromRoot),
		zap.String("chrony_user", priv.User), zap.Int("uid", priv.UID), zap.Int("gid", priv.GID),
		zap.Ints("groups", priv.Groups), zap.Strings("refclock_devices", priv.DeviceReason))
	if err := checkPortsFree(plan.Serving); err != nil {
		return nil, err
	}
	if err := preflight.Become(priv.UID, priv.GID, priv.Groups, priv.Keep); err != nil {
		return nil, fmt.Errorf("drop privileges to %s: %w", priv.User, err)
	}
	// From here on this process is the chrony user: everything below is created, written and
	// read as the user chronyd runs as, so nothing chronyd (or anyone as its user) could have
	// planted in RUN_DIR or STATE_DIR gains anything.
	if err := preflight.PrepareDirs(plan.Layout, priv.UID, priv.GID); err != nil {
		return nil, err
	}
	// Opened as chronyd's user: what the permission bits could not show (a device cgroup).
	if err := preflight.CheckDevices(s); err != nil {
		if s.RefclockMode != config.RefclockAuto {
			return nil, err
		}
		warnRefclockDropped(log, refclockLines(s.Refclocks), err)
		if plan.ConfNoRefclock != nil {
			conf = plan.ConfNoRefclock
		}
	}
	if err := preflight.WriteFile("RUN_DIR="+s.RunDir, plan.ConfPath, conf); err != nil {
		return nil, err
	}
	if err := preflight.WriteFile("RUN_DIR="+s.RunDir, plan.ServingPath, plan.Serving.Marshal()); err != nil {
		return nil, err
	}
	// After Become, so the files are read as chronyd will read them: as its user. chronyd
	// itself would only log the failure and serve without NTS.
	if s.ServesNTS() {
		if err := preflight.CheckNTSKeyPair(s.NTSServerCert, s.NTSServerKey); err != nil {
			return nil, err
		}
	}
	// chronyd silently ignores a drift file it cannot read (and replaces it at its next clean
	// stop): say so, since the clock then starts without its learnt frequency. A FIFO there
	// would block chronyd before it serves anything: refuse it.
	if warn, err := preflight.CheckDriftFile(plan.Layout.DriftFile()); err != nil {
		return nil, err
	} else if warn != nil {
		log.Warn("drift file unreadable: chronyd starts without its learnt frequency and replaces the file at its next clean stop",
			zap.String("path", plan.Layout.DriftFile()), zap.Error(warn))
	}
	// A replica that takes its NTS cookie keys from the generating server starts with them
	// (chronyd loads ntsdumpdir/ntskeys at start). Missing (the generating server not up yet):
	// chronyd starts with keys of its own, replaced at the first copy.
	if s.NTSKeysFrom != "" {
		if _, err := ntswatch.CopyKeys(s.NTSKeysFrom, plan.Layout.NTSDumpDir()); err != nil {
			log.Warn("starting without the generating server's NTS cookie keys; they are copied and reloaded once readable", zap.Error(err))
		}
	}
	if err := preflight.SetNoNewPrivs(); err != nil {
		return nil, err
	}
	// Probes killed mid-request (at a probe timeout) leave client socket directories behind.
	if n, err := chrony.SweepClientDirs(plan.Layout.ClientDir()); err != nil {
		log.Warn("cannot sweep abandoned client socket directories", zap.Error(err))
	} else if n > 0 {
		log.Info("removed client socket directories of killed probes", zap.String("dir", plan.Layout.ClientDir()), zap.Int("count", n))
	}
	args := plan.Argv
	log.Info("starting chronyd", zap.Strings("argv", args), zap.Bool("mounted_conf", plan.Mounted))
	chronydLog := log.Named("chronyd")
	var ambient []uintptr
	for _, v := range priv.Keep.Values() {
		ambient = append(ambient, uintptr(v))
	}
	nts := newNTSFlow(s, plan.Layout, priv, log, o.NTS)
	var pid0 int
	var dropErr error // the first start's: chronyd is then stopped
	proc, err := supervisor.Start(ctx, supervisor.Options{
		Name:            "chronyd",
		Path:            s.Chronyd,
		Args:            args,
		RestartArgs:     nts.restartArgs(args),
		Env:             o.Env,
		AmbientCaps:     ambient,
		ShutdownTimeout: o.ShutdownTimeout,
		Log:             log,
		Output:          func(line string) { logChronyd(chronydLog, line, plan.Serving) },
		Restart:         nts.restart,
		BeforeRestart:   func() error { return removeStale(plan.Layout) },
		OnStart: func(pid int) error {
			if nts.started {
				nts.restarted(pid)
				return nil
			}
			nts.started, pid0 = true, pid
			if dropErr = nts.dropCapabilities(); dropErr != nil {
				return dropErr
			}
			log.Info("chronyd started; entrypoint holds no capabilities", zap.Int("pid", pid),
				zap.Int("uid", os.Geteuid()), zap.Int("gid", os.Getegid()))
			nts.start(ctx)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	r := &Running{PID: pid0, proc: proc, nts: nts}
	if dropErr != nil {
		_, err := r.Wait() // dropErr, once chronyd has stopped
		return nil, err
	}
	return r, nil
}

// warnRefclockDropped says that chronyd serves from the NTP sources alone because it could
// not open the clock REFCLOCK=auto found, and why.
func warnRefclockDropped(log *zap.Logger, lines []string, why error) {
	log.Warn("REFCLOCK=auto: the PTP clock found is unusable: NTP sources only (REFCLOCK=none silences this)",
		zap.Strings("refclock", lines), zap.Error(why))
}

// socketFailures are chronyd 4.3's messages for a server port it could not open; it then
// runs on without serving that port.
var socketFailures = []string{"Could not open NTP socket", "Could not open NTS-KE socket"}

// logChronyd logs one chronyd line; a server socket chronyd could not open is a warning that
// says which setting chose the port (Ready stays false meanwhile: health.Serving).
func logChronyd(log *zap.Logger, line string, serving health.Serving) {
	e := chronylog.Parse(line)
	for _, f := range socketFailures {
		if strings.HasPrefix(e.Message, f) {
			log.Warn(e.Message+": chronyd runs on without serving this port, and is not ready",
				zap.Int("ntp_port", serving.NTPPort), zap.String("ntp_port_from", serving.NTPFrom),
				zap.Int("ntske_port", serving.NTSKEPort), zap.String("ntske_port_from", serving.NTSKEFrom))
			return
		}
	}
	chronylog.Log(log, line)
}

// checkPortsFree fails when another process already holds the NTP port (or the NTS-KE port)
// that chronyd will serve on. chronyd 4.3 only logs "Could not open NTP socket" and runs
// on as a client, so the container would look healthy while serving nothing: typical with
// hostNetwork on a node whose own chronyd or ntpd still runs. A port this process may not bind
// (below ip_unprivileged_port_start without CAP_NET_BIND_SERVICE) is chronyd's business, not
// a conflict. The port can still be taken between this check and chronyd's bind: Ready then
// says so (health.Serving).
func checkPortsFree(v health.Serving) error {
	if v.NTPPort != 0 {
		pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(v.NTPPort))
		if err == nil {
			pc.Close()
		} else if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s: UDP port %d is already in use in this network namespace (with host networking: stop the node's own NTP server, or choose another port); chronyd would start without serving NTP", v.NTPFrom, v.NTPPort)
		}
	}
	if v.NTSKEPort != 0 {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(v.NTSKEPort))
		if err == nil {
			ln.Close()
		} else if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s: TCP port %d is already in use in this network namespace; chronyd would start without serving NTS-KE", v.NTSKEFrom, v.NTSKEPort)
		}
	}
	return nil
}
