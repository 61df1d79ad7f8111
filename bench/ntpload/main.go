package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the load and prints the result; it returns the exit code (2 for usage
// errors, 1 for a failed run).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ntpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "NTP server `host:port` (a loopback address)")
	var o Options
	fs.IntVar(&o.Workers, "workers", 16, "concurrent UDP sockets (distinct source ports)")
	fs.IntVar(&o.Sources, "sources", 1, "source addresses 127.0.0.1..127.0.0.N the sockets are spread over")
	fs.IntVar(&o.InFlight, "inflight", 1, "outstanding requests per socket (1: closed loop)")
	fs.Float64Var(&o.Rate, "rate", 0, "total requests per second (0: as fast as -inflight allows)")
	fs.Int64Var(&o.Requests, "requests", 1_000_000, "stop after this many requests")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "stop sending after this long")
	fs.DurationVar(&o.Timeout, "timeout", 200*time.Millisecond, "a request without a reply after this long is lost")
	format := fs.String("format", "text", "`text` for people, `tsv` for scripts (one line: "+tsvColumns+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ntpload: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *format != "text" && *format != "tsv" {
		fmt.Fprintf(stderr, "ntpload: -format %q: want text or tsv\n", *format)
		return 2
	}
	addr, err := net.ResolveUDPAddr("udp4", *server)
	if err != nil {
		fmt.Fprintf(stderr, "ntpload: -server %q: %v\n", *server, err)
		return 2
	}
	if !addr.IP.IsLoopback() {
		// A load generator pointed at someone else's server is an attack, not a benchmark.
		fmt.Fprintf(stderr, "ntpload: -server %q: only loopback addresses are allowed\n", *server)
		return 2
	}
	o.Server = addr
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "ntpload: %v\n", err)
		return 2
	}

	log, err := zap.NewDevelopment(zap.AddStacktrace(zap.FatalLevel))
	if err != nil {
		fmt.Fprintf(stderr, "ntpload: logger: %v\n", err)
		return 1
	}
	defer log.Sync() //nolint:errcheck // stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := Run(ctx, o, log)
	if err != nil {
		fmt.Fprintf(stderr, "ntpload: %v\n", err)
		return 1
	}
	if *format == "tsv" {
		fmt.Fprint(stdout, formatTSV(r))
	} else {
		fmt.Fprint(stdout, formatText(r, o))
	}
	if r.Sent == 0 {
		fmt.Fprintln(stderr, "ntpload: no request could be sent")
		return 1
	}
	return 0
}

// tsvColumns names formatTSV's fields, in order.
const tsvColumns = "sent replies lost loss_pct replies_per_s p50_us p99_us max_us unsync stray elapsed_s"

// formatTSV is one tab-separated line in tsvColumns' order, latencies in microseconds.
func formatTSV(r Result) string {
	return fmt.Sprintf("%d\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.3f\n",
		r.Sent, r.Replies, r.Lost, r.LossPercent(), r.RepliesPerSecond(),
		us(r.P50), us(r.P99), us(r.Max), r.Unsync, r.Stray, r.Elapsed.Seconds())
}

// formatText is the report for people.
func formatText(r Result, o Options) string {
	rate := "unpaced"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%g/s", o.Rate)
	}
	return fmt.Sprintf("ntpload %s: %d sockets from %d address(es), %d in flight each, %s, at most %d requests or %s\n"+
		"sent      %d\nreplies   %d (%d unsynchronised)\nlost      %d (%.2f%%)\nstray     %d\n"+
		"replies/s %.0f over %.3fs\nlatency   p50 %.1fus  p99 %.1fus  max %.1fus\n",
		o.Server, o.Workers, o.Sources, o.InFlight, rate, o.Requests, o.Duration,
		r.Sent, r.Replies, r.Unsync, r.Lost, r.LossPercent(), r.Stray,
		r.RepliesPerSecond(), r.Elapsed.Seconds(), us(r.P50), us(r.P99), us(r.Max))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
