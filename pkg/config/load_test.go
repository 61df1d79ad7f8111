package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/config/configtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// result is what a golden file holds for one environment: the joined errors; for the defaults
// every setting; for any other valid environment only the settings that differ from the
// defaults, so each golden file shows what its case is about (a field that changes where it
// should not shows up too).
func result(t *testing.T, env []string) string {
	t.Helper()
	s, err := config.Load(env)
	if err != nil {
		if s != nil {
			t.Errorf("Load returned settings together with an error")
		}
		return "error:\n" + err.Error() + "\n"
	}
	if env == nil {
		return "settings:\n" + indent(t, s) + "\n"
	}
	defaults, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	return "settings, the defaults except:\n" + diffFields(t, defaults, s)
}

// diffFields lists, in Settings' field order, each field whose JSON differs between a and b,
// with b's value ("unset" when b omits it).
func diffFields(t *testing.T, a, b *config.Settings) string {
	t.Helper()
	am, bm := fields(t, a), fields(t, b)
	var out strings.Builder
	typ := reflect.TypeOf(*a)
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		av, aok := am[name]
		bv, bok := bm[name]
		if aok == bok && bytes.Equal(av, bv) {
			continue
		}
		if !bok {
			fmt.Fprintf(&out, "%s: unset\n", name)
			continue
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, bv, "", "  "); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s: %s\n", name, buf.String())
	}
	return out.String()
}

func fields(t *testing.T, s *config.Settings) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func indent(t *testing.T, s *config.Settings) string {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoad(t *testing.T) {
	if len(configtest.Cases) < 40 {
		t.Fatalf("only %d cases; the table is meant to hold at least 40", len(configtest.Cases))
	}
	names := map[string]bool{}
	for _, c := range configtest.Cases {
		if names[c.Name] {
			t.Fatalf("case %s appears twice", c.Name)
		}
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			got := result(t, c.Env)
			golden.Compare(t, *update, filepath.Join("testdata", "load", c.Name+".golden"), got)
			// Every error line names a variable, so the user knows what to fix.
			if body, ok := strings.CutPrefix(got, "error:\n"); ok {
				for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
					if !configtest.NamesVariable(line) {
						t.Errorf("error line names no variable: %q", line)
					}
				}
			}
		})
	}
}

// TestLoadKubernetesPodIsQuiet makes sure the variables every Kubernetes pod carries never look
// like typos of ours, whatever the Services in the namespace are called.
func TestLoadKubernetesPodIsQuiet(t *testing.T) {
	env := append([]string(nil), configtest.KubePod...)
	for _, svc := range []string{"NTP", "NTP_SERVERS", "CHRONYD", "ALLOW", "LOCAL", "STATE", "HTTP", "RUN"} {
		env = append(env, svc+"_SERVICE_HOST=10.96.0.9", svc+"_SERVICE_PORT=123", svc+"_SERVICE_PORT_NTP=123",
			svc+"_PORT_123_UDP=udp://10.96.0.9:123", svc+"_PORT_123_UDP_PROTO=udp",
			svc+"_PORT_123_UDP_PORT=123", svc+"_PORT_123_UDP_ADDR=10.96.0.9")
		if svc != "NTP" {
			env = append(env, svc+"_PORT=udp://10.96.0.9:123")
		}
	}
	if _, err := config.Load(env); err != nil {
		t.Fatalf("a plain pod environment was rejected:\n%v", err)
	}
}

func TestLoadEnvironForms(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string // NTP_SERVERS host of the first server, or "" for none
	}{
		{"a repeated variable of others is no concern", []string{"PATH=/bin", "PATH=/usr/bin", "NTP_SERVERS=b.example"}, "b.example"},
		{"entries without = are ignored", []string{"garbage", "=x", "NTP_SERVERS=c.example"}, "c.example"},
		{"value may contain =", []string{"HTTP_ADDR=:80", "NTP_SERVERS=d.example"}, "d.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := config.Load(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Servers) == 0 || s.Servers[0].Host != tt.want {
				t.Fatalf("servers = %+v, want first host %s", s.Servers, tt.want)
			}
		})
	}
}

