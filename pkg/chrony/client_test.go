package chrony

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/internal/chronytest"
)

// fakeServer is a unixgram socket standing in for chronyd. handle gets each request and
// returns the datagrams to send back (none: the request is lost).
type fakeServer struct {
	path string
	conn *net.UnixConn
	done chan struct{}
}

func startFake(t *testing.T, handle func(req []byte) [][]byte) *fakeServer {
	t.Helper()
	dir := chronytest.ShortTempDir(t)
	path := filepath.Join(dir, "fake.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{path: path, conn: conn, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			for _, d := range handle(append([]byte(nil), buf[:n]...)) {
				if _, err := conn.WriteToUnix(d, from); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-f.done })
	return f
}

// sourcesReply encodes a `sources` reply (RPY_N_SOURCES) with the given sequence number.
func sourcesReply(seq uint32, n uint32) []byte {
	var b bytes.Buffer
	head := fbchrony.ReplyHead{Version: 6, PKTType: 2, Command: 14, Reply: fbchrony.RpyNSources, Sequence: seq}
	_ = binary.Write(&b, binary.BigEndian, head)
	_ = binary.Write(&b, binary.BigEndian, n)
	return b.Bytes()
}

func reqSeq(req []byte) uint32 { return binary.BigEndian.Uint32(req[8:12]) }

func TestCommunicateWithFake(t *testing.T) {
	tests := []struct {
		name    string
		handle  func(req []byte) [][]byte
		timeout time.Duration
		want    int
		wantErr error
	}{
		{
			name:    "matching reply",
			handle:  func(req []byte) [][]byte { return [][]byte{sourcesReply(reqSeq(req), 3)} },
			timeout: 2 * time.Second,
			want:    3,
		},
		{
			name: "stale replies before the matching one are discarded",
			handle: func(req []byte) [][]byte {
				s := reqSeq(req)
				return [][]byte{sourcesReply(s-1, 99), sourcesReply(s+7, 98), []byte{1, 2, 3}, sourcesReply(s, 4)}
			},
			timeout: 2 * time.Second,
			want:    4,
		},
		{
			name:    "lost reply is a deadline error",
			handle:  func([]byte) [][]byte { return nil },
			timeout: 200 * time.Millisecond,
			wantErr: os.ErrDeadlineExceeded,
		},
		{
			name:    "only a mismatched reply is a deadline error",
			handle:  func(req []byte) [][]byte { return [][]byte{sourcesReply(reqSeq(req)+1, 5)} },
			timeout: 200 * time.Millisecond,
			wantErr: os.ErrDeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.handle)
			clientDir := chronytest.ShortTempDir(t)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			c, err := Dial(ctx, f.path, clientDir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			n, err := NSources(ctx, c)
			elapsed := time.Since(start)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if elapsed > tt.timeout+500*time.Millisecond {
					t.Fatalf("gave up after %v, deadline was %v", elapsed, tt.timeout)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Fatalf("NSources = %d, want %d", n, tt.want)
			}
		})
	}
}

