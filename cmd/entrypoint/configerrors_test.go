package main

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testbin"
)

// TestRunConfigErrorsFollowLogFormat: `run` with an invalid environment writes the
// container's log, so in json mode (the default) every problem is one JSON object naming the
// variable; console mode keeps the plain list.
func TestRunConfigErrorsFollowLogFormat(t *testing.T) {
	bad := []string{"NTP_PORT=70000", "LOCAL_STRATUM=-1", "ALLOW=10.0.0.0/33"}
	tests := []struct {
		name      string
		env       []string
		wantVars  []string // json: the variables named, one object each
		wantPlain string   // console: a prefix of stderr
	}{
		{name: "default is json", env: bad, wantVars: []string{"ALLOW", "LOCAL_STRATUM", "NTP_PORT"}},
		{name: "json", env: append([]string{"LOG_FORMAT=json"}, bad...), wantVars: []string{"ALLOW", "LOCAL_STRATUM", "NTP_PORT"}},
		{name: "invalid LOG_FORMAT is json", env: []string{"LOG_FORMAT=xml", "NTP_PORT=0"}, wantVars: []string{"LOG_FORMAT", "NTP_PORT"}},
		{name: "console", env: append([]string{"LOG_FORMAT=console"}, bad...), wantPlain: "invalid environment:\nALLOW="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := entrypointtest.Run(t, bin, tt.env)
			if r.Code != exitFailure || r.Stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing", r.Code, r.Stdout)
			}
			if tt.wantPlain != "" {
				if !strings.HasPrefix(r.Stderr, tt.wantPlain) {
					t.Errorf("stderr %q, want it to start %q", r.Stderr, tt.wantPlain)
				}
				return
			}
			var vars []string
			for _, line := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
				var e struct{ Level, Msg, Variable, Value string }
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				if e.Level != "error" || !strings.HasPrefix(e.Msg, "invalid environment: "+e.Variable+"=") {
					t.Errorf("entry %q: want an error naming its variable", line)
				}
				vars = append(vars, e.Variable)
			}
			sort.Strings(vars)
			if strings.Join(vars, ",") != strings.Join(tt.wantVars, ",") {
				t.Errorf("entries name %v, want one each for %v:\n%s", vars, tt.wantVars, r.Stderr)
			}
		})
	}
}

// TestConfigFailsWhereRunFails: `config` is a dry run of `run`. For each environment a start
// stops on before it carries its plan out, `config` and `run` exit 1 with the same error
// (`run` logs it as JSON, `config` prints it), and `config` writes nothing.
func TestConfigFailsWhereRunFails(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	// A root start without CAP_SYS_TIME, as `docker run` gives it by default.
	noSysTime := []string{"setpriv", "--bounding-set=-all,+setuid,+setgid"}
	tests := []struct {
		name    string
		set     []string // NAME=value for the container's environment
		unset   []string
		mount   string // a chrony.conf mounted at CHRONY_CONF
		clockOn bool   // CLOCK_CONTROL=on, with capreport as chronyd: nothing can set the clock
		wrap    []string
		want    string // in the error
	}{
		{name: "bad variable", set: []string{"NTP_PORT=70000", "ALLOW=10.0.0.0/33"}, want: `NTP_PORT="70000": out of range`},
		{name: "mounted conf and a rendering variable", mount: "server 127.0.0.1 iburst\n", want: "is mounted, so"},
		{name: "mounted conf chronyd -p rejects", mount: "no_such_directive 1\n", unset: []string{"NTP_SERVERS", "NTP_PORT", "ALLOW"},
			want: "Invalid directive"}, // 4.9 adds the directive's name before "at line 1"
		{name: "CLOCK_CONTROL=on without CAP_SYS_TIME", clockOn: true, wrap: noSysTime,
			want: "CLOCK_CONTROL=on but the container was not given CAP_SYS_TIME"},
		{name: "REFCLOCK device not in the container", set: []string{"REFCLOCK=/dev/ptp-not-here"}, want: "REFCLOCK device /dev/ptp-not-here is not in the container"},
		{name: "TIME_SOURCE=azure without its clock", set: []string{"TIME_SOURCE=azure"}, want: "TIME_SOURCE=azure: Azure's time is the host's"},
		{name: "unknown CHRONY_USER", set: []string{"CHRONY_USER=no-such-user"}, want: `CHRONY_USER="no-such-user"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, "127.0.0.1 port 1 iburst")
			c.Set(t, tt.set...)
			c.Unset(t, tt.unset...)
			if tt.mount != "" {
				entrypointtest.Must(t, os.WriteFile(c.Conf, []byte(tt.mount), 0o644))
			}
			env := c.Env
			if tt.clockOn {
				c.Set(t, "CHRONYD="+capreport)
				env = slices.Clone(c.Env)
				env[slices.Index(env, "CLOCK_CONTROL=off")] = "CLOCK_CONTROL=on"
			}
			entrypoint := func(command string) entrypointtest.Result {
				if tt.wrap == nil {
					return entrypointtest.Run(t, bin, env, command)
				}
				return entrypointtest.Run(t, tt.wrap[0], env, append(slices.Clone(tt.wrap[1:]), bin, command)...)
			}

			cfg := entrypoint("config")
			cfgErr := strings.TrimPrefix(strings.TrimSpace(cfg.Stderr), "invalid environment:\n")
			if cfg.Code != exitFailure || cfg.Stdout != "" || !strings.Contains(cfgErr, tt.want) {
				t.Fatalf("config: exit %d, stdout %q, stderr:\n%s\nwant exit 1, no output and an error with %q", cfg.Code, cfg.Stdout, cfg.Stderr, tt.want)
			}
			if left, _ := os.ReadDir(c.Run); len(left) > 0 {
				t.Errorf("config wrote in RUN_DIR: %v", left)
			}

			run := entrypoint("run")
			lines, err := entrypointtest.ParseLogs(run.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			var runErr []string
			for _, l := range entrypointtest.Errors(lines) {
				if l.Msg == "chronyd not started" {
					runErr = append(runErr, l.Error)
				} else if v, ok := strings.CutPrefix(l.Msg, "invalid environment: "); ok {
					runErr = append(runErr, v)
				} else {
					t.Errorf("run: unexpected error entry %s", l.Raw)
				}
			}
			if run.Code != exitFailure {
				t.Errorf("run: exit %d, want 1\n%s", run.Code, run.Stderr)
			}
			if got := strings.Join(runErr, "\n"); got != cfgErr {
				t.Errorf("run stopped on\n%s\nconfig on\n%s\nwant the same error", got, cfgErr)
			}
		})
	}
}
