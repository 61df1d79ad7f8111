package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/refclock"
)

// checkTimeout bounds `chronyd -p`.
const checkTimeout = 10 * time.Second

// Facts are what only I/O can tell about this start, read (and nothing written) by Gather
// before Decide makes the Plan: what the container gave this process, the reference clocks found,
// what is at CHRONY_CONF, and what chronyd makes of the file the plan will write.
type Facts struct {
	// Container is what the container gave this process, with the refclock devices.
	Container preflight.Facts
	// Refclocks are the settings' reference clocks with REFCLOCK resolved: auto becomes the
	// cloud clock found (left as set when a file is mounted: it has its own).
	Refclocks []config.Refclock
	// Mounted: a file is mounted at CHRONY_CONF. ConfErr says why CHRONY_CONF is unusable
	// (a directory, or a stat error other than "not there").
	Mounted bool
	ConfErr error
	// Effective is what `chronyd -p` makes of the file the plan writes (with the drop-ins),
	// asked as the chrony user; EffectiveErr is its failure. Neither is set when the decision
	// fails before it needs them.
	Effective    chronyconf.Effective
	EffectiveErr error
}

// Gather reads the Facts Decide needs for s. Only a failure to read this process's own
// capabilities, or a REFCLOCK or TIME_SOURCE that the clocks found cannot serve, is an error
// here; every other problem is Decide's to report, in the order a start meets them.
func Gather(ctx context.Context, s *config.Settings, log *zap.Logger) (Facts, error) {
	var f Facts
	var err error
	f.Container, err = preflight.Inspect(s.ChronyUser)
	if err != nil {
		return f, fmt.Errorf("preflight: %w", err)
	}
	var absent bool
	f.Mounted, absent, f.ConfErr = statConf(s)
	f.Refclocks = slices.Clone(s.Refclocks)
	if absent {
		if f.Refclocks, err = resolveRefclock(s, log); err != nil {
			return f, err
		}
	}
	rs := *s
	rs.Refclocks = f.Refclocks
	f.Container.Devices = preflight.InspectDevices(&rs)
	d, err := draftOf(s, f)
	if err != nil {
		return f, nil // Decide says so
	}
	// What chronyd will make of the file decides the ports, the capabilities and readiness,
	// whatever the mode: drop-ins and a mounted file may set port, allow or ntsport. Asked
	// through a pipe, so root writes nothing; as the chrony user, who will read the files.
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	f.Effective, f.EffectiveErr = chronyconf.Inspect(cctx, s.Chronyd, d.conf, d.paths.RenderedConf(), checkCredential(f.Container))
	cancel()
	return f, nil
}

// statConf says what is at CHRONY_CONF: a file (mounted), nothing (absent: the file is
// rendered), or something unusable (err).
func statConf(s *config.Settings) (mounted, absent bool, err error) {
	fi, err := os.Stat(s.ChronyConf)
	switch {
	case err == nil && fi.IsDir():
		return false, false, fmt.Errorf("CHRONY_CONF=%s is a directory: mount a file there, or mount drop-in files in CHRONY_CONF_DIR=%s", s.ChronyConf, s.ChronyConfDir)
	case err == nil:
		return true, false, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, true, nil
	default:
		return false, false, fmt.Errorf("inspect CHRONY_CONF=%s: %w", s.ChronyConf, err)
	}
}

// resolveRefclock is s's reference clocks with REFCLOCK resolved (refclock.Resolve on a copy,
// s is left alone); what was found and chosen is said in one line.
func resolveRefclock(s *config.Settings, log *zap.Logger) ([]config.Refclock, error) {
	rs := *s
	rs.Refclocks = slices.Clone(s.Refclocks)
	out, err := refclock.Resolve(&rs)
	if err != nil {
		return nil, err
	}
	lvl := zapcore.InfoLevel
	if out.Warn {
		lvl = zapcore.WarnLevel
	}
	log.Log(lvl, out.Message, zap.Strings("ptp_clocks", out.Found), zap.String("refclock", out.Chosen))
	return rs.Refclocks, nil
}

// checkCredential runs `chronyd -p` as the chrony user in a root start; otherwise this
// process already is that user.
func checkCredential(f preflight.Facts) *syscall.Credential {
	if f.UID != 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(f.UserUID), Gid: uint32(f.UserGID), Groups: []uint32{}}
}
