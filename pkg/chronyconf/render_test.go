package chronyconf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/internal/proctest"
	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/preflight"
	"github.com/chris-short/chrony/pkg/rundir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type renderCase struct {
	name         string
	env          []string
	clockControl bool
	mounted      bool
}

var renderCases = []renderCase{
	{name: "defaults", env: nil},
	{name: "clock-control", env: nil, clockControl: true},
	{name: "client-only", env: []string{"ALLOW=none", "NTP_SERVERS=ntp.example.org iburst"}},
	{name: "servers-and-pools", env: []string{
		"NTP_SERVERS=ntp1.example.org iburst prefer minpoll 4 maxpoll 8,192.0.2.1 xleave presend 9,2001:db8::123 key 7 version 3",
		"NTP_POOLS=0.pool.ntp.org iburst maxdelay 0.3,1.pool.ntp.org offset -0.0005 asymmetry 0.1 filter 3 extfield F323"}},
	{name: "nts", env: []string{"ENABLE_NTS=true", "NTP_SERVERS=time.cloudflare.com iburst,nts.netnod.se nts ntsport 4460 certset 0"}},
	{name: "nts-server", env: []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem", "ALLOW=10.0.0.0/8,2001:db8::/32"}},
	{name: "nts-server-port", env: []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem", "NTS_PORT=14460"}},
	{name: "nts-keys-follower", env: []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem", "NTS_KEYS_FROM=/var/lib/chrony-keys/ntskeys"}},
	{name: "no-local-stratum", env: []string{"LOCAL_STRATUM=off"}},
	{name: "noclientlog", env: []string{"NOCLIENTLOG=yes", "LOCAL_STRATUM=3"}},
	{name: "custom-port", env: []string{"NTP_PORT=1123", "ALLOW=192.168.0.0/16,::1", "STATE_DIR=/data", "RUN_DIR=/tmp/r"}},
	{name: "mounted", env: []string{"CHRONY_CONF=/config/chrony.conf"}, mounted: true},
	// Other images' variables and forms.
	{name: "bare-hosts-iburst", env: []string{"NTP_SERVERS=time.cloudflare.com,ntp.example.org", "NTP_POOLS=0.pool.ntp.org,1.pool.ntp.org maxsources 2"}},
	{name: "bare-hosts-no-iburst", env: []string{"NTP_IBURST=false", "NTP_SERVERS=time.cloudflare.com,time.google.com"}},
	{name: "peer-dockur", env: []string{"NTP_SERVERS=pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync", "ENABLE_SYSCLK=false"}},
	{name: "peer-dockur-clock-control", env: []string{"NTP_SERVERS=pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync", "ENABLE_SYSCLK=true"}, clockControl: true},
	{name: "peer-dockur-noclientlog", env: []string{"NTP_SERVERS=pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync,clientloglimit 100000000", "NOCLIENTLOG=true"}},
	{name: "peer-cturra-nts", env: []string{"NTP_SERVERS=time.cloudflare.com", "ENABLE_NTS=true", "LOG_LEVEL=0"}},
	{name: "directives-all", env: []string{"NTP_DIRECTIVES=ratelimit interval 3 burst 8 leak 2,clientloglimit 100000000,makestep 0.1 3,maxdistance 3,maxupdateskew 100,maxslewrate 83333.333,maxdrift 500000,minsources 2,leapsecmode slew,rtcsync"}, clockControl: true},
	// Reference clocks as REFCLOCK=auto renders each cloud's (the vendors' lines), explicit
	// SOCK and SHM clocks, and the clouds' own NTP services.
	{name: "refclock-aws", env: []string{"REFCLOCK=/dev/ptp_ena poll 0 delay 0.000010 prefer"}},
	{name: "refclock-azure", env: []string{"REFCLOCK=/dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2", "TIME_SOURCE=azure"}},
	{name: "refclock-kvm", env: []string{"REFCLOCK=/dev/ptp0 poll 3 dpoll -2 offset 0"}},
	{name: "refclock-sock", env: []string{"REFCLOCK=SOCK /run/chrony/gps.sock refid GPS poll 2 filter 4 precision 0.000001"}},
	{name: "refclock-shm", env: []string{"REFCLOCK=SHM 0 refid NMEA offset 0.5 delay 0.2 noselect", "ALLOW=none"}},
	{name: "refclock-clock-control", env: []string{"REFCLOCK=/dev/ptp_ena poll 0 delay 0.000010 prefer"}, clockControl: true},
	{name: "time-source-aws", env: []string{"TIME_SOURCE=aws"}},
	{name: "time-source-gcp", env: []string{"TIME_SOURCE=gcp"}},
	{name: "leapsecmode-directive", env: []string{"NTP_DIRECTIVES=leapsecmode slew"}},
	{name: "directives-client-only", env: []string{"ALLOW=none", "NTP_SERVERS=a.example", "NTP_DIRECTIVES=ratelimit burst 4,makestep -0 -1"}},
}

func render(t *testing.T, c renderCase) []byte {
	t.Helper()
	s, err := config.Load(c.env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.mounted {
		return chronyconf.RenderMounted(s, rundir.New(s.RunDir, s.StateDir))
	}
	return chronyconf.Render(s, rundir.New(s.RunDir, s.StateDir), c.clockControl)
}

func TestRenderGolden(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c)
			if again := render(t, c); string(again) != string(got) {
				t.Fatal("Render is not deterministic")
			}
			golden.Compare(t, *update, filepath.Join("testdata", c.name+".conf"), string(got))
		})
	}
}

