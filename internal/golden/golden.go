package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// Compare reports a test error when got differs from the file at path, and a fatal one when
// that file cannot be read. With update set it writes got to path instead (creating its
// directory), so that a reviewed change of output is one -update run and a git diff.
func Compare(t testing.TB, update bool, path, got string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("create golden file directory: %v", err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("write golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run the test with -update to write it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (check, then run the test with -update to rewrite it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
