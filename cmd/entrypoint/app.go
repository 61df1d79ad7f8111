package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/rundir"
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
		OnUsageError: func(_ *cli.Context, err error, isSubcommand bool) error {
			if !isSubcommand {
				// An unknown flag before any command: most likely one of chronyd's.
				return cli.Exit(fmt.Sprintf("entrypoint: %v; %s", err, chronydFlagsHint), exitUsage)
			}
			return err
		},
		Flags: []cli.Flag{&cli.BoolFlag{Name: "version", Usage: "print the versions of the entrypoint and chronyd, and exit"}},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				return versionCommand(c, environ)
			}
			if c.Args().Present() {
				return cli.Exit(unknownCommand(c.Args().First()), exitUsage)
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
				Usage:       "print the chrony.conf `run` would start chronyd with, and exit (a dry run)",
				Description: "A dry run of `run`: decides the start as `run` does (the chrony user, the\ncapabilities, CHRONY_CONF, REFCLOCK, `chronyd -p`) and prints the file, writing and\nstarting nothing. Exits 1 with the error `run` would stop on (every problem when the\nenvironment is invalid).\n\n" + variablesHelp(args),
				Action:      func(c *cli.Context) error { return configCommand(c, environ) },
			},
			{
				Name:   "version",
				Usage:  "print the versions of the entrypoint and chronyd, and exit",
				Action: func(c *cli.Context) error { return versionCommand(c, environ) },
			},
			{
				Name:      "chronyc",
				Usage:     "run chronyc with these arguments in place of the entrypoint (exec)",
				ArgsUsage: "[chronyc options] [command]",
				Description: "`docker run IMAGE chronyc -h HOST tracking` works like chronyc itself. Without -h,\n" +
					"chronyc asks the chronyd of this container (RUN_DIR's command socket) when it runs.",
				SkipFlagParsing: true,
				Action:          func(c *cli.Context) error { return chronycCommand(c.Args().Slice(), environ) },
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

// chronydVersionTimeout bounds `chronyd --version`.
const chronydVersionTimeout = 3 * time.Second

// versionCommand prints the entrypoint's version and the chronyd it runs (CHRONYD), which
// is what a bug report needs; a chronyd that cannot say is reported, not an error.
func versionCommand(c *cli.Context, environ []string) error {
	fmt.Fprintf(c.App.Writer, "entrypoint %s (revision %s, %s)\n", version, revision, runtime.Version())
	chronyd := envOrDefault(environ, "CHRONYD")
	ctx, cancel := context.WithTimeout(c.Context, chronydVersionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chronyd, "--version")
	cmd.Env = environ
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(c.App.Writer, "chronyd: %s --version did not answer within %v\n", chronyd, chronydVersionTimeout)
	case err != nil || line == "":
		fmt.Fprintf(c.App.Writer, "chronyd: cannot run %s --version (CHRONYD): %v\n", chronyd, err)
	default:
		fmt.Fprintf(c.App.Writer, "%s (%s)\n", line, chronyd)
	}
	return nil
}

// envOrDefault is name's value in environ, else its documented default.
func envOrDefault(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], name+"="); ok && v != "" {
			return v
		}
	}
	for _, v := range config.Variables {
		if v.Name == name {
			return v.Default
		}
	}
	return ""
}

// chronycCommand replaces this process with chronyc and args (exec, not a child: its exit code
// and signals are chronyc's own). Without -h, chronyc is pointed at this container's command
// socket when that exists, since chronyc's built-in path is not where chronyd listens here.
func chronycCommand(args, environ []string) error {
	path, err := exec.LookPath("chronyc")
	if err != nil {
		return cli.Exit(fmt.Sprintf("entrypoint chronyc: %v (or run chronyc directly: docker run --entrypoint chronyc IMAGE ...)", err), exitFailure)
	}
	if !slices.Contains(args, "-h") {
		if s, err := config.Load(environ); err == nil {
			sock := rundir.New(s.RunDir, s.StateDir).Socket()
			if _, err := os.Stat(sock); err == nil {
				args = append([]string{"-h", sock}, args...)
			}
		}
	}
	err = syscall.Exec(path, append([]string{"chronyc"}, args...), environ)
	return cli.Exit(fmt.Sprintf("entrypoint chronyc: exec %s: %v (or run chronyc directly: docker run --entrypoint chronyc IMAGE ...)", path, err), exitFailure)
}

// chronydFlagsHint answers chronyd's flags given to the entrypoint.
const chronydFlagsHint = "the entrypoint runs chronyd itself: configure it with environment variables (entrypoint config --help; CLOCK_CONTROL=off is chronyd -x), or mount a chrony.conf"

// unknownCommand explains a first argument that is no command: chronyd's own command line is
// the entrypoint's business (environment variables set what its flags would).
func unknownCommand(arg string) string {
	hint := "see entrypoint --help"
	switch {
	case arg == "chronyd" || strings.HasPrefix(arg, "-"):
		hint = chronydFlagsHint
	case strings.HasPrefix(arg, "chrony"):
		hint = "did you mean `chronyc`? (entrypoint chronyc ARGS, or docker run --entrypoint chronyc IMAGE ARGS)"
	}
	return fmt.Sprintf("entrypoint: unknown command %q; %s", arg, hint)
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
	log := newLogger(zapcore.InfoLevel, false, stderr)
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
