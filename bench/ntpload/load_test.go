package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// chronydDefaultRatelimit is the entrypoint's rendered ratelimit line (pkg/chronyconf).
const chronydDefaultRatelimit = "ratelimit interval 1 burst 16 leak 2"

// TestRunAgainstChronyd loads a real chronyd (-x, loopback) and checks what the generator
// counts: every request ends as a reply or a loss, it stops by itself at whichever bound comes
// first, and chronyd's per-address rate limit shows as loss from one address but not from many
// addresses each under the limit.
func TestRunAgainstChronyd(t *testing.T) {
	lifted := chronytest.Start(t, chronytest.Options{Lines: []string{
		"local stratum 1", "allow 127.0.0.0/8", chronydDefaultRatelimit,
		// What bench/ntp-load.sh's drop-in does: the last ratelimit wins.
		"ratelimit interval -19 burst 255",
	}})
	limitedLines := []string{"local stratum 1", "allow 127.0.0.0/8", chronydDefaultRatelimit}
	limited := chronytest.Start(t, chronytest.Options{Lines: limitedLines})
	// A second one for the many-address case: the flood above empties 127.0.0.1's bucket on
	// the first, and 127.0.0.1 is one of the many addresses.
	limitedMany := chronytest.Start(t, chronytest.Options{Lines: limitedLines})
	// Nothing listens here: every request is lost.
	silent := chronytest.FreeUDPPort(t)

	addr := func(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }
	tests := []struct {
		name string
		o    Options
		// check judges the result beyond the invariants every run must hold.
		check func(t *testing.T, r Result)
	}{
		{
			name: "stops at the request bound, all answered",
			o:    Options{Server: addr(lifted.Port), Workers: 8, Sources: 1, InFlight: 2, Requests: 3000, Duration: 20 * time.Second, Timeout: time.Second},
			check: func(t *testing.T, r Result) {
				if r.Sent != 3000 || r.Replies != 3000 || r.Lost != 0 {
					t.Errorf("sent %d replies %d lost %d, want 3000 3000 0", r.Sent, r.Replies, r.Lost)
				}
				if r.Unsync != 0 {
					t.Errorf("%d replies say unsynchronised from a local stratum 1 server", r.Unsync)
				}
			},
		},
		{
			name: "stops at the duration bound",
			o:    Options{Server: addr(lifted.Port), Workers: 4, Sources: 4, InFlight: 1, Rate: 400, Requests: 1 << 40, Duration: 500 * time.Millisecond, Timeout: time.Second},
			check: func(t *testing.T, r Result) {
				// 400/s for 0.5 s, staggered start: about 200.
				if r.Sent < 150 || r.Sent > 250 || r.Lost != 0 {
					t.Errorf("sent %d lost %d, want about 200 sent at -rate 400 for 0.5s and none lost", r.Sent, r.Lost)
				}
			},
		},
		{
			name: "default ratelimit from one address loses most",
			o:    Options{Server: addr(limited.Port), Workers: 4, Sources: 1, InFlight: 64, Rate: 1000, Requests: 1 << 40, Duration: time.Second, Timeout: 200 * time.Millisecond},
			check: func(t *testing.T, r Result) {
				// Beyond the burst of 16, chronyd answers one request in 2 s plus one in 4
				// of the rest (leak 2): about 73% of 1000 lost.
				if l := r.LossPercent(); l < 50 || l > 90 {
					t.Errorf("loss %.1f%% (sent %d), want about 73%% under chronyd's ratelimit", l, r.Sent)
				}
			},
		},
		{
			name: "default ratelimit, many addresses each within the burst",
			o:    Options{Server: addr(limitedMany.Port), Workers: 40, Sources: 40, InFlight: 1, Rate: 40, Requests: 1 << 40, Duration: time.Second, Timeout: 500 * time.Millisecond},
			check: func(t *testing.T, r Result) {
				if r.Sent < 30 || r.Lost != 0 {
					t.Errorf("sent %d lost %d, want about 40 sent and none lost", r.Sent, r.Lost)
				}
			},
		},
		{
			name: "no server: everything lost, still stops",
			o:    Options{Server: addr(silent), Workers: 2, Sources: 1, InFlight: 4, Requests: 20, Duration: 5 * time.Second, Timeout: 100 * time.Millisecond},
			check: func(t *testing.T, r Result) {
				if r.Sent != 20 || r.Lost != 20 || r.Replies != 0 {
					t.Errorf("sent %d lost %d replies %d, want 20 20 0", r.Sent, r.Lost, r.Replies)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			begin := time.Now()
			r, err := Run(context.Background(), tt.o, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(begin)
			t.Logf("%s", formatTSV(r))
			// Bounded: sending ends at Duration, then at most one Timeout of draining and a
			// sweep tick.
			if limit := tt.o.Duration + tt.o.Timeout + time.Second; took > limit {
				t.Errorf("run took %s, more than its bounds allow (%s)", took, limit)
			}
			if r.Replies+r.Lost != r.Sent {
				t.Errorf("replies %d + lost %d != sent %d: a request was not accounted for", r.Replies, r.Lost, r.Sent)
			}
			if r.Replies > 0 && (r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99) {
				t.Errorf("latencies p50 %s p99 %s max %s not ordered", r.P50, r.P99, r.Max)
			}
			if r.Stray != 0 {
				t.Errorf("%d stray packets from a single server", r.Stray)
			}
			tt.check(t, r)
		})
	}
}

// TestRunCancelled: cancelling stops the run promptly and accounts for what was outstanding.
func TestRunCancelled(t *testing.T) {
	silent := chronytest.FreeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	o := Options{Server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: silent}, Workers: 2, Sources: 1, InFlight: 8, Requests: 1 << 40, Duration: time.Minute, Timeout: 30 * time.Second}
	begin := time.Now()
	r, err := Run(ctx, o, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("cancelled run took %s", took)
	}
	if r.Sent != 16 || r.Lost != 16 {
		t.Errorf("sent %d lost %d, want 16 16 (two sockets, 8 in flight each, no replies)", r.Sent, r.Lost)
	}
}

func TestValidate(t *testing.T) {
	good := Options{Server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 123}, Workers: 1, Sources: 1, InFlight: 1, Requests: 1, Duration: time.Second, Timeout: time.Second}
	tests := []struct {
		name   string
		change func(*Options)
		want   string // in the error; "" for valid
	}{
		{"valid", func(*Options) {}, ""},
		{"no server", func(o *Options) { o.Server = nil }, "-server"},
		{"no workers", func(o *Options) { o.Workers = 0 }, "-workers 0"},
		{"too many sources", func(o *Options) { o.Sources = 255 }, "-sources 255: want 1..254"},
		{"no in-flight", func(o *Options) { o.InFlight = 0 }, "-inflight 0"},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "-rate -1"},
		{"unbounded requests", func(o *Options) { o.Requests = 0 }, "-requests 0"},
		{"unbounded duration", func(o *Options) { o.Duration = 0 }, "-duration 0s"},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, "-timeout 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.change(&o)
			err := o.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestQuantiles(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	tests := []struct {
		name           string
		in             []time.Duration
		p50, p99, high time.Duration
	}{
		{"empty", nil, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"two", ms(9, 1), time.Millisecond, 9 * time.Millisecond, 9 * time.Millisecond},
		{"hundred unsorted", ms(hundred...), 50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p50, p99, high := quantiles(tt.in)
			if p50 != tt.p50 || p99 != tt.p99 || high != tt.high {
				t.Errorf("quantiles = %s %s %s, want %s %s %s", p50, p99, high, tt.p50, tt.p99, tt.high)
			}
		})
	}
}

