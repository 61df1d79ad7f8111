package chronytest

import (
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
	chronyc := strings.Replace(Chronyd(t), "sbin/chronyd", "bin/chronyc", 1)
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
