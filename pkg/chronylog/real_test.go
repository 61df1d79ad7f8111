package chronylog

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/chris-short/chrony/internal/chronytest"
)

// TestRealChronydLevels provokes warnings and errors from the real chronyd -x and checks the
// level each of its lines gets: the table must match what chronyd actually prints.
func TestRealChronydLevels(t *testing.T) {
	// Hold the NTP port chronyd is told to serve on.
	held, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.LocalAddr().(*net.UDPAddr).Port
	dir := chronytest.ShortTempDir(t)
	drift := filepath.Join(dir, "drift")
	if err := os.WriteFile(drift, []byte("not a number\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := chronytest.Start(t, chronytest.Options{Port: port, Lines: []string{
		"allow 127.0.0.1",
		"driftfile " + drift,
		"keyfile " + filepath.Join(dir, "missing.keys"),
	}})
	want := []struct {
		contains string
		level    zapcore.Level
	}{
		{"chronyd version", zapcore.InfoLevel},
		{"Could not open NTP socket on 127.0.0.1:" + strconv.Itoa(port), zapcore.WarnLevel},
		{"Could not read valid frequency and skew from driftfile", zapcore.WarnLevel},
		{"Could not open keyfile", zapcore.WarnLevel},
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range want {
		for !strings.Contains(in.Logs(), w.contains) {
			if time.Now().After(deadline) {
				t.Fatalf("chronyd did not log %q within 10 s:\n%s", w.contains, in.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, line := range strings.Split(in.Logs(), "\n") {
			if strings.Contains(line, w.contains) {
				t.Logf("%-5v %s", Parse(line).Level, line)
				if got := Parse(line).Level; got != w.level {
					t.Errorf("%q: level %v, want %v", line, got, w.level)
				}
			}
		}
	}
}
