package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/chronylog"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/ntswatch"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/refclock"
	"github.com/chris-short/chrony/pkg/supervisor"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// checkTimeout bounds `chronyd -p`.
const checkTimeout = 10 * time.Second

// Hooks let the caller act at points of the sequence.
type Hooks struct {
	// OnStarted runs once chronyd is started and the entrypoint holds no capability any more:
	// the place to start the HTTP server. socket is chronyd's command socket (it appears a
	// moment later). An error stops chronyd and is returned by Run.
	OnStarted func(pid int, socket string) error
	// OnPlan, when set, receives the privilege decision once it is made (before anything
	// starts): the metrics report clock control and why from it.
	OnPlan func(preflight.Plan)
	// ShutdownTimeout is how long chronyd gets to exit after SIGTERM before SIGKILL; zero
	// means supervisor.DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// NTS, when set, receives the NTS server's state (certificate expiry, restarts, key
	// reloads) for the metrics.
	NTS *ntswatch.Status
}

// Run performs the whole sequence and returns chronyd's exit code (128+signal when a signal
// killed it). Every problem found before chronyd starts is returned as err with code 1, and
// chronyd is then never started.
func Run(ctx context.Context, s *config.Settings, log *zap.Logger, hooks Hooks) (int, error) {
	facts, err := preflight.Inspect(s.ChronyUser)
	if err != nil {
		return 1, fmt.Errorf("preflight: %w", err)
	}
	if err := resolveRefclock(s, log); err != nil {
		return 1, err
	}
	facts.Devices = preflight.InspectDevices(s)
	plan, err := preflight.Decide(facts, s)
	if err != nil {
		return 1, fmt.Errorf("preflight: %w", err)
	}
	if plan.RefclockUnusable != nil {
		dropAutoRefclock(s, log, plan.RefclockUnusable)
	}
	conf, mounted, err := confFor(s, plan.ClockControl)
	if err != nil {
		return 1, err
	}
	// What chronyd will make of the file decides the ports, the capabilities and readiness,
	// whatever the mode: drop-ins and a mounted file may set port, allow or ntsport. Asked
	// through a pipe, so root writes nothing; as the chrony user, who will read the files.
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	eff, err := chronyconf.Inspect(cctx, s.Chronyd, conf, s.RenderedConf(), checkCredential(plan))
	cancel()
	if err != nil {
		return 1, err
	}
	if mounted {
		if eff.CmdPort < 0 {
			conf = chronyconf.CloseCmdPort(conf)
		} else if eff.CmdPort > 0 {
			log.Warn("your configuration opens chronyd's UDP command port: chronyd answers monitoring commands on it from localhost (with host networking: the node's loopback), besides its Unix socket; remove the cmdport line (or set cmdport 0) to answer only on the socket",
				zap.Int("cmdport", eff.CmdPort), zap.String("CHRONY_CONF", s.ChronyConf))
		}
	}
	serving := servingFor(s, eff, mounted)
	plan, err = plan.Serve(facts, preflight.Port{Number: serving.NTPPort, Name: "NTP port", From: serving.NTPFrom},
		preflight.Port{Number: serving.NTSKEPort, Name: "NTS-KE port", From: serving.NTSKEFrom})
	if err != nil {
		return 1, fmt.Errorf("preflight: %w", err)
	}
	lvl := zapcore.InfoLevel
	if plan.Warn {
		lvl = zapcore.WarnLevel
	}
	log.Log(lvl, "launch plan: "+plan.Summary,
		zap.Bool("clock_control", plan.ClockControl), zap.String("clock_reason", plan.ClockReason),
		zap.String("chronyd_caps", plan.Keep.String()), zap.String("chronyd_bounding", plan.Bounding.String()),
		zap.String("bind", plan.BindReason), zap.Int("ntp_port", serving.NTPPort), zap.Int("ntske_port", serving.NTSKEPort),
		zap.Bool("mounted_conf", mounted), zap.Bool("drop_from_root", plan.DropFromRoot),
		zap.String("chrony_user", plan.User), zap.Int("uid", plan.UID), zap.Int("gid", plan.GID),
		zap.Ints("groups", plan.Groups), zap.Strings("refclock_devices", plan.DeviceReason))
	if hooks.OnPlan != nil {
		hooks.OnPlan(plan)
	}
	if err := checkPortsFree(serving); err != nil {
		return 1, err
	}
	if err := preflight.Apply(plan); err != nil {
		return 1, fmt.Errorf("drop privileges to %s: %w", plan.User, err)
	}
	// From here on this process is the chrony user: everything below is created, written and
	// read as the user chronyd runs as, so nothing chronyd (or anyone as its user) could have
	// planted in RUN_DIR or STATE_DIR gains anything.
	if err := preflight.PrepareDirs(s, plan.UID, plan.GID); err != nil {
		return 1, err
	}
	// Opened as chronyd's user: what the permission bits could not show (a device cgroup).
	if err := preflight.CheckDevices(s); err != nil {
		if s.RefclockMode != config.RefclockAuto {
			return 1, err
		}
		dropAutoRefclock(s, log, err)
		if conf, _, err = confFor(s, plan.ClockControl); err != nil {
			return 1, err
		}
	}
	if err := preflight.WriteFile("RUN_DIR="+s.RunDir, s.RenderedConf(), conf); err != nil {
		return 1, err
	}
	if err := preflight.WriteFile("RUN_DIR="+s.RunDir, ServingFile(s), serving.Marshal()); err != nil {
		return 1, err
	}
	// After Apply, so the files are read as chronyd will read them: as its user. chronyd
	// itself would only log the failure and serve without NTS.
	if s.NTSServerCert != "" {
		if err := chronyconf.CheckNTSKeyPair(s.NTSServerCert, s.NTSServerKey); err != nil {
			return 1, err
		}
	}
	// chronyd silently ignores a drift file it cannot read (and replaces it at its next clean
	// stop): say so, since the clock then starts without its learnt frequency. A FIFO there
	// would block chronyd before it serves anything: refuse it.
	if warn, err := preflight.CheckDriftFile(s.DriftFile()); err != nil {
		return 1, err
	} else if warn != nil {
		log.Warn("drift file unreadable: chronyd starts without its learnt frequency and replaces the file at its next clean stop",
			zap.String("path", s.DriftFile()), zap.Error(warn))
	}
	// A replica that takes its NTS cookie keys from the generating server starts with them
	// (chronyd loads ntsdumpdir/ntskeys at start). Missing (the generating server not up yet):
	// chronyd starts with keys of its own, replaced at the first copy.
	if s.NTSKeysFrom != "" {
		if _, err := ntswatch.CopyKeys(s.NTSKeysFrom, s.StateDir); err != nil {
			log.Warn("starting without the generating server's NTS cookie keys; they are copied and reloaded once readable", zap.Error(err))
		}
	}
	if err := preflight.SetNoNewPrivs(); err != nil {
		return 1, err
	}
	// Probes killed mid-request (at a probe timeout) leave client socket directories behind.
	if n, err := chrony.SweepClientDirs(s.RunDir); err != nil {
		log.Warn("cannot sweep abandoned client socket directories", zap.Error(err))
	} else if n > 0 {
		log.Info("removed client socket directories of killed probes", zap.String("dir", s.RunDir), zap.Int("count", n))
	}
	args := ChronydArgs(s, plan)
	log.Info("starting chronyd", zap.Strings("argv", args), zap.Bool("mounted_conf", mounted))
	chronydLog := log.Named("chronyd")
	var ambient []uintptr
	for _, v := range plan.Keep.Values() {
		ambient = append(ambient, uintptr(v))
	}
	nts := newNTSFlow(s, plan, log, hooks.NTS)
	defer nts.stop()
	return supervisor.Run(ctx, supervisor.Options{
		Name:            "chronyd",
		Path:            s.Chronyd,
		Args:            args,
		RestartArgs:     nts.restartArgs(args),
		Env:             os.Environ(),
		AmbientCaps:     ambient,
		ShutdownTimeout: hooks.ShutdownTimeout,
		Log:             log,
		Output:          func(line string) { logChronyd(chronydLog, line, serving) },
		Restart:         nts.restart,
		BeforeRestart:   func() error { return removeStale(s) },
		OnStart: func(pid int) error {
			if nts.started {
				nts.restarted(pid)
				return nil
			}
			nts.started = true
			if err := nts.dropCapabilities(); err != nil {
				return err
			}
			log.Info("chronyd started; entrypoint holds no capabilities", zap.Int("pid", pid),
				zap.Int("uid", os.Geteuid()), zap.Int("gid", os.Getegid()))
			nts.start(ctx)
			if hooks.OnStarted != nil {
				return hooks.OnStarted(pid, s.SocketPath())
			}
			return nil
		},
	})
}

