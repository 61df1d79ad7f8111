package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/pkg/rundir"
)

// TestLinkChronycSocket: chronyc's default socket path ends up a relative symlink to chronyd's
// socket; an old link is replaced; anything else there is left alone and named in the error.
func TestLinkChronycSocket(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, link string)
		wantErr string // "" means the link must be in place
	}{
		{"nothing there", func(t *testing.T, link string) {}, ""},
		{"the right link", func(t *testing.T, link string) { entrypointtest.Must(t, os.Symlink("chronyd/chronyd.sock", link)) }, ""},
		{"a link elsewhere", func(t *testing.T, link string) { entrypointtest.Must(t, os.Symlink("/etc/shadow", link)) }, ""},
		{"a dangling link", func(t *testing.T, link string) { entrypointtest.Must(t, os.Symlink("nowhere/x.sock", link)) }, ""},
		{"a regular file", func(t *testing.T, link string) { entrypointtest.Must(t, os.WriteFile(link, []byte("keep"), 0o600)) }, "is not a symlink"},
		{"a directory", func(t *testing.T, link string) { entrypointtest.Must(t, os.Mkdir(link, 0o700)) }, "is not a symlink"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := rundir.New(chronytest.ShortTempDir(t), "")
			link := l.ChronycLink()
			if link != filepath.Join(l.Run, "chronyd.sock") {
				t.Fatalf("ChronycLink = %s", link)
			}
			tc.setup(t, link)
			before, _ := os.Lstat(link)
			err := LinkChronycSocket(l)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), link) {
					t.Fatalf("LinkChronycSocket = %v, want an error naming %s and saying %q", err, link, tc.wantErr)
				}
				after, _ := os.Lstat(link)
				if after == nil || before.Mode() != after.Mode() || !os.SameFile(before, after) {
					t.Errorf("%s was changed", link)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.Readlink(link)
			if err != nil || got != "chronyd/chronyd.sock" {
				t.Errorf("%s -> %q (%v), want chronyd/chronyd.sock", link, got, err)
			}
			if filepath.Join(l.Run, got) != l.Socket() {
				t.Errorf("the link resolves to %s, chronyd's socket is %s", filepath.Join(l.Run, got), l.Socket())
			}
		})
	}
}
