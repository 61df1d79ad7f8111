package security

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/pkg/httpapi"
)

// TestHTTPReadOnlyAndBounded checks the running entrypoint's HTTP endpoint from outside: only
// GET and HEAD are served and every other method is 405 on every path, an oversized header
// block is refused with 431 (a normal one is not), and a client dribbling its headers is cut
// off once httpapi.ReadHeaderTimeout has passed.
func TestHTTPReadOnlyAndBounded(t *testing.T) {
	up := chronytest.StartUpstream(t)
	c := newContainer(t, up)
	c.start(t)
	c.waitProbe(t, "ready", 20*time.Second)
	base := "http://" + c.HTTPAddr
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	t.Run("methods", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/", "/debug/pprof/"} {
			for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"} {
				req, err := http.NewRequest(method, base+path, strings.NewReader(""))
				entrypointtest.Must(t, err)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", method, path, err)
					continue
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				want := http.StatusMethodNotAllowed
				switch {
				case method != "GET" && method != "HEAD":
					if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
						t.Errorf("%s %s: Allow %q, want \"GET, HEAD\"", method, path, got)
					}
				case path == "/" || path == "/debug/pprof/":
					want = http.StatusNotFound
				default:
					want = http.StatusOK
				}
				if resp.StatusCode != want {
					t.Errorf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
				}
			}
		}
	})

	t.Run("header size", func(t *testing.T) {
		for _, tt := range []struct {
			size int
			want int
		}{
			{httpapi.MaxHeaderBytes / 2, http.StatusOK},
			{httpapi.MaxHeaderBytes * 8, http.StatusRequestHeaderFieldsTooLarge},
			{1 << 20, http.StatusRequestHeaderFieldsTooLarge},
		} {
			req, err := http.NewRequest("GET", base+"/healthz", nil)
			entrypointtest.Must(t, err)
			req.Header.Set("X-Padding", strings.Repeat("a", tt.size))
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("header of %d bytes: %v", tt.size, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("header of %d bytes: %d, want %d", tt.size, resp.StatusCode, tt.want)
			}
		}
	})

	t.Run("slow headers are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", c.HTTPAddr)
		entrypointtest.Must(t, err)
		defer conn.Close()
		t0 := time.Now()
		_, err = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		entrypointtest.Must(t, err)
		// Dribble a header line every 250 ms, never ending the block; give up after twice the
		// server's timeout. The server closing the connection makes a read return at once.
		closed := make(chan time.Duration, 1)
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
			closed <- time.Since(t0)
		}()
		limit := time.After(2*httpapi.ReadHeaderTimeout + time.Second)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case d := <-closed:
				if d < httpapi.ReadHeaderTimeout-500*time.Millisecond || d > httpapi.ReadHeaderTimeout+2*time.Second {
					t.Errorf("connection closed after %v, want about ReadHeaderTimeout (%v)", d, httpapi.ReadHeaderTimeout)
				}
				t.Logf("slow client cut off after %v (%d header lines sent)", d, i)
				return
			case <-limit:
				t.Fatalf("a client dribbling headers still connected after %v", time.Since(t0))
			case <-tick.C:
				_, _ = fmt.Fprintf(conn, "X-Slow-%d: x\r\n", i)
			}
		}
	})
}

// TestHTTPAddrBoundBeforeChronyd: HTTP_ADDR is bound before chronyd starts (and before the
// privilege drop): a bad address is one error naming HTTP_ADDR, and chronyd never starts; a
// port below 1024 works in a root start, as chronyd's user never binds it.
func TestHTTPAddrBoundBeforeChronyd(t *testing.T) {
	up := chronytest.StartUpstream(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	entrypointtest.Must(t, err)
	defer taken.Close()
	for _, tc := range []struct{ name, addr, want string }{
		{"address not on this host", "192.0.2.1:9123", "not on this host"},
		{"port in use", taken.Addr().String(), "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newContainer(t, up)
			c.Set(t, "HTTP_ADDR="+tc.addr)
			r, err := entrypointtest.TryRun(bin, 20*time.Second, c.Env)
			entrypointtest.Must(t, err)
			if r.Code != 1 || !strings.Contains(r.Stderr, "listen on HTTP_ADDR="+tc.addr) || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d, want 1 with HTTP_ADDR=%s and %q in:\n%s", r.Code, tc.addr, tc.want, r.Stderr)
			}
			for _, never := range []string{"starting chronyd", "chronyd exited", "chronyd version"} {
				if strings.Contains(r.Stderr, never) {
					t.Errorf("%q in the log: chronyd was started:\n%s", never, r.Stderr)
				}
			}
		})
	}
	t.Run("port below 1024 in a root start", func(t *testing.T) {
		var addr string
		for p := 1000; p > 900 && addr == ""; p-- {
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				addr = ln.Addr().String()
				ln.Close()
			}
		}
		if addr == "" {
			t.Fatal("no free TCP port in 901-1000 on 127.0.0.1")
		}
		c := newContainer(t, up)
		c.Set(t, "HTTP_ADDR="+addr)
		c.HTTPAddr = addr
		c.start(t)
		c.waitProbe(t, "live", 15*time.Second)
		if body, code, err := get("http://"+addr+"/healthz", 5*time.Second); err != nil || code != http.StatusOK {
			t.Errorf("GET /healthz on %s: %d %v %q\n%s", addr, code, err, body, c.proc.Logs)
		}
	})
}