// resolveRefclock completes s for REFCLOCK when chrony.conf is rendered (a mounted file has
// its own refclocks): REFCLOCK=auto becomes the cloud clock found, and what was found and
// chosen is said in one line.
func resolveRefclock(s *config.Settings, log *zap.Logger) error {
	if _, err := os.Stat(s.ChronyConf); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	out, err := refclock.Resolve(s)
	if err != nil {
		return err
	}
	lvl := zapcore.InfoLevel
	if out.Warn {
		lvl = zapcore.WarnLevel
	}
	log.Log(lvl, out.Message, zap.Strings("ptp_clocks", out.Found), zap.String("refclock", out.Chosen))
	return nil
}

// dropAutoRefclock serves from the NTP sources alone when chronyd could not open the clock
// REFCLOCK=auto found, and says why and how to fix it.
func dropAutoRefclock(s *config.Settings, log *zap.Logger, why error) {
	var lines []string
	for _, r := range s.Refclocks {
		lines = append(lines, r.Line())
	}
	log.Warn("REFCLOCK=auto: the PTP clock found is unusable: NTP sources only (REFCLOCK=none silences this)",
		zap.Strings("refclock", lines), zap.Error(why))
	s.Refclocks = nil
}

// ServingFile is where Run writes what chronyd must serve (health.Serving), for the probes.
func ServingFile(s *config.Settings) string { return filepath.Join(s.ChronydDir(), "serving.json") }

