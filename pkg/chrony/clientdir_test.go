package chrony

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
)

// deadPID is the pid of a process that has exited and been waited for.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// livePID is the pid of a process that runs until the test ends.
func livePID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// clientDir makes dir/name holding a bound unixgram socket "s", as Dial leaves it when its
// process is killed before Close, and sets its mtime age ago.
func clientDir(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o711); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(p, "s"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSweepClientDirs(t *testing.T) {
	dir := chronytest.ShortTempDir(t)
	outside := chronytest.ShortTempDir(t)
	secret := filepath.Join(outside, "keep")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dead, live := deadPID(t), livePID(t)
	name := func(pid int, rest string) string { return "client-" + strconv.Itoa(pid) + "-" + rest }

	clientDir(t, dir, name(dead, "1"), 0)
	clientDir(t, dir, name(dead, "2"), 0)
	clientDir(t, dir, "client-123456789", 2*time.Minute) // an older entrypoint's, abandoned
	keep := []string{
		filepath.Base(clientDir(t, dir, name(live, "1"), 0)),
		filepath.Base(clientDir(t, dir, name(os.Getpid(), "1"), 0)),
		filepath.Base(clientDir(t, dir, "client-987654321", 0)), // an older entrypoint's, maybe in use
		"chronyd", "chrony.conf",
		name(dead, "link"),   // a planted link to a directory elsewhere
		name(dead, "nested"), // holds a directory: not what a client makes
		name(dead, "file"),   // not a directory
	}
	mustDo(t, os.Mkdir(filepath.Join(dir, "chronyd"), 0o750))
	mustDo(t, os.WriteFile(filepath.Join(dir, "chrony.conf"), nil, 0o644))
	mustDo(t, os.Symlink(outside, filepath.Join(dir, name(dead, "link"))))
	mustDo(t, os.MkdirAll(filepath.Join(dir, name(dead, "nested"), "sub"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join(dir, name(dead, "file")), nil, 0o644))

	removed, err := SweepClientDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 3 {
		t.Errorf("removed %d directories, want 3", removed)
	}
	var got []string
	ents, err := os.ReadDir(dir)
	mustDo(t, err)
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	sort.Strings(keep)
	if len(got) != len(keep) {
		t.Fatalf("left %q, want %q", got, keep)
	}
	for i := range got {
		if got[i] != keep[i] {
			t.Fatalf("left %q, want %q", got, keep)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the link's target lost its file: %v", err)
	}
	if _, err := SweepClientDirs(filepath.Join(dir, "missing")); err == nil {
		t.Error("sweeping a missing directory: no error")
	}
}

// TestDialSweepsAbandoned: a client killed mid-request leaves its directory; the next Dial in
// the same directory removes it, so leftovers never pile up.
func TestDialSweepsAbandoned(t *testing.T) {
	f := startFake(t, func([]byte) [][]byte { return nil })
	dir := chronytest.ShortTempDir(t)
	dead := deadPID(t)
	for i := range 50 {
		clientDir(t, dir, "client-"+strconv.Itoa(dead)+"-"+strconv.Itoa(i), 0)
	}
	c, err := Dial(context.Background(), f.path, dir)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != filepath.Base(c.dir) {
		t.Errorf("after Dial %d entries are left, want only the new client's %s", len(ents), filepath.Base(c.dir))
	}
	mustDo(t, c.Close())
	assertEmptyDir(t, dir, "")
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSweepClientDirs: what the sweep adds to every Dial in a RUN_DIR as the container
// has it (chronyd's directory, the rendered file, one live client's directory).
func BenchmarkSweepClientDirs(b *testing.B) {
	dir := b.TempDir()
	for _, d := range []string{"chronyd", "client-" + strconv.Itoa(os.Getpid()) + "-1"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "chrony.conf"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := SweepClientDirs(dir); err != nil {
			b.Fatal(err)
		}
	}
}
