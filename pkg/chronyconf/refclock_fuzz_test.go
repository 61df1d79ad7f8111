package chronyconf_test

import (
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/config/configtest"
	"github.com/chris-short/chrony/pkg/rundir"
)

// FuzzRefclock checks REFCLOCK and TIME_SOURCE the way FuzzEnvironment checks the others:
// whatever the values, Load rejects them or Render writes only the lines the settings ask
// for, the refclock line among them, each a single line of allow-listed words.
func FuzzRefclock(f *testing.F) {
	for _, c := range configtest.Cases {
		var refclock, source, servers string
		for _, kv := range c.Env {
			name, v, _ := strings.Cut(kv, "=")
			switch name {
			case "REFCLOCK":
				refclock = v
			case "TIME_SOURCE":
				source = v
			case "NTP_SERVERS":
				servers = v
			}
		}
		if refclock != "" || source != "" {
			f.Add(refclock, source, servers, false)
			f.Add(refclock, source, servers, true)
		}
	}
	f.Add("/dev/ptp0 poll 0\nallow all", "", "", false)
	f.Add("SOCK /run/x.sock refid GPS lock PPS", "aws", "time.google.com", false)
	f.Fuzz(func(t *testing.T, refclock, source, servers string, clock bool) {
		env := []string{"REFCLOCK=" + refclock}
		if source != "" {
			env = append(env, "TIME_SOURCE="+source)
		}
		if servers != "" {
			env = append(env, "NTP_SERVERS="+servers)
		}
		s, err := config.Load(env)
		if err != nil {
			return
		}
		out := string(chronyconf.Render(s, rundir.New(s.RunDir, s.StateDir), clock))
		checkRendered(t, s, out, clock)
		for _, r := range s.Refclocks {
			if strings.Count(out, "\n"+r.Line()+"\n") != 1 {
				t.Fatalf("refclock line %q not written once:\n%s", r.Line(), out)
			}
		}
	})
}
