package chronytest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestClientSyncsToUpstream proves the helpers themselves: a client instance reports a
// synchronised reference within a bounded time.
func TestClientSyncsToUpstream(t *testing.T) {
	up := StartUpstream(t)
	cl := Start(t, Options{Lines: []string{up.ServerLine()}})
	chronyc := Chronyc(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command(chronyc, "-n", "-h", cl.Socket, "tracking").CombinedOutput()
		if err == nil && strings.Contains(string(out), "Leap status     : Normal") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client not synchronised within 15s: %v\n%s\nclient log:\n%s", err, out, cl.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"4.3", "4.3", 0}, {"4.3", "4.4", -1}, {"4.6.1", "4.6", 1}, {"4.9", "4.10", -1}, {"4.10", "4.9", 1},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestVersionIsTheOneRun: the chronyd the tests start is the release CHRONY_VERSION names,
// not whatever the cache happens to hold.
func TestVersionIsTheOneRun(t *testing.T) {
	if os.Getenv("CHRONYD_TEST") != "" {
		return // CHRONYD_TEST names the binary; its version is the caller's choice
	}
	out, err := exec.Command(Chronyd(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("chronyd --version: %v\n%s", err, out)
	}
	if want := "version " + Version(t) + " "; !strings.Contains(string(out), want) {
		t.Errorf("chronyd --version = %q, want %q", out, want)
	}
}

func TestByVersion(t *testing.T) {
	table := map[string]string{"4.3": "old", "4.9": "new"}
	for _, tc := range []struct{ version, want string }{{"4.3", "old"}, {"4.6.1", "old"}, {"4.9", "new"}} {
		t.Setenv("CHRONY_VERSION", tc.version)
		if got := ByVersion(t, table); got != tc.want {
			t.Errorf("chrony %s: ByVersion = %q, want %q", tc.version, got, tc.want)
		}
	}
}
