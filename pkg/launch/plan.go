package launch

import (
	"fmt"

	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/rundir"
)

// Plan is everything decided about a start, before anything is done: who chronyd runs as and
// with which capabilities, the file it reads, its argv and the ports it must serve. Execute
// carries it out; cmd hands it to whoever else needs it (the metrics) first.
type Plan struct {
	// Settings are the settings the plan was made from, with REFCLOCK resolved (and a clock
	// REFCLOCK=auto found but chronyd cannot open left out).
	Settings *config.Settings `json:"-"`
	// Layout is where the files are, in RUN_DIR and STATE_DIR: whoever writes, renders or dials
	// one takes its path from here.
	Layout rundir.Layout `json:"-"`
	// Privileges are the user, groups and capabilities (preflight's decision, ports included).
	Privileges preflight.Plan
	// Mounted: Conf includes the file mounted at CHRONY_CONF, else it is rendered.
	Mounted bool
	// Conf is the chrony.conf written to ConfPath (Layout.RenderedConf); ConfNoRefclock the one written instead
	// when REFCLOCK=auto's clock turns out unusable once this process is chronyd's user
	// (preflight.CheckDevices); nil when there is no such fallback.
	Conf           []byte `json:",omitempty"`
	ConfNoRefclock []byte `json:",omitempty"`
	ConfPath       string
	// RefclockDropped says why the clock REFCLOCK=auto found (DroppedRefclocks) is left out
	// (Execute warns).
	RefclockDropped  error    `json:"-"`
	DroppedRefclocks []string `json:",omitempty"`
	// CmdPort is the UDP command port a mounted file opens (Execute warns): 0 none.
	CmdPort int `json:",omitempty"`
	// Serving is what chronyd must serve, written to ServingPath (Layout.ServingFile) for the
	// probes.
	Serving     health.Serving
	ServingPath string
	// Argv is chronyd's command line.
	Argv []string
}

// Decide makes the Plan of a start from the settings and the facts Gather read. It does no
// I/O: the same settings and facts give the same plan. An error says what to change.
func Decide(s *config.Settings, f Facts) (Plan, error) {
	d, err := draftOf(s, f)
	if err != nil {
		return Plan{}, err
	}
	if f.EffectiveErr != nil {
		return Plan{}, f.EffectiveErr
	}
	eff := f.Effective
	p := Plan{Settings: d.s, Layout: d.paths, Mounted: f.Mounted, Conf: d.conf, ConfPath: d.paths.RenderedConf(), RefclockDropped: d.dropped, DroppedRefclocks: d.droppedLines, ServingPath: d.paths.ServingFile()}
	if f.Mounted {
		if eff.CmdPort < 0 {
			p.Conf = chronyconf.CloseCmdPort(p.Conf)
		} else if eff.CmdPort > 0 {
			p.CmdPort = eff.CmdPort
		}
	}
	p.Serving = servingFor(s, eff, f.Mounted)
	p.Privileges, err = d.priv.Serve(f.Container,
		preflight.Port{Number: p.Serving.NTPPort, Name: "NTP port", From: p.Serving.NTPFrom},
		preflight.Port{Number: p.Serving.NTSKEPort, Name: "NTS-KE port", From: p.Serving.NTSKEFrom})
	if err != nil {
		return Plan{}, fmt.Errorf("preflight: %w", err)
	}
	if !f.Mounted && d.s.RefclockMode == config.RefclockAuto && len(d.s.Refclocks) > 0 {
		p.ConfNoRefclock = chronyconf.Render(withoutRefclocks(d.s), d.paths, p.Privileges.ClockControl)
	}
	p.Argv = chronydArgs(s, p.ConfPath, p.Privileges)
	return p, nil
}

// draft is the part of a plan that `chronyd -p` is asked about.
type draft struct {
	s            *config.Settings // with the refclocks to render
	paths        rundir.Layout
	priv         preflight.Plan // before the ports are known
	conf         []byte
	dropped      error
	droppedLines []string
}

// draftOf makes the privilege decision and the file chronyd starts with.
func draftOf(s *config.Settings, f Facts) (draft, error) {
	rs := *s
	rs.Refclocks = f.Refclocks
	d := draft{s: &rs, paths: rundir.New(s.RunDir, s.StateDir)}
	var err error
	d.priv, err = preflight.Decide(f.Container, &rs)
	if err != nil {
		return d, fmt.Errorf("preflight: %w", err)
	}
	if d.priv.RefclockUnusable != nil {
		d.dropped, d.droppedLines = d.priv.RefclockUnusable, refclockLines(rs.Refclocks)
		d.s = withoutRefclocks(&rs)
	}
	d.conf, err = confText(d.s, d.paths, d.priv.ClockControl, f.Mounted, f.ConfErr)
	return d, err
}

// confText is the file chronyd starts with: the mounted CHRONY_CONF included as is (any
// rendering variable set alongside it is an error), else one rendered from s; paths are where
// chronyd's files go.
func confText(s *config.Settings, paths rundir.Layout, clockControl, mounted bool, confErr error) ([]byte, error) {
	switch {
	case confErr != nil:
		return nil, confErr
	case mounted:
		if err := s.MountedConflict(); err != nil {
			return nil, err
		}
		return chronyconf.RenderMounted(s, paths), nil
	default:
		return chronyconf.Render(s, paths, clockControl), nil
	}
}

// withoutRefclocks is s serving from the NTP sources alone.
func withoutRefclocks(s *config.Settings) *config.Settings {
	c := *s
	c.Refclocks = nil
	return &c
}

// refclockLines are rs as refclock lines, for a warning.
func refclockLines(rs []config.Refclock) []string {
	var lines []string
	for _, r := range rs {
		lines = append(lines, r.Line())
	}
	return lines
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

// chronydArgs is chronyd's argv for priv: foreground, allowed to start unprivileged, as the
// chrony user, with the file at conf, and -x unless it controls the clock. Nothing else: the
// rest belongs in the configuration.
func chronydArgs(s *config.Settings, conf string, priv preflight.Plan) []string {
	args := []string{s.Chronyd, "-d", "-U", "-u", priv.User, "-f", conf}
	args = append(args, s.ChronydFamilyArgs()...) // IP_FAMILY, or -4 on a host without IPv6
	if !priv.ClockControl {
		args = append(args, "-x")
	}
	return args
}