// TestGoldenFilesParse runs Debian's chronyd 4.3 -p on every golden file: each must parse.
func TestGoldenFilesParse(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil || len(files) < len(renderCases) {
		t.Fatalf("found %d golden files (%v), want %d", len(files), err, len(renderCases))
	}
	// The mounted wrapper includes its file, which must exist: check it against a copy whose
	// include names a real file.
	dir := t.TempDir()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			path := f
			if filepath.Base(f) == "mounted.conf" {
				userConf := filepath.Join(dir, "user.conf")
				if err := os.WriteFile(userConf, []byte("server 192.0.2.1 iburst\nbindcmdaddress /nonexistent/user.sock\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(f)
				b = []byte(strings.Replace(string(b), "include /config/chrony.conf", "include "+userConf, 1))
				path = filepath.Join(dir, "mounted.conf")
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := chronyconf.Check(ctx, chronyd, path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckReportsChronydsError(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	dir := t.TempDir()
	// want: chronyd's message by the release that started giving it (chronytest.ByVersion);
	// "" means that release accepts the file.
	tests := []struct {
		name, conf string
		want       map[string]string
	}{
		{"unknown directive", "server 192.0.2.1\nfrobnicate 1\n", map[string]string{
			"4.3": "Fatal error : Invalid directive at line 2 in file ",
			"4.9": "Fatal error : Invalid directive frobnicate at line 2 in file "}},
		{"bad source option", "server 192.0.2.1 port\n", map[string]string{
			"4.3": "Fatal error : Could not parse server directive at line 1 in file ",
			"4.9": "Fatal error : Invalid value in server directive at line 1 in file "}},
		{"4.6-only directive", "ratelimit interval 1 kod 4\n", map[string]string{
			"4.3": "Fatal error : Could not parse ratelimit directive at line 1 in file ",
			"4.6": ""}},
		{"missing include", "include /nonexistent/chrony.conf\n", map[string]string{
			"4.3": "Fatal error : Could not open /nonexistent/chrony.conf : No such file or directory"}},
	}
	for i, tc := range tests {
		tt := struct{ name, conf, want string }{tc.name, tc.conf, chronytest.ByVersion(t, tc.want)}
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("bad%d.conf", i))
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := chronyconf.Check(ctx, chronyd, path)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("chrony %s: Check = %v, want the file accepted", chronytest.Version(t), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Check = %v, want it to name %s and carry %q", err, path, tt.want)
			}
		})
	}
	t.Run("missing chronyd", func(t *testing.T) {
		err := chronyconf.Check(context.Background(), filepath.Join(dir, "no-chronyd"), filepath.Join(dir, "bad0.conf"))
		if err == nil {
			t.Fatal("Check succeeded without a chronyd")
		}
	})
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := chronyconf.Check(ctx, chronyd, filepath.Join(dir, "bad0.conf"))
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("Check = %v, want context canceled", err)
		}
	})
}

