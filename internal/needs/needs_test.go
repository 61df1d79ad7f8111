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
