package faults

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/facebook/time/ntp/protocol"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint, built once.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	b, cleanup, err := entrypointtest.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// ntpQuery sends one NTP client request to 127.0.0.1:port and returns the reply (2 s deadline).
func ntpQuery(port int) (*protocol.Packet, error) {
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("dial NTP port %d: %w", port, err)
	}
	defer conn.Close()
	sec, frac := protocol.Time(time.Now())
	req := &protocol.Packet{Settings: 0x1B, TxTimeSec: sec, TxTimeFrac: frac} // v3, client
	b, err := req.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode NTP request: %w", err)
	}
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(b); err != nil {
		return nil, fmt.Errorf("send NTP request: %w", err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("read NTP reply: %w", err)
	}
	reply, err := protocol.BytesToPacket(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("parse NTP reply: %w", err)
	}
	if reply.OrigTimeSec != sec || reply.OrigTimeFrac != frac {
		return nil, fmt.Errorf("NTP reply does not answer our request (origin %d.%d, sent %d.%d)", reply.OrigTimeSec, reply.OrigTimeFrac, sec, frac)
	}
	return reply, nil
}

// waitStratum queries the entrypoint's NTP port until it answers with stratum want (at most
// within) and returns the reply.
func waitStratum(t *testing.T, p *entrypointtest.Proc, port int, want uint8, within time.Duration) *protocol.Packet {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		reply, err := ntpQuery(port)
		if err == nil && reply.Stratum == want {
			return reply
		}
		if time.Now().After(deadline) {
			got := "no reply: " + fmt.Sprint(err)
			if err == nil {
				got = fmt.Sprintf("stratum %d", reply.Stratum)
			}
			t.Fatalf("NTP port %d: %s after %v, want stratum %d\nlogs:\n%s", port, got, within, want, p.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errorLines returns the error-level entries of a run's log; a line that is not JSON fails
// the test.
func errorLines(t *testing.T, logs string) []entrypointtest.LogLine {
	t.Helper()
	lines, err := entrypointtest.ParseLogs(logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	return entrypointtest.Errors(lines)
}

// linesSaying returns the entries whose message or error field contains s.
func linesSaying(lines []entrypointtest.LogLine, s string) []entrypointtest.LogLine {
	var out []entrypointtest.LogLine
	for _, l := range lines {
		if strings.Contains(l.Msg, s) || strings.Contains(l.Error, s) {
			out = append(out, l)
		}
	}
	return out
}
