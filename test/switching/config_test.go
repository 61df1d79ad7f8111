package switching

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/pkg/chronyconf"
)

// noMount keeps `config` from finding a chrony.conf of this machine's.
const noMount = "CHRONY_CONF=/nonexistent/chrony.conf"

// noPTP keeps REFCLOCK=auto from finding this machine's PTP clocks (a cloud CI runner has one).
const noPTP = "PTP_SYSFS_DIR=/nonexistent/ptp"

// dryRun runs `entrypoint config` with env as a start would run: `config` is a dry run of it,
// and fails where it fails. So it gets what a start needs (the chronyd it asks `chronyd -p`, a
// chrony user that exists) and, whatever this machine's, the privileges of a root start with
// Docker's default capabilities that matter here (SETUID, SETGID, NET_BIND_SERVICE: the peers
// serve on port 123) and SYS_TIME added, so that CLOCK_CONTROL=auto and on decide the same
// everywhere. Nothing is started: `config` starts nothing.
func dryRun(t *testing.T, env ...string) entrypointtest.Result {
	t.Helper()
	env = append([]string{"CHRONYD=" + chronytest.Chronyd(t), "CHRONY_USER=" + entrypointtest.ChronyUser}, env...)
	return entrypointtest.Run(t, "setpriv", env, "--bounding-set=-all,+setuid,+setgid,+net_bind_service,+sys_time", bin, "config")
}

// TestPeerEnvironments runs `entrypoint config` with each peer image's documented variables
// (their README, compose file and Dockerfile ENV): each is accepted, and the chrony.conf it
// gives is the golden file. CLOCK_CONTROL is pinned where the peer leaves the clock alone, and
// dryRun grants CAP_SYS_TIME, so that the output does not depend on this machine's capabilities.
func TestPeerEnvironments(t *testing.T) {
	tests := []struct {
		name string
		env  []string
	}{
		{"cturra", []string{"NTP_SERVERS=time.cloudflare.com,time.google.com", "ENABLE_NTS=true", "NOCLIENTLOG=true", "LOG_LEVEL=0", "TZ=America/Vancouver", "CLOCK_CONTROL=off"}},
		{"cturra-vars-file", []string{`NTP_SERVERS="time1.google.com,time2.google.com,time3.google.com,time4.google.com"`, "ENABLE_NTS=false", "NOCLIENTLOG=false", "LOG_LEVEL=0", "CLOCK_CONTROL=off"}},
		{"dockur", []string{"NTP_SERVERS=pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync", "ENABLE_SYSCLK=false", "LOG_LEVEL=0", "TZ=America/Vancouver"}},
		{"dockur-readme", []string{"NTP_SERVERS=0.pool.ntp.org,1.pool.ntp.org,2.pool.ntp.org,3.pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync,clientloglimit 100000000", "ENABLE_NTS=true", "ENABLE_SYSCLK=true"}},
		{"dockur-noclientlog", []string{"NTP_SERVERS=pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync", "NOCLIENTLOG=true", "ENABLE_SYSCLK=false"}},
		{"simonrupf", []string{"NTP_SERVERS=time.cloudflare.com", `NTP_DIRECTIVES=ratelimit\nrtcsync`, "ENABLE_SYSCLK=false", "NOCLIENTLOG=false", "LOG_LEVEL=0", "TZ=America/Vancouver"}},
		{"simonrupf-nts-sysclk", []string{"NTP_SERVERS=time.cloudflare.com", `NTP_DIRECTIVES=ratelimit\nrtcsync`, "ENABLE_NTS=true", "ENABLE_SYSCLK=true"}},
		// The previous ghcr.io/chris-short/chrony had no variables: its only setting was a
		// mounted /etc/chrony/chrony.conf (TestPreviousImageMount), so its defaults are these.
		{"chris-short-defaults", []string{"CLOCK_CONTROL=off"}},
		// compose: `- VAR="a,b"` keeps the quotes, `${VAR}` of an unset VAR gives VAR=.
		{"compose-forms", []string{`NTP_SERVERS="time.cloudflare.com,time.google.com"`, "NTP_POOLS=", "ENABLE_NTS=", "LOG_LEVEL=", "CLOCK_CONTROL=''"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dryRun(t, append([]string{noMount, noPTP}, tt.env...)...)
			if r.Code != 0 {
				t.Fatalf("exit %d, want 0\nstderr:\n%s", r.Code, r.Stderr)
			}
			golden.Compare(t, *update, filepath.Join("testdata", "config", tt.name+".conf"), r.Stdout)
			// And chronyd 4.3 parses it.
			path := filepath.Join(t.TempDir(), "chrony.conf")
			entrypointtest.Must(t, os.WriteFile(path, []byte(r.Stdout), 0o644))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := chronyconf.Check(ctx, chronytest.Chronyd(t), path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPreviousImageMount: the previous image's one setting, a chrony.conf mounted at
// /etc/chrony/chrony.conf (CHRONY_CONF), is used as is.
func TestPreviousImageMount(t *testing.T) {
	// Where the chrony user can read it: a start asks `chronyd -p` about it as that user.
	dir := chronytest.ShortTempDir(t)
	entrypointtest.Must(t, os.Chmod(dir, 0o755))
	conf := filepath.Join(dir, "chrony.conf")
	entrypointtest.Must(t, os.WriteFile(conf, []byte("server time.google.com iburst\nrtcsync\n"), 0o644))
	r := dryRun(t, "CHRONY_CONF="+conf, "CLOCK_CONTROL=off")
	if r.Code != 0 || !strings.Contains(r.Stdout, "\ninclude "+conf+"\n") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant the mounted file included", r.Code, r.Stdout, r.Stderr)
	}
}

// TestPeerVariablesRejected: the peers' variables this image cannot honour exit 1 with a
// message naming what to do instead.
func TestPeerVariablesRejected(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"LISTENIFACE=eth0"}, "LISTENIFACE is not a known variable; put a bindaddress or binddevice directive in a *.conf file in CHRONY_CONF_DIR"},
		{[]string{"GPS_DEVICE=/dev/ttyUSB0", "GPS_BAUD=9600"}, "GPS_DEVICE is not a known variable; this image runs no gpsd"},
		{[]string{"ENABLE_SYSCLK=true", "CLOCK_CONTROL=off"}, `ENABLE_SYSCLK="true": means CLOCK_CONTROL=on, but CLOCK_CONTROL=off is set too`},
		{[]string{"NTP_DIRECTIVES=ratelimit,rtcsync,local stratum 3"}, `local: set LOCAL_STRATUM instead`},
		{[]string{"NTP_DIRECTIVES=rtcsync,refclock PHC /dev/ptp0 poll 3 dpoll -2 stratum 2"}, `"refclock" is not in the allow-list`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, ","), func(t *testing.T) {
			r := dryRun(t, append([]string{noMount, noPTP}, tt.env...)...)
			if r.Code != 1 || !strings.Contains(r.Stderr, tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", r.Code, r.Stderr, tt.want)
			}
		})
	}
}