func TestCancelInterruptsRead(t *testing.T) {
	f := startFake(t, func([]byte) [][]byte { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, f.path, chronytest.ShortTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = Tracking(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestDialErrors(t *testing.T) {
	short := chronytest.ShortTempDir(t)
	long := filepath.Join(short, string(bytes.Repeat([]byte("d"), 100)))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	f := startFake(t, func([]byte) [][]byte { return nil })
	tests := []struct {
		name, socket, clientDir, want string
	}{
		{"missing socket", filepath.Join(short, "nope.sock"), short, "connect"},
		{"missing client dir", f.path, filepath.Join(short, "absent"), "create client socket directory"},
		{"client path too long", f.path, long, "more than 107"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.socket, tt.clientDir)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			assertEmptyDir(t, tt.clientDir, "long") // nothing left behind (the long dir itself is ours)
		})
	}
}

func TestCloseRemovesSocket(t *testing.T) {
	f := startFake(t, func([]byte) [][]byte { return nil })
	clientDir := chronytest.ShortTempDir(t)
	c, err := Dial(context.Background(), f.path, clientDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(c.dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o666 {
		t.Fatalf("client socket mode %v, want 0666", st.Mode().Perm())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, clientDir, "")
}

func assertEmptyDir(t *testing.T, dir, except string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return // a directory that does not exist holds nothing
	}
	for _, e := range ents {
		if except != "" && len(e.Name()) > 50 {
			continue
		}
		t.Errorf("%s left behind in %s", e.Name(), dir)
	}
}

// TestRealChronyd asks each request of Debian's chronyd (-x, each CHRONY_VERSION) synchronised to a loopback
// upstream and checks the reply shapes that version sends.
func TestRealChronyd(t *testing.T) {
	up := chronytest.StartUpstream(t)
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine()}})
	clientDir := chronytest.ShortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, cl.Socket, clientDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Wait (bounded) for the first sample so sourcestats and ntpdata have something to say.
	var tr *fbchrony.Tracking
	for i := 0; ; i++ {
		tr, err = Tracking(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Stratum == 2 {
			break
		}
		if i > 150 {
			t.Fatalf("not synchronised after 15s: %+v\n%s", tr, cl.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !tr.IPAddr.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("tracking address %v, want 127.0.0.1", tr.IPAddr)
	}
	srcs, err := Sources(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || srcs[0].IPAddr.String() != "127.0.0.1" || srcs[0].Stratum != 1 {
		t.Fatalf("sources = %+v", srcs)
	}
	ss, err := SourceStats(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ss.NSamples < 1 {
		t.Errorf("sourcestats samples = %d", ss.NSamples)
	}
	nd, err := NTPData(ctx, c, srcs[0].IPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if nd.Stratum != 1 || nd.RemotePort != uint16(up.Port) || nd.TotalRXCount < 1 {
		t.Errorf("ntpdata = %+v", nd.NTPData)
	}
	st, err := GetServerStats(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// The reply's version: 3 from chrony 4.3; 4, with the timestamp counters, from 4.4.
	wantVersion := chronytest.ByVersion(t, map[string]int{"4.3": 3, "4.4": 4})
	if st.Version != wantVersion || st.CMDHits < 4 {
		t.Errorf("serverstats = %+v, want version %d (chrony %s) with our commands counted", st, wantVersion, chronytest.Version(t))
	}
	if _, err := SourceStats(ctx, c, 5); err == nil || !bytes.Contains([]byte(err.Error()), []byte("NOSUCHSOURCE")) {
		t.Errorf("sourcestats of a missing source: err = %v, want NOSUCHSOURCE", err)
	}
}

// TestConcurrentClients runs 50 clients at once against one chronyd: none collides on a
// socket path, all get answers, and none leaves a file behind.
func TestConcurrentClients(t *testing.T) {
	cl := chronytest.Start(t, chronytest.Options{})
	clientDir := chronytest.ShortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := Dial(ctx, cl.Socket, clientDir)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for range 3 {
				if _, err := Tracking(ctx, c); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertEmptyDir(t, clientDir, "")
}

// TestRealChronydNamesAndClients asks Debian's chronyd 4.3 (-x) for a source's configured
// name and walks its client log after an NTP client asked it for time.
func TestRealChronydNamesAndClients(t *testing.T) {
	up := chronytest.StartUpstream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{up.ServerLine()}})
	c, err := Dial(ctx, cl.Socket, chronytest.ShortTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srcs, err := Sources(ctx, c)
	if err != nil || len(srcs) != 1 {
		t.Fatalf("sources = %v, %v", srcs, err)
	}
	name, err := NTPSourceName(ctx, c, srcs[0].IPAddr)
	if err != nil || name != "127.0.0.1" {
		t.Errorf("NTPSourceName = %q, %v; want the configured 127.0.0.1", name, err)
	}

	// The upstream's client log holds the client chronyd once it polled.
	u, err := Dial(ctx, up.Socket, chronytest.ShortTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := 0; ; i++ {
		var hits []uint32
		if err := Clients(ctx, u, func(a fbchrony.ClientAccess) { hits = append(hits, a.NTPHits) }); err != nil {
			t.Fatal(err)
		}
		if len(hits) == 1 && hits[0] > 0 {
			break
		}
		if i > 100 {
			t.Fatalf("upstream's clients: NTP hits %v after 10s, want one client", hits)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealChronydNoClientLog: chronyd with noclientlog answers `clients` with INACTIVE,
// which Clients reports as ErrClientLogOff.
func TestRealChronydNoClientLog(t *testing.T) {
	cl := chronytest.Start(t, chronytest.Options{Lines: []string{"noclientlog", "allow 127.0.0.0/8"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cl.Socket, chronytest.ShortTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Clients(ctx, c, func(fbchrony.ClientAccess) {}); !errors.Is(err, ErrClientLogOff) {
		t.Errorf("Clients with noclientlog: %v, want ErrClientLogOff", err)
	}
}
