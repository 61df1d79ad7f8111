package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/config"
)

// Exit codes. Probes follow the contract: 1 = not live/ready, 2 = could not ask.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotReady = 1
	exitCantAsk  = 2
)

// runApp builds the command line and runs it; it returns the process exit code so that main
// is the only place that exits and tests can call it directly.
func runApp(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:  "entrypoint",
		Usage: "run chronyd as a supervised, least-privilege NTP client and server",
		Description: "With no command, or with `run`: validate the environment, render chrony.conf\n" +
			"(or use a mounted one), check the container's capabilities and directories, then\n" +
			"launch and supervise chronyd. Configuration comes only from environment variables;\n" +
			"`entrypoint config --help` lists them.",
		Version:        version,
		Writer:         stdout,
		ErrWriter:      stderr,
		HideVersion:    true,
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided below, not by cli
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return cli.Exit(fmt.Sprintf("entrypoint: unknown command %q; see entrypoint --help", c.Args().First()), exitUsage)
			}
			return runCommand(c, environ)
		},
		Commands: []*cli.Command{
			{
				Name:   "run",
				Usage:  "check, render, launch and supervise chronyd (the default)",
				Action: func(c *cli.Context) error { return runCommand(c, environ) },
			},
			{
				Name:        "config",
				Usage:       "print the effective chrony.conf for this environment and exit",
				Description: "Needs no capability and no writable directory. Exits 1 with every\nvalidation error when the environment is invalid.\n\n" + variablesHelp(),
				Action:      func(c *cli.Context) error { return configCommand(c, environ) },
			},
			{
				Name:   "version",
				Usage:  "print the version and exit",
				Action: func(c *cli.Context) error { return versionCommand(c) },
			},
			probeCommand(environ),
		},
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return ec.ExitCode()
	}
	// Anything else is a usage error from cli itself (unknown flag or command).
	fmt.Fprintln(stderr, "entrypoint:", err)
	return exitUsage
}

func versionCommand(c *cli.Context) error {
	fmt.Fprintf(c.App.Writer, "entrypoint %s (revision %s, %s)\n", version, revision, runtime.Version())
	return nil
}

// loadSettings reads and validates the environment; a bad environment is exit 1 with every
// problem listed, one per line.
func loadSettings(environ []string) (*config.Settings, error) {
	s, err := config.Load(environ)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("invalid environment:\n%v", err), exitFailure)
	}
	return s, nil
}

// loadRunSettings is loadSettings for `run`, whose errors are the container's log: with
// LOG_FORMAT=json (the default, and what is assumed when LOG_FORMAT itself is invalid) each
// problem is one JSON object naming the variable, the value and what is wrong with it.
func loadRunSettings(environ []string, stderr io.Writer) (*config.Settings, error) {
	s, err := config.Load(environ)
	if err == nil {
		return s, nil
	}
	format := "json"
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "LOG_FORMAT="); ok && v == "console" {
			format = v
		}
	}
	if format != "json" {
		return nil, cli.Exit(fmt.Sprintf("invalid environment:\n%v", err), exitFailure)
	}
	log, lerr := newLogger("info", format, stderr)
	if lerr != nil {
		return nil, cli.Exit(fmt.Sprintf("invalid environment:\n%v", err), exitFailure)
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ve *config.VarError
		if errors.As(e, &ve) {
			log.Error("invalid environment: "+ve.Error(), zap.String("variable", ve.Name), zap.String("value", ve.Value), zap.NamedError("reason", ve.Err))
		} else {
			log.Error("invalid environment: " + e.Error())
		}
	}
	_ = log.Sync()
	return nil, cli.Exit("", exitFailure)
}
