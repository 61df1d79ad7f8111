package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/rundir"
)

// defaultProbeTimeout is how long a probe waits for chronyd unless --timeout says otherwise.
const defaultProbeTimeout = 3 * time.Second

// probeCommand answers Docker HEALTHCHECKs and Kubernetes exec probes: one line saying why,
// exit 0 (live/ready), 1 (not), 2 (could not ask at all).
func probeCommand(environ []string) *cli.Command {
	timeout := &cli.DurationFlag{
		Name:  "timeout",
		Usage: "give up asking chronyd after this long (exit 2); 0 means the default",
		Value: defaultProbeTimeout,
		Action: func(_ *cli.Context, d time.Duration) error {
			if d < 0 {
				return cli.Exit(fmt.Sprintf("probe: --timeout=%v: want a positive duration (0 means the default, %v)", d, defaultProbeTimeout), exitUsage)
			}
			return nil
		},
	}
	sub := func(name, usage string, ask func(health.Prober, *cli.Context) health.Result) *cli.Command {
		return &cli.Command{
			Name:  name,
			Usage: usage,
			Flags: []cli.Flag{timeout},
			Action: func(c *cli.Context) error {
				s, err := loadSettings(environ)
				if err != nil {
					return cli.Exit(err.Error(), exitCantAsk)
				}
				// A probe run as root (HEALTHCHECK of a --user 0 container) must become the
				// chrony user to enter chronyd's 0750 socket directory.
				if err := preflight.DropToUser(s.ChronyUser); err != nil {
					return cli.Exit(fmt.Sprintf("%s: cannot ask chronyd: %v", name, err), exitCantAsk)
				}
				p := proberFor(s, rundir.New(s.RunDir, s.StateDir))
				p.Timeout = c.Duration("timeout")
				if p.Timeout == 0 {
					p.Timeout = defaultProbeTimeout
				}
				res := ask(p, c)
				switch {
				case res.Err != nil:
					// The reason is only the error: say here, once, that chronyd could not be asked.
					return cli.Exit(fmt.Sprintf("%s: cannot ask chronyd: %s", name, res.Reason), exitCantAsk)
				case !res.OK:
					fmt.Fprintf(c.App.Writer, "not %s: %s\n", name, res.Reason)
					return cli.Exit("", exitNotReady)
				default:
					fmt.Fprintf(c.App.Writer, "%s: %s\n", name, res.Reason)
					return nil
				}
			},
		}
	}
	return &cli.Command{
		Name:  "probe",
		Usage: "ask chronyd whether it is live or ready (for HEALTHCHECK and Kubernetes exec probes)",
		Description: "Exit 0: live/ready; 1: not; 2: could not ask chronyd at all.\n" +
			"Needs no capability, no DNS, and no writable path other than RUN_DIR.",
		Subcommands: []*cli.Command{
			sub("live", "exit 0 when chronyd answers a tracking request",
				func(p health.Prober, c *cli.Context) health.Result { return p.Live(c.Context) }),
			sub("ready", "exit 0 when chronyd serves synchronised time from a reachable source",
				func(p health.Prober, c *cli.Context) health.Result { return p.Ready(c.Context) }),
		},
	}
}
