package chronyconf_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/pkg/chronyconf"
)

// TestInspect feeds configurations through the real chronyd -p (as nobody when the test runs
// as root, as a root start does) and checks the ports and cmdport it reports.
func TestInspect(t *testing.T) {
	chronyd := chronytest.Chronyd(t)
	dir := chronytest.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dropins := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(dropins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropins, "port.conf"), []byte("port 11123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	}
	// chronyd's message for an unknown directive: 4.9 names it (4.3 and 4.6.1 do not).
	invalid := chronytest.ByVersion(t, map[string]string{"4.3": "Invalid directive at line 2", "4.9": "Invalid directive bogus at line 2"})
	cases := []struct {
		name                string
		conf                string
		ntp, ntske, cmdport int
		wantErr             string
	}{
		{"client only", "server 192.0.2.1\nport 0\n", 0, 0, -1, ""},
		{"default port without allow serves nothing", "server 192.0.2.1\n", 0, 0, -1, ""},
		{"allow on the default port", "allow\n", 123, 0, -1, ""},
		{"last port wins", "allow\nport 1123\nport 2123\ncmdport 0\n", 2123, 0, 0, ""},
		{"drop-in port after the file", "allow\nport 1123\nconfdir " + dropins + "\n", 11123, 0, -1, ""},
		{"NTS-KE", "ntsservercert /c.pem\nntsserverkey /k.pem\nntsport 14460\n", 0, 14460, -1, ""},
		{"user cmdport", "cmdport 10323\n", 0, 0, 10323, ""},
		{"error names the file", "allow\nbogus directive\n", 0, 0, 0, invalid + " in file /run/chrony/chrony.conf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e, err := chronyconf.Inspect(ctx, chronyd, []byte(tc.conf), "/run/chrony/chrony.conf", cred)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.NTPPort != tc.ntp || e.NTSKEPort != tc.ntske || e.CmdPort != tc.cmdport {
				t.Errorf("ntp %d ntske %d cmdport %d, want %d %d %d (directives %q)", e.NTPPort, e.NTSKEPort, e.CmdPort, tc.ntp, tc.ntske, tc.cmdport, e.Directives)
			}
		})
	}
}