// TestRenderedConfigStartsChronyd starts the real chronyd (-x, loopback only) with rendered
// files: -p checks only syntax, while allow subnets, ports, the NTS key pair and the socket
// directory are only checked when chronyd really starts.
func TestRenderedConfigStartsChronyd(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	upstream := chronytest.StartUpstream(t)
	tests := []struct {
		name string
		env  []string
	}{
		{"server on loopback", []string{"ALLOW=127.0.0.0/8,::1", "NOCLIENTLOG=true"}},
		{"allow all", []string{"ALLOW=all", "LOCAL_STRATUM=off"}},
		{"client only", []string{"ALLOW=none"}},
		{"dockur's directives", []string{"ALLOW=127.0.0.1", "NTP_DIRECTIVES=ratelimit,rtcsync,clientloglimit 100000000,minsources 1"}},
		{"every directive", []string{"ALLOW=127.0.0.1", "NTP_DIRECTIVES=ratelimit interval -19 burst 255 leak 4,clientloglimit 2147483647,makestep 0.1 -1,maxdistance 1000,maxupdateskew 1000000,maxslewrate 500000,maxdrift 500000,minsources 64,leapsecmode ignore,rtcsync"}},
		// NTS_PORT: a free port rather than 4460, which another process may hold.
		{"nts server", []string{"ALLOW=127.0.0.1", "NTS_SERVER_CERT=CERT", "NTS_SERVER_KEY=KEY", "NTS_PORT=TCPPORT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := chronytest.ShortTempDir(t)
			env := []string{
				"NTP_SERVERS=" + strings.TrimPrefix(upstream.ServerLine(), "server "),
				"RUN_DIR=" + dir, "STATE_DIR=" + dir, "CHRONY_CONF_DIR=" + filepath.Join(dir, "conf.d"),
			}
			for _, kv := range tt.env {
				if strings.HasPrefix(kv, "ALLOW=") && kv != "ALLOW=none" {
					env = append(env, fmt.Sprintf("NTP_PORT=%d", chronytest.FreeUDPPort(t)))
				}
				kv = strings.Replace(kv, "=CERT", "="+filepath.Join(dir, "cert.pem"), 1)
				kv = strings.Replace(kv, "=KEY", "="+filepath.Join(dir, "key.pem"), 1)
				if kv == "NTS_PORT=TCPPORT" {
					kv = fmt.Sprintf("NTS_PORT=%d", chronytest.FreeTCPPort(t))
				}
				env = append(env, kv)
			}
			s, err := config.Load(env)
			if err != nil {
				t.Fatal(err)
			}
			if s.NTSServerCert != "" {
				writeKeyPair(t, s.NTSServerCert, s.NTSServerKey, nil)
				if err := preflight.CheckNTSKeyPair(s.NTSServerCert, s.NTSServerKey); err != nil {
					t.Fatal(err)
				}
			}
			paths := rundir.New(s.RunDir, s.StateDir)
			if err := os.Mkdir(paths.ChronydDir(), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(paths.RenderedConf(), chronyconf.Render(s, paths, false), 0o644); err != nil {
				t.Fatal(err)
			}
			runChronyd(t, chronyd, paths)
		})
	}
}

// TestMountedWrapperStartsChronyd starts chronyd on RenderMounted's wrapper around a user file
// that names its own socket and pidfile: the wrapper's lines must win (the socket appears where
// the entrypoint looks for it).
func TestMountedWrapperStartsChronyd(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	dir := chronytest.ShortTempDir(t)
	user := filepath.Join(dir, "user.conf")
	conf := fmt.Sprintf("port 0\ncmdport 0\nbindcmdaddress %s/user.sock\npidfile %s/user.pid\ndriftfile %s/drift\n", dir, dir, dir)
	if err := os.WriteFile(user, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := config.Load([]string{"RUN_DIR=" + dir, "STATE_DIR=" + dir, "CHRONY_CONF=" + user, "CHRONY_CONF_DIR=" + filepath.Join(dir, "missing.d")})
	if err != nil {
		t.Fatal(err)
	}
	paths := rundir.New(s.RunDir, s.StateDir)
	if err := os.Mkdir(paths.ChronydDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths.RenderedConf(), chronyconf.RenderMounted(s, paths), 0o644); err != nil {
		t.Fatal(err)
	}
	runChronyd(t, chronyd, paths)
	if _, err := os.Stat(filepath.Join(dir, "user.sock")); err == nil {
		t.Fatal("chronyd also bound the mounted file's socket")
	}
}

// runChronyd starts chronyd -x on the rendered file and waits (at most 10 s) for its socket,
// then stops it; chronyd exiting first fails the test with its log.
func runChronyd(t *testing.T, chronyd string, paths rundir.Layout) {
	t.Helper()
	var log strings.Builder
	cmd := exec.Command(chronyd, "-x", "-d", "-U", "-u", chronytest.CurrentUser(t), "-f", paths.RenderedConf())
	cmd.Stderr = &log
	cmd.Stdout = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer proctest.Stop(t, "chronyd", cmd.Process, done, 5*time.Second)
	deadline := time.After(10 * time.Second)
	for {
		if _, err := os.Stat(paths.Socket()); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("chronyd exited: %v\n%s", cmd.ProcessState, log.String())
		case <-deadline:
			t.Fatalf("no socket at %s within 10 s\n%s", paths.Socket(), log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeKeyPair writes a self-signed ECDSA certificate and key; with other set, the key written
// is other's instead, so the pair does not match.
func writeKeyPair(t *testing.T, certPath, keyPath string, other *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if other != nil {
		key = other
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}
