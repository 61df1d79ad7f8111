package crossbuild

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// build compiles the entrypoint as the Dockerfile's build stage does, for goarch (and goarm).
func build(t *testing.T, goarch, goarm string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "entrypoint-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-tags", entrypointtest.BuildTags, "-ldflags", "-s -w", "-o", out, "./cmd/entrypoint")
	cmd.Dir = chronytest.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOARM="+goarm)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build GOARCH=%s GOARM=%s: %v\n%s", goarch, goarm, err, o)
	}
	return out
}

func run(t *testing.T, argv ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	// The defaults, and what a start needs, `config` being a dry run of one: the chronyd it
	// asks `chronyd -p` and a chrony user that exists.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "CHRONYD=" + chronytest.Chronyd(t), "CHRONY_USER=nobody"}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out.String())
	}
	return out.String()
}

// TestArmV7Entrypoint: the linux/arm/v7 entrypoint is a static 32-bit ARM executable that
// starts under emulation and says what the native one says.
func TestArmV7Entrypoint(t *testing.T) {
	qemu, err := exec.LookPath("qemu-arm-static")
	if err != nil {
		t.Fatalf("qemu-arm-static not found (apt-get install qemu-user-static; .ci/run does): %v", err)
	}
	arm := build(t, "arm", "7")
	f, err := elf.Open(arm)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_ARM || f.Class != elf.ELFCLASS32 {
		t.Fatalf("%s: machine %v class %v, want EM_ARM ELFCLASS32", arm, f.Machine, f.Class)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has a program interpreter: not static", arm)
		}
	}
	native := build(t, runtime.GOARCH, "")
	for _, args := range [][]string{{"version"}, {"config"}} {
		t.Run(args[0], func(t *testing.T) {
			got := run(t, append([]string{qemu, arm}, args...)...)
			want := run(t, append([]string{native}, args...)...)
			if got != want || got == "" {
				t.Errorf("entrypoint %s on arm/v7:\n%s\nnative:\n%s", args[0], got, want)
			}
		})
	}
}

// TestArmV7Released: the release builds linux/arm/v7, and the Dockerfile passes the platform's
// variant to the compiler as GOARM (what TestArmV7Entrypoint builds with).
func TestArmV7Released(t *testing.T) {
	root := chronytest.RepoRoot(t)
	checks := []struct{ file, pattern string }{
		{".github/workflows/release.yaml", `(?m)^\s+PLATFORMS: \S*linux/arm/v7`},
		{"Dockerfile", `(?m)^ARG TARGETVARIANT$`},
		{"Dockerfile", `GOARCH=\$TARGETARCH GOARM=\$\{TARGETVARIANT#v\} go build`},
	}
	for _, c := range checks {
		data, err := os.ReadFile(filepath.Join(root, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(c.pattern).Match(data) {
			t.Errorf("%s does not match %s", c.file, c.pattern)
		}
	}
}
