package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records what Compare reports instead of failing the test.
// Fatalf ends the calling goroutine as testing.T's FailNow does.
type recorder struct {
	testing.TB
	errors, fatals []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// compare runs Compare against a recorder in its own goroutine, so a Fatalf ends only that.
func compare(t *testing.T, update bool, path, got string) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Compare(r, update, path, got)
	}()
	<-done
	return r
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	same := filepath.Join(dir, "same.golden")
	if err := os.WriteFile(same, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, got        string
		wantErrors, wantFatals int
		wantText               string
	}{
		{name: "equal", path: same, got: "a\nb\n"},
		{name: "differs", path: same, got: "a\nc\n", wantErrors: 1, wantText: "-update"},
		{name: "trailing newline differs", path: same, got: "a\nb", wantErrors: 1, wantText: same},
		{name: "missing file", path: filepath.Join(dir, "none.golden"), got: "x", wantFatals: 1, wantText: "-update"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := compare(t, false, tt.path, tt.got)
			if len(r.errors) != tt.wantErrors || len(r.fatals) != tt.wantFatals {
				t.Fatalf("errors %q fatals %q, want %d and %d", r.errors, r.fatals, tt.wantErrors, tt.wantFatals)
			}
			for _, m := range append(r.errors, r.fatals...) {
				if !strings.Contains(m, tt.wantText) {
					t.Errorf("message %q lacks %q", m, tt.wantText)
				}
			}
		})
	}
}

// TestCompareUpdate: -update writes the file (and its directory), after which it compares equal.
func TestCompareUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "new.golden")
	if r := compare(t, true, path, "fresh\n"); len(r.errors)+len(r.fatals) != 0 {
		t.Fatalf("update reported %q %q", r.errors, r.fatals)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "fresh\n" {
		t.Fatalf("after update the file holds %q (%v), want %q", b, err, "fresh\n")
	}
	if r := compare(t, false, path, "fresh\n"); len(r.errors)+len(r.fatals) != 0 {
		t.Fatalf("compare after update reported %q %q", r.errors, r.fatals)
	}
	if r := compare(t, false, path, "stale\n"); len(r.errors) != 1 {
		t.Fatalf("compare of other output after update: errors %q, want 1", r.errors)
	}
}
