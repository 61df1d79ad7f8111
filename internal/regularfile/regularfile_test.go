package regularfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/regularfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		noFollow bool
		want     string // content, or a part of the error
		err      bool
	}{
		{"regular file, cut at the limit", file, true, "01234", false},
		{"symlink followed", link, false, "01234", false},
		{"symlink refused with noFollow", link, true, "too many levels of symbolic links", true},
		{"FIFO refused without blocking", fifo, false, "not a regular file (p", true},
		{"directory refused", dir, false, "not a regular file (d", true},
		{"missing", filepath.Join(dir, "missing"), false, "no such file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() { b, err = regularfile.Read(tt.path, 5, tt.noFollow); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Read blocked")
			}
			if tt.err {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil || string(b) != tt.want {
				t.Errorf("Read = %q, %v; want %q", b, err, tt.want)
			}
		})
	}
}
