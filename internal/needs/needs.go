// Package needs lets a test say what it needs beyond Go: the cached chronyd, Docker, Podman. Missing,
// the test is skipped with a message that says how to provide it, so `go test ./...` passes on
// a laptop; with CHRONY_TEST_STRICT=1 (set by scripts/test.sh, the README's test command and
// CI's) a missing need fails the test instead, so CI never skips what it must run.
package needs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// StrictVar is the environment variable that turns a missing need into a failure.
const StrictVar = "CHRONY_TEST_STRICT"

// T is the part of testing.TB that needs uses.
type T interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Missing skips t (or, under CHRONY_TEST_STRICT=1, fails it) when err says a need is missing;
// what names the need and how is how to provide it.
func Missing(t T, what, how string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(StrictVar) == "1" {
		t.Fatalf("%s: %v (%s; %s=1 makes this a failure, not a skip)", what, err, how, StrictVar)
		return
	}
	t.Skipf("skipped: %s: %v; %s (scripts/test.sh runs every test, and fails instead of skipping)", what, err, how)
}

// Chronyd checks that the chronyd at path is there to run (scripts/fetch-chrony.sh puts
// Debian's into .cache/).
func Chronyd(t T, path string) {
	t.Helper()
	_, err := os.Stat(path)
	Missing(t, "chronyd for tests not found at "+path, "run scripts/fetch-chrony.sh (or set CHRONYD_TEST)", err)
}

// Docker checks that a Docker daemon answers `docker info` (asked once per PATH per test
// binary: a package's tests all call it).
func Docker(t T) {
	t.Helper()
	Missing(t, "no Docker daemon answers `docker info`",
		"start Docker (scripts/test.sh and .ci/run run these tests with it)", DockerErr())
}

// Podman checks that Podman answers `podman info` (asked once per PATH per test binary).
func Podman(t T) {
	t.Helper()
	Missing(t, "podman does not answer `podman info`",
		"install Podman (apt-get install podman; .ci/run does)", answers("podman", "info", "--format", "{{.Version.Version}}"))
}

// DockerErr says why no Docker daemon answers, nil when one does: for a TestMain that sets up
// containers before any test runs, and skips the setup (its tests then call Docker) without one.
func DockerErr() error { return answers("docker", "info", "--format", "{{.ServerVersion}}") }

var (
	answersMu sync.Mutex
	answered  = map[string]error{}
)

// answers runs the command (at most 20 s) and says why it failed, if it did; the result is
// kept per PATH and command line.
func answers(name string, args ...string) error {
	key := os.Getenv("PATH") + "\x00" + name + " " + strings.Join(args, " ")
	answersMu.Lock()
	defer answersMu.Unlock()
	if err, ok := answered[key]; ok {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		if out = bytes.TrimSpace(out); len(out) > 0 {
			err = fmt.Errorf("%w: %s", err, out)
		}
	}
	answered[key] = err
	return err
}