// checkCredential runs `chronyd -p` as the chrony user in a root start; otherwise this
// process already is that user.
func checkCredential(plan preflight.Plan) *syscall.Credential {
	if !plan.DropFromRoot {
		return nil
	}
	return &syscall.Credential{Uid: uint32(plan.UID), Gid: uint32(plan.GID), Groups: []uint32{}}
}

// servingFor is what chronyd must serve according to its effective configuration, each port
// with what sets it: the variable when the rendered file's value stands, else the files.
func servingFor(s *config.Settings, eff chronyconf.Effective, mounted bool) health.Serving {
	files := fmt.Sprintf("a drop-in in CHRONY_CONF_DIR=%s", s.ChronyConfDir)
	if mounted {
		files = fmt.Sprintf("CHRONY_CONF=%s or a drop-in in CHRONY_CONF_DIR=%s", s.ChronyConf, s.ChronyConfDir)
	}
	v := health.Serving{NTPPort: eff.NTPPort, NTSKEPort: eff.NTSKEPort}
	if v.NTPPort != 0 {
		v.NTPFrom = fmt.Sprintf("the port directive in %s", files)
		if !mounted && v.NTPPort == s.NTPPort {
			v.NTPFrom = fmt.Sprintf("NTP_PORT=%d", s.NTPPort)
		}
	}
	if v.NTSKEPort != 0 {
		v.NTSKEFrom = fmt.Sprintf("the ntsport directive in %s", files)
		if !mounted && v.NTSKEPort == s.NTSPort {
			v.NTSKEFrom = fmt.Sprintf("NTS_PORT=%d", s.NTSPort)
		}
	}
	return v
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

// ChronydArgs is chronyd's argv for plan: foreground, allowed to start unprivileged, as the
// chrony user, with the rendered file, and -x unless it controls the clock. Nothing else: the
// rest belongs in the configuration.
func ChronydArgs(s *config.Settings, plan preflight.Plan) []string {
	args := []string{s.Chronyd, "-d", "-U", "-u", plan.User, "-f", s.RenderedConf()}
	args = append(args, s.ChronydFamilyArgs()...) // IP_FAMILY, or -4 on a host without IPv6
	if !plan.ClockControl {
		args = append(args, "-x")
	}
	return args
}

// confFor is the file chronyd starts with: the mounted CHRONY_CONF included as is (any
// rendering variable set alongside it is an error), else one rendered from the environment.
func confFor(s *config.Settings, clockControl bool) (conf []byte, mounted bool, err error) {
	fi, err := os.Stat(s.ChronyConf)
	switch {
	case err == nil && fi.IsDir():
		return nil, false, fmt.Errorf("CHRONY_CONF=%s is a directory: mount a file there, or mount drop-in files in CHRONY_CONF_DIR=%s", s.ChronyConf, s.ChronyConfDir)
	case err == nil:
		if err := s.MountedConflict(); err != nil {
			return nil, true, err
		}
		return chronyconf.RenderMounted(s), true, nil
	case errors.Is(err, fs.ErrNotExist):
		return chronyconf.Render(s, clockControl), false, nil
	default:
		return nil, false, fmt.Errorf("inspect CHRONY_CONF=%s: %w", s.ChronyConf, err)
	}
}

// EffectiveConfig is the chrony.conf Run would start chronyd with, for `entrypoint config`.
// It needs no capability and no writable directory and starts nothing; a privilege problem
// that would stop Run does not stop it (the file shows what the environment asks for:
// with CLOCK_CONTROL=on, the clock-control variant).
func EffectiveConfig(s *config.Settings) ([]byte, error) {
	if err := resolveRefclock(s, zap.NewNop()); err != nil {
		return nil, err
	}
	clock := s.ClockControl == config.ClockOn
	if s.ClockControl == config.ClockAuto || s.ClockControl == "" {
		if f, err := preflight.Inspect(s.ChronyUser); err == nil {
			if plan, err := preflight.Decide(f, s); err == nil {
				clock = plan.ClockControl
			}
		}
	}
	conf, mounted, err := confFor(s, clock)
	if err == nil && mounted {
		// As Run does: no UDP command port unless the user's own file opens one.
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		if eff, ierr := chronyconf.Inspect(ctx, s.Chronyd, conf, s.RenderedConf(), nil); ierr == nil && eff.CmdPort < 0 {
			conf = chronyconf.CloseCmdPort(conf)
		}
	}
	return conf, err
}

// DropToUser makes a process started as root become the user name (its primary group, no
// supplementary groups), for a probe that must enter chronyd's 0750 socket directory. Leaving
// root with setuid clears every capability, and a probe starts no program, so the plain
// (all-threads) syscalls are enough: preflight.Become's bounding-set narrowing costs a probe
// several milliseconds of cross-thread calls for nothing. Not root: nothing to do.
func DropToUser(name string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("drop to user %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("drop to user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("drop to user %q: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("drop to user %q: clear supplementary groups: %w", name, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("drop to user %q: set group id %d: %w", name, gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("drop to user %q: set user id %d: %w", name, uid, err)
	}
	return nil
}
