package health_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/proctest"
	"github.com/chris-short/chrony/pkg/health"
)

// helperEnv selects what the re-executed test binary does (see TestMain).
const helperEnv = "HEALTH_TEST_HELPER"

// TestMain lets the privilege test run this binary as other users: "hold" binds a UDP port
// and waits (a chronyd holding capabilities), "check" runs Serving.Check (a probe holding
// none).
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "hold":
		os.Exit(holdUDP())
	case "check":
		os.Exit(checkServing())
	}
	os.Exit(m.Run())
}

func holdUDP() int {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:"+os.Getenv("HEALTH_PORT"))
	if err != nil {
		fmt.Println("bind:", err)
		return 1
	}
	defer pc.Close()
	fmt.Println("bound")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes stdin
	return 0
}

func checkServing() int {
	pid, _ := strconv.Atoi(os.Getenv("HEALTH_PID"))
	port, _ := strconv.Atoi(os.Getenv("HEALTH_PORT"))
	r := health.Serving{NTPPort: port, NTPFrom: "NTP_PORT"}.Check(pid)
	fmt.Printf("ok=%v err=%v reason=%s\n", r.OK, r.Err, r.Reason)
	return 0
}

// TestServingHolderWithCapabilities: chronyd holds CAP_NET_BIND_SERVICE (a port below the
// namespace's unprivileged floor) or CAP_SYS_TIME (clock control), while `probe ready` and
// PID 1 hold no capability. The kernel then refuses them the links in chronyd's
// /proc/<pid>/fd (a reader must hold every capability its target holds), so the port check
// must still find chronyd's socket some other way, and still refuse a port chronyd does not
// hold or one another user holds.
func TestServingHolderWithCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: runs the holder and the checker as another user with setpriv")
	}
	// The test binary's own directory is private to root; the other user needs to run a copy.
	dir, err := os.MkdirTemp("", "health-caps")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "health.test")
	if out, err := exec.Command("cp", self, bin).CombinedOutput(); err != nil {
		t.Fatalf("copy test binary: %v: %s", err, out)
	}
	asNobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups"}

	held := chronytest.FreeUDPPort(t)
	holder := exec.Command("setpriv", append(asNobody, "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", bin)...)
	holder.Env = append(os.Environ(), helperEnv+"=hold", "HEALTH_PORT="+strconv.Itoa(held))
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // its way out; SIGTERM (proctest.Stop) is the other
		done := make(chan struct{})
		go func() { _ = holder.Wait(); close(done) }()
		proctest.Stop(t, "port holder", holder.Process, done, 5*time.Second)
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "bound" {
			t.Fatalf("holder: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("holder did not bind within 10 s")
	}

	// A port held by another user (root, this test) must not count as chronyd's.
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherPort := other.LocalAddr().(*net.UDPAddr).Port

	for _, tt := range []struct {
		name string
		port int
		ok   bool
	}{
		{"the port it holds", held, true},
		{"a port another user holds", otherPort, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			check := exec.Command("setpriv", append(asNobody, "--inh-caps=-all", bin)...)
			check.Env = append(os.Environ(), helperEnv+"=check",
				"HEALTH_PID="+strconv.Itoa(holder.Process.Pid), "HEALTH_PORT="+strconv.Itoa(tt.port))
			out, err := check.CombinedOutput()
			if err != nil {
				t.Fatalf("checker: %v: %s", err, out)
			}
			want := fmt.Sprintf("ok=%v err=<nil>", tt.ok)
			if !strings.HasPrefix(string(out), want) {
				t.Errorf("Check as a user without capabilities: %s; want %s", strings.TrimSpace(string(out)), want)
			}
		})
	}
}
