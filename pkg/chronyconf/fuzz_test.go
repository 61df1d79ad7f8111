package chronyconf_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/chronysyntax"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/config/configtest"
	"github.com/chris-short/chrony/pkg/rundir"
)

// fuzzVars are the variables FuzzEnvironment varies; bit i of its mask says whether
// fuzzVars[i] is set at all, so unset and empty are both explored.
var fuzzVars = []string{"NTP_SERVERS", "NTP_POOLS", "ALLOW", "LOCAL_STRATUM", "NTP_PORT", "ENABLE_NTS", "NOCLIENTLOG", "NTS_SERVER_CERT", "NTS_SERVER_KEY", "STATE_DIR"}

// directives is every directive Render may write.
var directives = []string{"server", "pool", "driftfile", "makestep", "rtcsync", "local", "allow", "port",
	"ratelimit", "clientloglimit", "noclientlog", "ntsdumpdir", "ntsservercert", "ntsserverkey", "ntsport", "ntsrotate", "dumpdir",
	"confdir", "bindcmdaddress", "pidfile", "cmdport",
	// NTP_DIRECTIVES' allow-list.
	"maxdistance", "maxupdateskew", "maxslewrate", "maxdrift", "minsources", "leapsecmode",
	// REFCLOCK's line, or the clock REFCLOCK=auto found.
	"refclock"}

// FuzzEnvironment checks, for any environment, that Load rejects it or Render writes exactly
// the directives the settings ask for, each value taken from the settings.
func FuzzEnvironment(f *testing.F) {
	for _, c := range configtest.Cases {
		var mask uint16
		vals := make([]string, len(fuzzVars))
		for _, kv := range c.Env {
			name, v, _ := strings.Cut(kv, "=")
			if i := slices.Index(fuzzVars, name); i >= 0 {
				mask |= 1 << i
				vals[i] = v
			}
		}
		f.Add(mask, vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7], vals[8], vals[9], c.Name == "everything-else")
	}
	f.Fuzz(func(t *testing.T, mask uint16, servers, pools, allow, stratum, port, nts, noclientlog, cert, key, state string, clock bool) {
		vals := []string{servers, pools, allow, stratum, port, nts, noclientlog, cert, key, state}
		var env []string
		for i, name := range fuzzVars {
			if mask&(1<<i) != 0 {
				env = append(env, name+"="+vals[i])
			}
		}
		s, err := config.Load(env)
		if err != nil {
			return
		}
		checkRendered(t, s, string(chronyconf.Render(s, rundir.New(s.RunDir, s.StateDir), clock)), clock)
		checkMounted(t, s, string(chronyconf.RenderMounted(s, rundir.New(s.RunDir, s.StateDir))))
	})
}

// FuzzDirectives checks NTP_DIRECTIVES the same way, with the variables it interacts with:
// whatever the value, Load rejects it or Render writes only allow-listed directives, each once.
func FuzzDirectives(f *testing.F) {
	for _, c := range configtest.Cases {
		for _, kv := range c.Env {
			if v, ok := strings.CutPrefix(kv, "NTP_DIRECTIVES="); ok {
				f.Add(v, "", false, false, false)
				f.Add(v, "a.example,b.example iburst", true, false, true)
				f.Add(v, "", false, true, true)
			}
		}
	}
	f.Add("rtcsync\nratelimit burst 2", "", false, false, false)
	f.Add("makestep 1 3,bindcmdaddress /tmp/s", "", false, false, false)
	f.Fuzz(func(t *testing.T, directives, servers string, noclientlog, allowNone, clock bool) {
		env := []string{"NTP_DIRECTIVES=" + directives}
		if servers != "" {
			env = append(env, "NTP_SERVERS="+servers)
		}
		if noclientlog {
			env = append(env, "NOCLIENTLOG=true")
		}
		if allowNone {
			env = append(env, "ALLOW=none")
		}
		s, err := config.Load(env)
		if err != nil {
			return
		}
		checkRendered(t, s, string(chronyconf.Render(s, rundir.New(s.RunDir, s.StateDir), clock)), clock)
	})
}

