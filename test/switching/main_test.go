package switching

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint, built once like the image builds it.
var bin string

// netnsMarker tells the re-executed test binary that it already runs in its own network
// namespace.
const netnsMarker = "CHRONY_SWITCHING_NETNS"

// TestMain runs this package in a network namespace of its own, with only a loopback device:
// a bare host in NTP_SERVERS means UDP port 123, and a test here serving on 127.x.y.z:123 in the
// machine's namespace would make any other package's bind of *:123 (the privilege tests, run
// in parallel by go test) fail with "address in use".
func TestMain(m *testing.M) {
	if os.Getenv(netnsMarker) == "" {
		os.Exit(reexecInNetns())
	}
	entrypointtest.Main(m, &bin)
}

func reexecInNetns() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/switching: locate the test binary:", err)
		return 1
	}
	// unshare and ip come from util-linux and iproute2, which .ci/run installs.
	args := append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$@"`, "sh", self}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsMarker+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "test/switching: run the tests in their own network namespace (unshare --net, as root):", err)
		return 1
	}
}
