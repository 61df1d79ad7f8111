package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
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