func checkRendered(t *testing.T, s *config.Settings, out string, clock bool) {
	t.Helper()
	paths := rundir.New(s.RunDir, s.StateDir)
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline:\n%s", out)
	}
	var wantSources []string
	nts := false
	for _, list := range []struct {
		directive string
		srcs      []chronysyntax.Source
	}{{"server", s.Servers}, {"pool", s.Pools}} {
		for _, src := range list.srcs {
			words := append([]string{list.directive, src.Host}, src.Options...)
			if slices.Contains(src.Options, "nts") {
				nts = true
			} else if s.EnableNTS {
				words = append(words, "nts")
				nts = true
			}
			wantSources = append(wantSources, strings.Join(words, " "))
		}
	}
	serving := s.AllowAll || len(s.Allow) > 0
	ntsServer := s.NTSServerCert != ""
	// want lists every non-source line Render may write, for these settings.
	want := map[string]bool{
		"driftfile " + paths.DriftFile(): true, "makestep 1 3": true,
		"bindcmdaddress " + paths.Socket(): true, "pidfile " + paths.PIDFile(): true, "cmdport 0": true,
		"confdir " + s.ChronyConfDir: true,
	}
	must := maps(want)
	if clock {
		want["rtcsync"], must["rtcsync"] = true, true
	} else {
		// chronyd -x leaves leap seconds to whoever controls the clock.
		want["leapsecmode ignore"], must["leapsecmode ignore"] = true, true
	}
	for _, r := range s.Refclocks {
		want[r.Line()], must[r.Line()] = true, true
	}
	if s.LocalStratum > 0 {
		l := "local stratum " + strconv.Itoa(s.LocalStratum)
		want[l], must[l] = true, true
	}
	if serving {
		p := "port " + strconv.Itoa(s.NTPPort)
		want[p], must[p] = true, true
		if s.AllowAll {
			want["allow"], must["allow"] = true, true
		}
		for _, a := range s.Allow {
			want["allow "+a], must["allow "+a] = true, true
		}
		if !s.NoClientLog {
			for _, l := range []string{"ratelimit interval 1 burst 16 leak 2", "clientloglimit 1048576"} {
				want[l], must[l] = true, true
			}
		}
	} else {
		want["port 0"], must["port 0"] = true, true
	}
	if s.NoClientLog {
		want["noclientlog"], must["noclientlog"] = true, true
	}
	// NTP_DIRECTIVES: each replaces the default line of its name, or is added; rtcsync is
	// written exactly when the clock is controlled, as without it.
	for _, d := range s.Directives {
		name, _, _ := strings.Cut(d, " ")
		if name == "rtcsync" {
			continue
		}
		for l := range want {
			if l != d && (l == name || strings.HasPrefix(l, name+" ")) {
				delete(want, l)
				delete(must, l)
			}
		}
		want[d], must[d] = true, true
	}
	if nts || ntsServer {
		l := "ntsdumpdir " + paths.NTSDumpDir()
		want[l], must[l] = true, true
	}
	if ntsServer {
		for _, l := range []string{"ntsservercert " + s.NTSServerCert, "ntsserverkey " + s.NTSServerKey, "ntsport " + strconv.Itoa(s.NTSPort)} {
			want[l], must[l] = true, true
		}
		if s.NTSKeysFrom != "" {
			want["ntsrotate 0"], must["ntsrotate 0"] = true, true
		}
		if s.NTSWatchInterval > 0 {
			l := "dumpdir " + paths.ChronydDir()
			want[l], must[l] = true, true
		}
	}

	var gotSources []string
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		for _, r := range l {
			if r < 0x20 || r > 0x7e {
				t.Fatalf("line %q holds %U", l, r)
			}
		}
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			if strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _,;.()*:'#-") != "" {
				t.Fatalf("comment line %q holds unexpected characters", l)
			}
			continue
		}
		first, _, _ := strings.Cut(l, " ")
		if !slices.Contains(directives, first) {
			t.Fatalf("line %q starts with %q, not a directive Render writes", l, first)
		}
		if first == "server" || first == "pool" {
			gotSources = append(gotSources, l)
			continue
		}
		if !want[l] {
			t.Fatalf("line %q is not one the settings ask for\n%s", l, out)
		}
		if seen[l] {
			t.Fatalf("line %q written twice", l)
		}
		seen[l] = true
	}
	if !slices.Equal(gotSources, wantSources) {
		t.Fatalf("sources\n got %q\nwant %q", gotSources, wantSources)
	}
	for l := range must {
		if !seen[l] {
			t.Fatalf("line %q missing from\n%s", l, out)
		}
	}
}

func checkMounted(t *testing.T, s *config.Settings, out string) {
	t.Helper()
	paths := rundir.New(s.RunDir, s.StateDir)
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	want := []string{"include " + s.ChronyConf, "confdir " + s.ChronyConfDir, "bindcmdaddress " + paths.Socket(), "pidfile " + paths.PIDFile()}
	if !slices.Equal(lines, want) {
		t.Fatalf("RenderMounted wrote %q, want %q", lines, want)
	}
}

func maps(m map[string]bool) map[string]bool {
	c := make(map[string]bool, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
