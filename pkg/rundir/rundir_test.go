package rundir_test

import (
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/rundir"
)

// TestLayout: every path, spelled out for the defaults (RUN_DIR=/run/chrony,
// STATE_DIR=/var/lib/chrony) and a root directory: what chronyd, chronyc, the probes and the
// rendered file agree on, and what a running container's files are called.
func TestLayout(t *testing.T) {
	tests := []struct {
		run, state string
		want       map[string]string
	}{
		{"/run/chrony", "/var/lib/chrony", map[string]string{
			"RenderedConf":      "/run/chrony/chrony.conf",
			"ChronydDir":        "/run/chrony/chronyd",
			"Socket":            "/run/chrony/chronyd/chronyd.sock",
			"PIDFile":           "/run/chrony/chronyd/chronyd.pid",
			"ServingFile":       "/run/chrony/chronyd/serving.json",
			"ChronycLink":       "/run/chrony/chronyd.sock",
			"ChronycLinkTarget": "chronyd/chronyd.sock",
			"ClientDir":         "/run/chrony",
			"DriftFile":         "/var/lib/chrony/drift",
			"NTSDumpDir":        "/var/lib/chrony",
		}},
		{"/", "/", map[string]string{
			"RenderedConf":      "/chrony.conf",
			"Socket":            "/chronyd/chronyd.sock",
			"ChronycLink":       "/chronyd.sock",
			"ChronycLinkTarget": "chronyd/chronyd.sock",
			"DriftFile":         "/drift",
		}},
	}
	for _, tt := range tests {
		l := rundir.New(tt.run, tt.state)
		got := map[string]string{
			"RenderedConf": l.RenderedConf(), "ChronydDir": l.ChronydDir(), "Socket": l.Socket(),
			"PIDFile": l.PIDFile(), "ServingFile": l.ServingFile(), "ChronycLink": l.ChronycLink(),
			"ChronycLinkTarget": l.ChronycLinkTarget(), "ClientDir": l.ClientDir(),
			"DriftFile": l.DriftFile(), "NTSDumpDir": l.NTSDumpDir(),
		}
		for name, want := range tt.want {
			if got[name] != want {
				t.Errorf("New(%q, %q).%s() = %q, want %q", tt.run, tt.state, name, got[name], want)
			}
		}
	}
}

// TestCheckSocket: the longest RUN_DIR whose socket path fits is accepted, one byte more is
// refused with the path and both lengths.
func TestCheckSocket(t *testing.T) {
	suffix := len("/chronyd/chronyd.sock")
	fits := "/" + strings.Repeat("r", rundir.MaxSocketPath-suffix-1)
	tests := []struct {
		run     string
		wantErr string
	}{
		{"/run/chrony", ""},
		{fits, ""},
		{fits + "x", "too long: chronyd's socket " + fits + "x/chronyd/chronyd.sock would be 108 bytes, the limit is 107"},
	}
	for _, tt := range tests {
		err := rundir.New(tt.run, "").CheckSocket()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("RUN_DIR of %d bytes: %v", len(tt.run), err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("RUN_DIR of %d bytes: %v, want %q", len(tt.run), err, tt.wantErr)
		}
	}
}
