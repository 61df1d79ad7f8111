package entrypointtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/chronytest"
)

// TestBuildTags: every build of the entrypoint written outside Go (the image's, the Taskfile's,
// the README's, the benchmarks') uses BuildTags, so that the tests and benchmarks measure the
// binary that ships.
func TestBuildTags(t *testing.T) {
	root := chronytest.RepoRoot(t)
	for _, tc := range []struct {
		file string
		want string // what the building line carries
	}{
		{"Dockerfile", "-tags " + BuildTags + " "},
		{"Taskfile.yml", "-tags " + BuildTags + " "},
		{"README.md", "-tags " + BuildTags + " "},
		{"bench/lib.sh", "bench_tags=" + BuildTags + "\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if !strings.Contains(s, tc.want) {
				t.Errorf("%s does not build with %q", tc.file, tc.want)
			}
			// No other build of cmd/entrypoint in the file with other tags.
			for _, line := range strings.Split(s, "\n") {
				if strings.Contains(line, "go build") && strings.Contains(line, "urfave_cli_") && !strings.Contains(line, BuildTags) {
					t.Errorf("%s: a build with other tags: %s", tc.file, strings.TrimSpace(line))
				}
			}
		})
	}
}
