package preflight

import (
	"regexp"
	"testing"

	"kernel.org/pub/linux/libs/security/libcap/cap"

	"github.com/chris-short/chrony/pkg/config"
)

// TestClockCode: every clock-control decision carries its short code, the one
// chrony_container_clock_control{reason} shows (the sentence stays in ClockReason).
func TestClockCode(t *testing.T) {
	all := CapsOf(cap.SETUID, cap.SETGID, cap.SETPCAP, cap.SYS_TIME, cap.NET_BIND_SERVICE, cap.CHOWN)
	root := Facts{UID: 0, Permitted: all, Effective: all, Bounding: all, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 1024}
	noSysTime := root
	noSysTime.Permitted &^= CapsOf(cap.SYS_TIME)
	dropped := Facts{UID: 100, GID: 101, Bounding: all, User: "chrony", UserUID: 100, UserGID: 101, UnprivilegedPortStart: 1024}
	tests := []struct {
		name string
		f    Facts
		cc   config.ClockControl
		want string
	}{
		{"off", root, config.ClockOff, ClockCodeOff},
		{"on, permitted", root, config.ClockOn, ClockCodeOn},
		{"auto, permitted", root, config.ClockAuto, ClockCodeAutoPermitted},
		{"auto, dropped by the runtime", dropped, config.ClockAuto, ClockCodeAutoDropped},
		{"auto, not granted", noSysTime, config.ClockAuto, ClockCodeAutoNotGranted},
	}
	word := regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decide(tt.f, &config.Settings{ClockControl: tt.cc, NTPPort: 1123})
			if err != nil {
				t.Fatal(err)
			}
			if p.ClockCode != tt.want || !word.MatchString(p.ClockCode) {
				t.Errorf("ClockCode = %q, want %q (reason: %s)", p.ClockCode, tt.want, p.ClockReason)
			}
		})
	}
}
