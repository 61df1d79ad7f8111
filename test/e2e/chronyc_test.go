package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/test/readme"
)

// chronycWants is a line each README chronyc command prints when it reached chronyd (what
// `506 Cannot talk to daemon` never prints), by the command's first word.
var chronycWants = map[string]string{
	"tracking":    "Leap status",
	"sources":     "MS Name/IP address",
	"sourcestats": "Name/IP Address",
	"clients":     "Hostname",
	"serverstats": "NTP packets received",
	"activity":    "sources online",
}

// assertChronyc runs each chronyc command the README lists with `docker exec` as written (no
// -u, no -h) in container name, and wants each to reach chronyd.
func assertChronyc(t *testing.T, name string) {
	t.Helper()
	cmds, err := readme.ChronycCommands()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		want, ok := chronycWants[c[0]]
		if !ok {
			t.Fatalf("README's chronyc %s: the test does not know what it prints", c[0])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "docker", append([]string{"exec", name, "chronyc"}, c...)...).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("docker exec %s chronyc %s: %v, want output with %q:\n%s", name, strings.Join(c, " "), err, want, out)
		}
	}
}

// TestChronyc runs the README's chronyc commands in the README's root start and in the
// image's default user (100:101). In the root start `docker exec` runs chronyc as UID 0 without
// CAP_DAC_OVERRIDE: chronyc 4.8+ drops to its compiled-in user with the SETUID and SETGID
// capabilities the root start has (see test/standin on the user's name).
func TestChronyc(t *testing.T) {
	needs.Docker(t)
	rootFlags := testRunFlags(t, prefix+"-chronyc-state")
	var userFlags []string
	for i := 0; i < len(rootFlags); i++ {
		switch {
		case rootFlags[i] == "--user", rootFlags[i] == "--cap-add" && slices.Contains([]string{"SETUID", "SETGID"}, rootFlags[i+1]):
			i++
		case rootFlags[i] == "-v":
			i++ // no state volume: nothing here needs the drift file
		default:
			userFlags = append(userFlags, rootFlags[i])
		}
	}
	if slices.Contains(userFlags, "--user") || slices.Contains(userFlags, "SETUID") || len(userFlags) != len(rootFlags)-8 {
		t.Fatalf("README flags not transformed as expected: %q", userFlags)
	}
	for i, tc := range []struct {
		name  string
		flags []string
	}{
		{"root start as in the README", rootFlags},
		{"default user 100:101", userFlags},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-chronyc%d", prefix, i)
			ownContainer(t, name)
			args := append([]string{"run", "-d", "--name", name, "--network", network}, tc.flags...)
			dockerT(t, append(append(args, clientEnv()...), image)...)
			waitStratum(t, ipOf(t, name)+":123", 2, 30*time.Second)
			assertChronyc(t, name)
		})
	}
}