// TestFormat pins both output formats: bench/ntp-load.sh reads the TSV columns by position.
func TestFormat(t *testing.T) {
	r := Result{Sent: 1000, Replies: 990, Unsync: 3, Lost: 10, Stray: 2, Elapsed: 2 * time.Second,
		P50: 81500 * time.Nanosecond, P99: 340 * time.Microsecond, Max: 8 * time.Millisecond}
	o := Options{Server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1123}, Workers: 16, Sources: 4, InFlight: 2, Rate: 500, Requests: 5000, Duration: 6 * time.Second, Timeout: 200 * time.Millisecond}
	tests := []struct{ name, got string }{
		{"result.tsv", tsvColumns + "\n" + formatTSV(r)},
		{"result.txt", formatText(r, o)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden.Compare(t, *update, filepath.Join("testdata", tt.name), tt.got)
		})
	}
}

// TestUsage: bad flags fail with exit 2 before any packet is sent, and a non-loopback server
// is refused.
func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "-server"},
		{[]string{"-server", "192.0.2.1:123"}, "only loopback"},
		{[]string{"-server", "127.0.0.1:123", "-format", "xml"}, `-format "xml"`},
		{[]string{"-server", "127.0.0.1:123", "-sources", "300"}, "-sources 300"},
		{[]string{"-server", "127.0.0.1:123", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}
