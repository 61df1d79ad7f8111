// Package chronytest starts real chronyd instances for tests: Debian's chronyd, fetched by
// scripts/fetch-chrony.sh, always with -x so that no test can touch this machine's clock,
// talking only over loopback.
//
// CHRONY_VERSION picks the release (4.3, 4.6.1 or 4.9; default 4.3): scripts/test.sh runs the
// packages that start a real chronyd once per version. CHRONYD_TEST, a chronyd path, overrides
// both.
package chronytest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/internal/proctest"
)

// Versions are the chrony releases the tests run against, oldest first, each from a Debian
// suite (scripts/fetch-chrony.sh): bookworm's 4.3, trixie's 4.6.1, sid's 4.9.
var Versions = []string{"4.3", "4.6.1", "4.9"}

// DefaultVersion is the release tests use when CHRONY_VERSION is unset.
const DefaultVersion = "4.3"

// Version is the chrony release under test: $CHRONY_VERSION, else DefaultVersion. An unknown
// value fails the test.
func Version(t testing.TB) string {
	t.Helper()
	v := os.Getenv("CHRONY_VERSION")
	if v == "" {
		return DefaultVersion
	}
	for _, known := range Versions {
		if v == known {
			return v
		}
	}
	t.Fatalf("CHRONY_VERSION=%q: want one of %v", v, Versions)
	return ""
}

// AtLeast reports whether the release under test is version want or newer ("4.6" < "4.6.1").
func AtLeast(t testing.TB, want string) bool {
	t.Helper()
	return CompareVersions(Version(t), want) >= 0
}

// CompareVersions compares dotted release numbers: -1, 0 or 1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ByVersion picks what the release under test does from a table keyed by the release that
// started doing it: the entry with the newest key not newer than Version. {"4.3": a, "4.9": b}
// says 4.3 up to 4.8 do a, 4.9 and later do b. A table with no entry old enough fails the test.
func ByVersion[T any](t testing.TB, byVersion map[string]T) T {
	t.Helper()
	v := Version(t)
	best := ""
	for k := range byVersion {
		if CompareVersions(k, v) <= 0 && (best == "" || CompareVersions(k, best) > 0) {
			best = k
		}
	}
	if best == "" {
		t.Fatalf("chronytest.ByVersion: no entry for chrony %s in %v", v, byVersion)
	}
	return byVersion[best]
}

// Chronyd returns the chronyd binary tests run: $CHRONYD_TEST when set, else the wrapper that
// scripts/fetch-chrony.sh caches in the repository for Version. A missing binary fails the
// test: an integration test that skips proves nothing.
func Chronyd(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHRONYD_TEST"); p != "" {
		return p
	}
	v := Version(t)
	p := filepath.Join(RepoRoot(t), ".cache", "chrony", v, "usr", "sbin", "chronyd")
	if _, err := os.Stat(p); err != nil {
		needs.Missing(t, fmt.Sprintf("chronyd %s for tests not found at %s", v, p), fmt.Sprintf("run scripts/fetch-chrony.sh %s (or set CHRONYD_TEST)", v), err)
	}
	return p
}

