package launch

import (
	"context"

	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/rundir"
)

// Preview is the chrony.conf a start would write, for `entrypoint config`. It needs no
// capability, no chrony user and no writable directory, and starts nothing: a privilege
// problem that would stop a start does not stop it (the file shows what the environment asks
// for: with CLOCK_CONTROL=on, the clock-control variant). Settings, REFCLOCK and CHRONY_CONF
// problems are the same errors as a start's.
func Preview(ctx context.Context, s *config.Settings) ([]byte, error) {
	mounted, absent, confErr := statConf(s)
	rs := *s
	if absent {
		refclocks, err := resolveRefclock(s, zap.NewNop())
		if err != nil {
			return nil, err
		}
		rs.Refclocks = refclocks
	}
	clock := s.ClockControl == config.ClockOn
	if s.ClockControl == config.ClockAuto || s.ClockControl == "" {
		if f, err := preflight.Inspect(s.ChronyUser); err == nil {
			if p, err := preflight.Decide(f, &rs); err == nil {
				clock = p.ClockControl
			}
		}
	}
	paths := rundir.New(s.RunDir, s.StateDir)
	conf, err := confText(&rs, paths, clock, mounted, confErr)
	if err == nil && mounted {
		// As a start does: no UDP command port unless the user's own file opens one.
		ctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		if eff, ierr := chronyconf.Inspect(ctx, s.Chronyd, conf, paths.RenderedConf(), nil); ierr == nil && eff.CmdPort < 0 {
			conf = chronyconf.CloseCmdPort(conf)
		}
	}
	return conf, err
}
