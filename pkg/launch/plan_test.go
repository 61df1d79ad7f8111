package launch

import (
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"kernel.org/pub/linux/libs/security/libcap/cap"

	"github.com/chris-short/chrony/internal/golden"
	"github.com/chris-short/chrony/pkg/chronyconf"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/preflight"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDecide: the plan a start makes from settings and facts, without running anything, is
// the golden file (users, capabilities, argv, ports, the file chronyd reads), as containerboot
// tests its wanted command lines; or the error that stops the start.
func TestDecide(t *testing.T) {
	root := preflight.Facts{
		UID: 0, GID: 0, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 1024,
		Permitted: preflight.CapsOf(cap.SETUID, cap.SETGID, cap.SETPCAP, cap.SYS_TIME, cap.NET_BIND_SERVICE),
	}
	root.Bounding, root.Effective = root.Permitted, root.Permitted
	user := preflight.Facts{UID: 100, GID: 101, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 0}
	served := chronyconf.Effective{NTPPort: 123, CmdPort: -1}
	phc := []config.Refclock{{Driver: "PHC", Param: "/dev/ptp_hyperv", What: "Azure Hyper-V PTP clock /dev/ptp_hyperv"}}
	rootOnlyDevice, readableDevice := root, root
	rootOnlyDevice.Devices = []preflight.Device{{Path: "/dev/ptp_hyperv", Char: true, Mode: 0o600}}
	readableDevice.Devices = []preflight.Device{{Path: "/dev/ptp_hyperv", Char: true, Mode: 0o644}}
	tests := []struct {
		name    string
		env     []string
		facts   Facts
		wantErr string // the error, when the start must stop
	}{
		{name: "root-defaults", facts: Facts{Container: root, Effective: served}},
		{name: "user-clock-off", env: []string{"CLOCK_CONTROL=off", "NTP_PORT=1123"}, facts: Facts{Container: user, Effective: chronyconf.Effective{NTPPort: 1123, CmdPort: -1}}},
		{name: "root-nts-server", env: []string{"NTS_SERVER_CERT=/certs/tls.crt", "NTS_SERVER_KEY=/certs/tls.key"},
			facts: Facts{Container: root, Effective: chronyconf.Effective{NTPPort: 123, NTSKEPort: 4460, CmdPort: -1}}},
		{name: "mounted-cmdport", facts: Facts{Container: root, Mounted: true, Effective: chronyconf.Effective{NTPPort: 123, CmdPort: 323}}},
		{name: "mounted-no-cmdport", facts: Facts{Container: root, Mounted: true, Effective: served}},
		{name: "auto-refclock-root-only-device", env: []string{"CLOCK_CONTROL=off"}, facts: Facts{Container: rootOnlyDevice, Refclocks: phc, Effective: served}},
		{name: "auto-refclock-readable-device", env: []string{"CLOCK_CONTROL=off"}, facts: Facts{Container: readableDevice, Refclocks: phc, Effective: served}},
		{name: "clock-on-without-sys-time", env: []string{"CLOCK_CONTROL=on"}, facts: Facts{Container: user, Effective: served},
			wantErr: "preflight: CAP_SYS_TIME is not available: CLOCK_CONTROL=on but the container was not given CAP_SYS_TIME"},
		{name: "low-port-without-bind", env: []string{"CLOCK_CONTROL=off"}, facts: Facts{Container: func() preflight.Facts { f := user; f.UnprivilegedPortStart = 1024; return f }(), Effective: served},
			wantErr: "preflight: cannot bind a port chronyd must serve: NTP_PORT=123: NTP port 123 is below ip_unprivileged_port_start=1024"},
		{name: "chronyd-check-failed", facts: Facts{Container: root, EffectiveErr: errors.New("chronyd -p: bad directive")}, wantErr: "chronyd -p: bad directive"},
		{name: "conf-is-directory", facts: Facts{Container: root, ConfErr: errors.New("CHRONY_CONF=/etc/chrony/chrony.conf is a directory")}, wantErr: "CHRONY_CONF=/etc/chrony/chrony.conf is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"RUN_DIR=/run/chrony", "STATE_DIR=/var/lib/chrony", "CHRONY_USER=chrony"}, tt.env...)
			s, err := config.Load(env)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Decide(s, tt.facts)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The files apart, as chronyd reads them.
			golden.Compare(t, *update, filepath.Join("testdata", "plan", tt.name+".conf"), string(plan.Conf))
			if plan.ConfNoRefclock != nil {
				golden.Compare(t, *update, filepath.Join("testdata", "plan", tt.name+".norefclock.conf"), string(plan.ConfNoRefclock))
			}
			plan.Conf, plan.ConfNoRefclock = nil, nil
			b, err := json.MarshalIndent(struct {
				Plan
				RefclockDropped string `json:",omitempty"`
			}{Plan: plan, RefclockDropped: errText(plan.RefclockDropped)}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, *update, filepath.Join("testdata", "plan", tt.name+".json"), string(b)+"\n")
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