// Chronyc is the chronyc that belongs to Chronyd (the same folder layout, bin for sbin), run as
// the test's own user. chronyc 4.8 and later, started as root, first drops to its compiled-in
// user (-u, default _chrony in Debian, chrony in Alpine) and fails with "Could not get user/group
// ID of _chrony" where that user does not exist, as on this machine; for those versions Chronyc
// is a script, in a directory removed when the test ends, that adds -u with the current user.
func Chronyc(t testing.TB) string {
	t.Helper()
	real := strings.Replace(Chronyd(t), "sbin/chronyd", "bin/chronyc", 1)
	if os.Getenv("CHRONYD_TEST") != "" || !AtLeast(t, "4.8") {
		return real
	}
	p := filepath.Join(ShortTempDir(t), "chronyc")
	script := fmt.Sprintf("#!/bin/sh\nexec %s -u %s \"$@\"\n", real, CurrentUser(t))
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// RepoRoot is the module's root directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("chronytest: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ShortTempDir is a temporary directory with a short path: a Unix socket path must fit in 108
// bytes, which t.TempDir's long names can exceed. Removed when the test ends.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "ct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// FreeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// CurrentUser is the name chronyd gets with -u: chronyd looks its compiled-in default user
// up even when it runs unprivileged, and the test machine has no chrony user.
func CurrentUser(t testing.TB) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// Instance is one running chronyd.
type Instance struct {
	Dir    string // its private directory: config, socket, pidfile, drift
	Port   int    // NTP port on Addr (0 when it serves nothing)
	Addr   string // loopback address it serves on; empty means 127.0.0.1
	Socket string // command socket path
	Conf   string // config file path

	t    testing.TB // the test that started it: Stop reports to it
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []string
	done chan struct{}
	err  error
}

// Options shape an Instance's chrony.conf. Lines are added verbatim after the defaults
// (port, cmdport 0, bindcmdaddress, pidfile, driftfile).
type Options struct {
	Port  int      // NTP port; 0 picks a free one
	Lines []string // extra directives
	// Addr is the loopback address to serve on (127.0.0.2, ...); empty means 127.0.0.1.
	// chronyd keeps one source per IP address ("Could not add source"), so a client with
	// several upstreams needs each on its own address.
	Addr string
}

// Start runs chronyd -x -d with opts on loopback and waits (at most 10 s) for its command
// socket. It is stopped (Stop) when the test ends.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	dir := ShortTempDir(t)
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	port := opts.Port
	if port == 0 {
		port = FreeUDPPort(t)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1"
	}
	in := &Instance{
		t:      t,
		Dir:    dir,
		Port:   port,
		Addr:   addr,
		Socket: filepath.Join(dir, "chronyd.sock"),
		Conf:   filepath.Join(dir, "chrony.conf"),
		done:   make(chan struct{}),
	}
	conf := []string{
		fmt.Sprintf("port %d", port),
		"bindaddress " + addr,
		"cmdport 0",
		"bindcmdaddress " + in.Socket,
		"pidfile " + filepath.Join(dir, "chronyd.pid"),
		"driftfile " + filepath.Join(dir, "drift"),
	}
	conf = append(conf, opts.Lines...)
	if err := os.WriteFile(in.Conf, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// -x: never touch this machine's clock. -d: foreground, logs on stderr.
	in.cmd = exec.Command(Chronyd(t), "-x", "-d", "-U", "-u", CurrentUser(t), "-f", in.Conf)
	stderr, err := in.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("start chronyd: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			in.mu.Lock()
			in.logs = append(in.logs, sc.Text())
			in.mu.Unlock()
		}
		in.err = in.cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(func() { in.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(in.Socket); err == nil {
			return in
		}
		select {
		case <-in.done:
			t.Fatalf("chronyd exited before opening its socket: %v\n%s", in.err, in.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chronyd did not open %s within 10s\n%s", in.Socket, in.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartUpstream runs a chronyd that serves loopback clients as a stratum 1 reference
// (`local stratum 1`) with no sources of its own.
func StartUpstream(t testing.TB) *Instance {
	t.Helper()
	return Start(t, Options{Lines: []string{"local stratum 1", "allow 127.0.0.0/8"}})
}

// ServerLine is a `server` directive for in that polls fast (sub-second), so a client syncs
// within a second or two instead of the ~5 s that iburst alone takes.
func (in *Instance) ServerLine() string {
	return "server " + in.SourceEntry()
}

// SourceEntry is ServerLine without the directive: the form NTP_SERVERS takes, one entry.
func (in *Instance) SourceEntry() string {
	addr := in.Addr
	if addr == "" {
		addr = "127.0.0.1"
	}
	return fmt.Sprintf("%s port %d iburst minpoll -2 maxpoll 0", addr, in.Port)
}

// Logs returns chronyd's stderr so far.
func (in *Instance) Logs() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return strings.Join(in.logs, "\n")
}

// PID is chronyd's process id.
func (in *Instance) PID() int { return in.cmd.Process.Pid }

// Stop ends chronyd as proctest.Stop does: SIGTERM, at most 5 s, then SIGKILL, which fails
// the test that started it. Safe to call twice.
func (in *Instance) Stop() {
	in.t.Helper()
	proctest.Stop(in.t, "chronyd", in.cmd.Process, in.done, 5*time.Second)
}

// Done is closed when chronyd has exited.
func (in *Instance) Done() <-chan struct{} { return in.done }
