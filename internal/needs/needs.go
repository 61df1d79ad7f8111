// Package needs lets a test say what it needs beyond Go: the cached chronyd, Docker. Missing,
// the test is skipped with a message that says how to provide it, so `go test ./...` passes on
// a laptop; with CHRONY_TEST_STRICT=1 (set by scripts/test.sh, the README's test command and
// CI's) a missing need fails the test instead, so CI never skips what it must run.
package needs

import (
	"context"
	"os"
	"os/exec"
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

// Docker checks that a Docker daemon answers.
func Docker(t T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").Run()
	Missing(t, "no Docker daemon answers `docker info`", "start Docker, or run the tests where it runs", err)
}
