package needs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a T that records what happened instead of stopping the test.
type recorder struct{ skipped, failed string }

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestChronyd(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "chronyd")
	tests := []struct {
		name, path, strict string
		skip, fail         bool
	}{
		{name: "present", path: "/proc/self/exe"},
		{name: "missing skips", path: missing, skip: true},
		{name: "missing fails when strict", path: missing, strict: "1", fail: true},
		{name: "present when strict", path: "/proc/self/exe", strict: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(StrictVar, tt.strict)
			r := &recorder{}
			Chronyd(r, tt.path)
			if (r.skipped != "") != tt.skip || (r.failed != "") != tt.fail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tt.skip, tt.fail)
			}
			for _, msg := range []string{r.skipped, r.failed} {
				if msg != "" && !strings.Contains(msg, "scripts/fetch-chrony.sh") {
					t.Errorf("%q does not say how to get chronyd", msg)
				}
			}
		})
	}
}

// TestContainerEngines: with no docker or podman on PATH the test skips, saying how to get the
// engine, or fails under CHRONY_TEST_STRICT=1; where they answer (CI), they pass.
func TestContainerEngines(t *testing.T) {
	empty := t.TempDir()
	engines := []struct {
		name, how string
		check     func(T)
	}{
		{"docker", "start Docker", Docker},
		{"podman", "install Podman", Podman},
	}
	for _, e := range engines {
		for _, strict := range []string{"", "1"} {
			t.Run(e.name+" missing strict="+strict, func(t *testing.T) {
				t.Setenv("PATH", empty)
				t.Setenv(StrictVar, strict)
				r := &recorder{}
				e.check(r)
				got := r.skipped
				if strict == "1" {
					got = r.failed
					if r.skipped != "" {
						t.Errorf("skipped under %s=1: %q", StrictVar, r.skipped)
					}
				} else if r.failed != "" {
					t.Errorf("failed without %s=1: %q", StrictVar, r.failed)
				}
				if !strings.Contains(got, e.how) || !strings.Contains(got, e.name) {
					t.Errorf("%q: want a message naming %s and saying %q", got, e.name, e.how)
				}
			})
		}
	}
}