func TestVarErrorUnwraps(t *testing.T) {
	_, err := config.Load([]string{"NTP_PORT=x", "LOG_FORMAT=y"})
	var ve *config.VarError
	if !errors.As(err, &ve) || ve.Name != "NTP_PORT" || ve.Value != "x" {
		t.Fatalf("errors.As gave %+v from %v", ve, err)
	}
}

func TestVariablesDocumentedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range config.Variables {
		if seen[v.Name] || v.Description == "" {
			t.Errorf("%s: duplicate or undocumented", v.Name)
		}
		seen[v.Name] = true
	}
	// Every variable Load reads is in Variables: setting each one to a hostile value must
	// produce an error that names it.
	for _, v := range config.Variables {
		_, err := config.Load([]string{v.Name + "=x\ny"})
		if err == nil || !strings.Contains(err.Error(), v.Name+"=") {
			t.Errorf("%s is documented but Load does not read it: %v", v.Name, err)
		}
	}
}

func TestMountedConflict(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, ""},
		{[]string{"LOG_LEVEL=debug", "CHRONY_CONF=/c/chrony.conf"}, ""},
		{[]string{"ALLOW=none"}, "CHRONY_CONF /etc/chrony/chrony.conf is mounted, so ALLOW would be ignored: unset it, or remove the mounted file to render one from the environment"},
		{[]string{"ALLOW=all", "NTP_SERVERS=a.example"}, "CHRONY_CONF /etc/chrony/chrony.conf is mounted, so NTP_SERVERS and ALLOW would be ignored: unset them, or remove the mounted file to render one from the environment"},
		{[]string{"NTS_SERVER_KEY=/k", "NTS_SERVER_CERT=/c", "NTP_PORT=1", "NOCLIENTLOG=0"}, "CHRONY_CONF /etc/chrony/chrony.conf is mounted, so NOCLIENTLOG, NTP_PORT, NTS_SERVER_CERT and NTS_SERVER_KEY would be ignored: unset them, or remove the mounted file to render one from the environment"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, ","), func(t *testing.T) {
			s, err := config.Load(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := s.MountedConflict(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestChronydFamilyArgs(t *testing.T) {
	tests := []struct {
		env    []string
		noIPv6 bool
		want   string
	}{
		{nil, false, ""},
		{nil, true, "-4"},
		{[]string{"IP_FAMILY=auto"}, true, "-4"},
		{[]string{"IP_FAMILY=4"}, false, "-4"},
		{[]string{"IP_FAMILY=6"}, false, "-6"},
		{[]string{"IP_FAMILY=6"}, true, "-6"},
		{[]string{"IP_FAMILY=dual"}, true, ""},
	}
	for _, tt := range tests {
		s, err := config.Load(tt.env)
		if err != nil {
			t.Fatal(err)
		}
		s.NoIPv6 = tt.noIPv6
		if got := strings.Join(s.ChronydFamilyArgs(), " "); got != tt.want {
			t.Errorf("%v, NoIPv6=%v: %q, want %q", tt.env, tt.noIPv6, got, tt.want)
		}
	}
}

func TestOffFamilySources(t *testing.T) {
	s, err := config.Load([]string{"NTP_SERVERS=192.0.2.1,2001:db8::1,a.example", "NTP_POOLS=::ffff:192.0.2.9,p.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		family config.IPFamily
		noIPv6 bool
		want   string
	}{
		{config.FamilyAuto, false, ""},
		{config.FamilyAuto, true, "2001:db8::1"},
		{config.Family6, false, "192.0.2.1 ::ffff:192.0.2.9"},
		{config.FamilyDual, true, ""},
	} {
		s.IPFamily, s.NoIPv6 = tt.family, tt.noIPv6
		if got := strings.Join(s.OffFamilySources(), " "); got != tt.want {
			t.Errorf("IPFamily=%s NoIPv6=%v: %q, want %q", tt.family, tt.noIPv6, got, tt.want)
		}
	}
}
