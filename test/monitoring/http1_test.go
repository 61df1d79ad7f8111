package monitoring

import (
	"bufio"
	"debug/elf"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// TestHTTP1Only: the entrypoint is built without net/http's bundled HTTP/2 (the
// nethttpomithttp2 tag, entrypointtest.BuildTags: the binary has none of its symbols), and
// serves HTTP/1.1 alone. A client that
// speaks HTTP/2 with prior knowledge gets an HTTP/1.1 error and a closed connection (no HTTP/2
// frame, no hang); an h2c upgrade request is answered over HTTP/1.1 without switching; and
// /metrics answers HTTP/1.1 afterwards. TestRealPrometheus is the real scrape of the same
// build.
func TestHTTP1Only(t *testing.T) {
	t.Run("no HTTP/2 code", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		syms, err := f.Symbols()
		if err != nil {
			t.Fatalf("%s: %v (the tests' build keeps its symbols)", bin, err)
		}
		// Functions only: the tag leaves two variables of its stubs.
		n := 0
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && strings.Contains(s.Name, "http2") {
				n++
			}
		}
		if n > 0 {
			t.Fatalf("%d HTTP/2 functions in the entrypoint: built without nethttpomithttp2?", n)
		}
	})

	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, entrypointtest.Sources(up))
	p := entrypointtest.Start(t, bin, c.Env)
	entrypointtest.WaitProbe(t, bin, p, c.Env, "live", 0, 60*time.Second)

	t.Run("h2 prior knowledge", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", c.HTTPAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		entrypointtest.Must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		// The client connection preface (RFC 9113, 3.4): the magic, then an empty SETTINGS frame.
		preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
		if _, err := io.WriteString(conn, preface); err != nil {
			t.Fatal(err)
		}
		// Everything the server sends until it closes: a deadline error here is a hang.
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("reading the answer to an HTTP/2 preface: %v (read %q)", err, got)
		}
		status, _, _ := strings.Cut(string(got), "\r\n")
		if !strings.HasPrefix(status, "HTTP/1.1 4") && !strings.HasPrefix(status, "HTTP/1.1 5") {
			t.Fatalf("answer to an HTTP/2 preface: %q; want an HTTP/1.1 error, then the connection closed", got)
		}
		t.Logf("answer: %s", status)
	})

	t.Run("h2c upgrade", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, "http://"+c.HTTPAddr+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
		req.Header.Set("Upgrade", "h2c")
		req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
		conn, err := net.DialTimeout("tcp", c.HTTPAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		entrypointtest.Must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 || resp.Header.Get("Upgrade") != "" {
			t.Fatalf("h2c upgrade of GET /healthz: %s %s, Upgrade %q; want HTTP/1.1 200 without upgrade",
				resp.Proto, resp.Status, resp.Header.Get("Upgrade"))
		}
	})

	t.Run("metrics after", func(t *testing.T) {
		client := http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get("http://" + c.HTTPAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" || !strings.Contains(string(body), "\nchrony_up ") {
			t.Fatalf("GET /metrics: %s %s, chrony_up in body: %v\n%s", resp.Proto, resp.Status,
				strings.Contains(string(body), "\nchrony_up "), p.Logs)
		}
	})
}
