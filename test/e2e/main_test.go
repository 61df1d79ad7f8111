package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/test/dockerfile"
	"github.com/chris-short/chrony/test/standin"
)

var (
	prefix = fmt.Sprintf("chrony-e2e-%d", os.Getpid())
	// image is the image under test: $E2E_IMAGE (the release workflow sets it to the Alpine
	// image it has just built), else the stand-in that setup builds (test/standin).
	image = os.Getenv("E2E_IMAGE")
	// standinBuilt: setup built image, and cleanup removes it.
	standinBuilt bool
	// capreport is the capability reporter's path inside containers, and capreportMount the
	// flags that put it there: the stand-in has it built in; another image gets it bind-mounted.
	capreport      = standin.CapreportPath
	capreportMount []string
	network        = prefix + "-net"
	upstream       = prefix + "-upstream"
	repo           string
	work           string // scratch space for the run, removed by cleanup
	rt             *dockerfile.Runtime
)

func TestMain(m *testing.M) {
	// Without Docker there is nothing to set up: each test calls needs.Docker first, and skips
	// (fails under CHRONY_TEST_STRICT=1) saying how to run it.
	if needs.DockerErr() != nil {
		os.Exit(m.Run())
	}
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		code = 1
	} else {
		code = m.Run()
	}
	cleanup()
	os.Exit(code)
}

func setup() (int, error) {
	_, file, _, _ := runtime.Caller(0)
	repo = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := docker(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		return 1, fmt.Errorf("dockerd is not reachable (start it: dockerd --storage-driver overlay2 &): %w: %s", err, out)
	}
	ins, err := dockerfile.ParseFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		return 1, err
	}
	if rt, err = dockerfile.RuntimeOf(ins); err != nil {
		return 1, err
	}
	work, err = os.MkdirTemp("", "chrony-e2e")
	if err != nil {
		return 1, err
	}
	start := time.Now()
	if image == "" {
		image, standinBuilt = prefix+":standin", true
		if _, err := standin.Build(ctx, standin.Options{Repo: repo, Tag: image, WorkDir: work}); err != nil {
			return 1, err
		}
		fmt.Fprintf(os.Stderr, "e2e: stand-in image %s (chrony %s) built in %s\n", image, standin.ChronyVersion, time.Since(start).Round(time.Millisecond))
	} else {
		dir := filepath.Join(work, "capreport")
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "capreport"), "./internal/testbin/capreport")
		build.Dir, build.Env = repo, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return 1, fmt.Errorf("build the capability reporter: %w: %s", err, out)
		}
		if err := os.Chmod(work, 0o755); err != nil {
			return 1, err
		}
		capreport, capreportMount = "/opt/e2e/capreport", []string{"-v", dir + ":/opt/e2e:ro"}
		fmt.Fprintf(os.Stderr, "e2e: testing image %s (E2E_IMAGE)\n", image)
	}
	if out, err := docker(ctx, "network", "create", "--internal", network); err != nil {
		return 1, fmt.Errorf("create network: %w: %s", err, out)
	}
	// The upstream every client syncs from: a `local stratum 1` reference with no real source
	// (127.0.0.1 noselect only satisfies "at least one source" without leaving the container).
	if out, err := docker(ctx, "run", "-d", "--name", upstream, "--network", network,
		"--read-only", "--tmpfs", "/run/chrony", "--cap-drop", "ALL",
		"-e", "NTP_SERVERS=127.0.0.1 noselect", "-e", "LOCAL_STRATUM=1", "-e", "ALLOW=all",
		"-e", "CLOCK_CONTROL=off", "-e", "READY_ALLOW_LOCAL=true", "-e", "LOG_FORMAT=console",
		image); err != nil {
		return 1, fmt.Errorf("start upstream: %w: %s", err, out)
	}
	return 0, nil
}

// cleanup removes everything named with this run's prefix.
func cleanup() {
	cleanupPodman()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, _ := docker(ctx, "ps", "-aq", "--filter", "name="+prefix); len(bytes.TrimSpace(out)) > 0 {
		_, _ = docker(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(string(out))...)...)
	}
	if out, _ := docker(ctx, "volume", "ls", "-q", "--filter", "name="+prefix); len(bytes.TrimSpace(out)) > 0 {
		_, _ = docker(ctx, append([]string{"volume", "rm", "-f"}, strings.Fields(string(out))...)...)
	}
	_, _ = docker(ctx, "network", "rm", network)
	if standinBuilt {
		_, _ = docker(ctx, "image", "rm", "-f", image, image+"-rootfs")
	}
	if work != "" {
		os.RemoveAll(work)
	}
}

func docker(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "docker", args...).CombinedOutput()
}

// dockerT runs docker and fails the test on error.
func dockerT(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := docker(ctx, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// inspect decodes docker inspect of a container or image.
func inspect(t *testing.T, kind, name string, into any) {
	t.Helper()
	out := dockerT(t, kind, "inspect", name)
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("docker %s inspect %s: %v", kind, name, err)
	}
	if err := json.Unmarshal(list[0], into); err != nil {
		t.Fatalf("docker %s inspect %s: %v", kind, name, err)
	}
}

// ownContainer makes the container name the test's: when the test ends its logs are printed
// if the test failed, and it is removed with its anonymous volumes, so that `go test -count=N`
// can start it again (the names carry the process id, not the run).
func ownContainer(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := docker(ctx, "logs", "--tail", "60", name)
			t.Logf("logs of %s:\n%s", name, out)
		}
		_, _ = docker(ctx, "rm", "-f", "-v", name)
	})
}
