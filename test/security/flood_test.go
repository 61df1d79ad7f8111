package security

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facebook/time/ntp/protocol"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// Flood bounds: this many client requests from one address, sent within floodTime at most.
const (
	floodRequests = 20000
	floodTime     = 5 * time.Second
	// probeDeadline is what each probe and scrape during the flood must answer within.
	probeDeadline = 2 * time.Second
)

// TestNTPFloodIsRateLimited floods the entrypoint's NTP port from 127.0.0.1 with the default
// rendered ratelimit and shows that chronyd drops most of it (serverstats drops > 0 and fewer
// replies than requests) while `entrypoint probe ready` and /metrics keep answering, each
// within probeDeadline.
func TestNTPFloodIsRateLimited(t *testing.T) {
	up := chronytest.StartUpstream(t)
	c := newContainer(t, up)
	c.start(t)
	c.waitProbe(t, "ready", 20*time.Second)
	before := metricValue(c.metrics(t), "chrony_serverstats_ntp_packets_dropped_total")

	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", c.NTPPort))
	entrypointtest.Must(t, err)
	defer conn.Close()
	var replies atomic.Int64
	readDone := make(chan struct{})
	floodOver := make(chan struct{}) // closed once the last request is sent
	go func() {
		defer close(readDone)
		buf := make([]byte, 1500)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			n, err := conn.Read(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// A second without replies ends the count only once the flood is over: on a
				// loaded machine the sender (or chronyd) can be off the CPU for a second
				// during the flood, and stopping then counted too few replies (or none).
				select {
				case <-floodOver:
					return
				default:
					continue
				}
			}
			if err == nil && n >= protocol.PacketSizeBytes {
				replies.Add(1)
			}
		}
	}()

	// Probes and scrapes run throughout the flood.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slow []string
	var probes, scrapes int
	// The flood starts once both loops have begun: on a loaded machine a goroutine can start
	// late enough to find the flood (a fraction of a second) and its replies already over.
	probing, scraping := make(chan struct{}), make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		close(probing)
		for ctx.Err() == nil {
			t0 := time.Now()
			r, err := entrypointtest.TryRun(bin, probeDeadline, c.Env, "probe", "ready")
			mu.Lock()
			probes++
			if err != nil || r.Code != 0 || time.Since(t0) > probeDeadline {
				slow = append(slow, fmt.Sprintf("probe ready: exit %d (%v) after %v: %s%s", r.Code, err, time.Since(t0), r.Stdout, r.Stderr))
			}
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		close(scraping)
		for ctx.Err() == nil {
			t0 := time.Now()
			_, code, err := get("http://"+c.HTTPAddr+"/metrics", probeDeadline)
			mu.Lock()
			scrapes++
			if err != nil || code != http.StatusOK {
				slow = append(slow, fmt.Sprintf("GET /metrics: %d %v after %v", code, err, time.Since(t0)))
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()

	for _, started := range []chan struct{}{probing, scraping} {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("probe and scrape loops did not start within 10 s")
		}
	}

	req := &protocol.Packet{Settings: 0x23} // LI 0, version 4, mode 3 (client)
	t0 := time.Now()
	sent := 0
	for ; sent < floodRequests && time.Since(t0) < floodTime; sent++ {
		sec, frac := protocol.Time(time.Now())
		req.TxTimeSec, req.TxTimeFrac = sec, frac
		b, err := req.Bytes()
		entrypointtest.Must(t, err)
		if _, err := conn.Write(b); err != nil {
			// A full socket buffer or an ICMP error: count it as not sent.
			sent--
		}
		if sent%500 == 0 {
			time.Sleep(time.Millisecond) // let the reader and chronyd keep up a little
		}
	}
	flood := time.Since(t0)
	close(floodOver)
	<-readDone
	stop()
	wg.Wait()

	after := metricValue(c.metrics(t), "chrony_serverstats_ntp_packets_dropped_total")
	got := replies.Load()
	t.Logf("sent %d requests in %v; %d replies; chronyd dropped %v; %d probes and %d scrapes during the flood",
		sent, flood, got, after-before, probes, scrapes)
	if sent < floodRequests/2 {
		t.Fatalf("only %d of %d requests sent in %v", sent, floodRequests, floodTime)
	}
	if after-before <= 0 {
		t.Errorf("ntp_packets_dropped_total went from %v to %v, want an increase", before, after)
	}
	if got >= int64(sent) || got == 0 {
		t.Errorf("%d replies to %d requests: want some, and fewer than requests", got, sent)
	}
	if probes == 0 || scrapes == 0 {
		t.Errorf("%d probes and %d scrapes ran during the flood, want some of each", probes, scrapes)
	}
	for _, s := range slow {
		t.Error(s)
	}
}
