// Command fleet simulates the tiered layout on loopback (bench/fleet.sh runs it): many node
// clients (real chronyd -x) take time from a few in-cluster servers, which take it from one
// upstream; each client keeps a fallback ("public") source with lower preference. It prints:
//
//	(a) the upstream's NTP packets/s for several numbers of servers and clients: it follows the
//	    servers, not the clients;
//	(b) how many clients stay synchronised to a reachable source (the image's readiness
//	    judgement, pkg/health.Ready) when one server is killed, then all of them, with the
//	    fallback and, as the control, without it;
//	(c) the spread of the clients' offsets.
//
// Every chronyd runs with -x (this machine's clock is never touched), as root (-u root, so no
// per-instance user is needed), on 127.0.0.0/8 only. Poll intervals are scaled down 64-fold
// (1 s instead of chronyd's default 64 s) so that a run takes minutes; packet rates scale with
// them, ratios do not.
//
//	fleet -chronyd PATH [-clients 100] [-servers 3] [-work DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chris-short/chrony/pkg/chrony"
	"github.com/chris-short/chrony/pkg/health"
)

func main() {
	chronyd := flag.String("chronyd", "", "chronyd binary (scripts/fetch-chrony.sh)")
	clients := flag.Int("clients", 100, "node clients in the failure scenario")
	servers := flag.Int("servers", 3, "in-cluster servers in the failure scenario")
	work := flag.String("work", "", "scratch directory (default: a fresh one under /tmp)")
	skipLoad := flag.Bool("skip-load", false, "skip (a), the upstream load table")
	flag.Parse()
	if *chronyd == "" {
		fmt.Fprintln(os.Stderr, "fleet: -chronyd is required")
		os.Exit(2)
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("/tmp", "fleet")
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	b := &bench{chronyd: *chronyd, dir: dir, nextPort: 20000 + os.Getpid()%20000}
	err := b.run(*clients, *servers, !*skipLoad)
	b.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

type bench struct {
	errs     int
	firstErr error
	chronyd  string
	dir      string
	nextPort int
	mu       sync.Mutex
	all      []*instance
	seq      int
}

// instance is one chronyd.
type instance struct {
	name   string
	addr   string // loopback address it serves on ("" = serves nothing)
	port   int
	socket string
	cmd    *exec.Cmd
	done   chan struct{}
}

// noteErr counts a failed question to a client; phase prints the count and the first.
func (b *bench) noteErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs++
	if b.firstErr == nil {
		b.firstErr = err
	}
}

func (b *bench) port() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextPort++
	return b.nextPort
}

// start runs chronyd -x with the given directives and waits (10 s at most) for its socket.
func (b *bench) start(name, addr string, lines []string) (*instance, error) {
	b.mu.Lock()
	b.seq++
	d := filepath.Join(b.dir, fmt.Sprintf("%s-%d", name, b.seq))
	b.mu.Unlock()
	if err := os.MkdirAll(d, 0o750); err != nil { // chronyd refuses a socket dir others can reach
		return nil, err
	}
	in := &instance{name: name, addr: addr, socket: filepath.Join(d, "s"), done: make(chan struct{})}
	conf := []string{"cmdport 0", "bindcmdaddress " + in.socket, "pidfile " + filepath.Join(d, "pid")}
	if addr != "" {
		in.port = b.port()
		conf = append(conf, fmt.Sprintf("port %d", in.port), "bindaddress "+addr, "allow 127.0.0.0/8")
	} else {
		conf = append(conf, "port 0")
	}
	conf = append(conf, lines...)
	cf := filepath.Join(d, "chrony.conf")
	if err := os.WriteFile(cf, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(d, "log"))
	if err != nil {
		return nil, err
	}
	// -x: never the clock. -d: foreground. -U -u root: no user switch needed for a benchmark.
	in.cmd = exec.Command(b.chronyd, "-x", "-d", "-U", "-u", "root", "-f", cf)
	in.cmd.Stderr = log
	if err := in.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start chronyd %s: %w", name, err)
	}
	go func() { in.cmd.Wait(); log.Close(); close(in.done) }()
	b.mu.Lock()
	b.all = append(b.all, in)
	b.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(in.socket); err == nil {
			return in, nil
		}
		select {
		case <-in.done:
			return nil, fmt.Errorf("chronyd %s exited at start (log %s)", name, filepath.Join(d, "log"))
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("chronyd %s: no socket within 10s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends one chronyd with SIGTERM and waits for it (5 s, then SIGKILL).
func (in *instance) stop() {
	if in.cmd.Process == nil {
		return
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(5 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
	}
}

func (b *bench) stopAll() {
	b.mu.Lock()
	all := b.all
	b.all = nil
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Add(1)
		go func() { defer wg.Done(); in.stop() }()
	}
	wg.Wait()
}

func (in *instance) source(opts string) string {
	return fmt.Sprintf("server %s port %d iburst %s", in.addr, in.port, opts)
}

// query dials in's command socket for one request.
func (b *bench) query(ctx context.Context, in *instance, fn func(c *chrony.Client) error) error {
	// A directory of its own for the client sockets: Dial sweeps it of dead clients' dirs.
	q := filepath.Join(b.dir, "q")
	if err := os.MkdirAll(q, 0o755); err != nil {
		return err
	}
	c, err := chrony.Dial(ctx, in.socket, q)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

func (b *bench) ntpHits(in *instance) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n uint64
	err := b.query(ctx, in, func(c *chrony.Client) error {
		st, err := chrony.GetServerStats(ctx, c)
		if err == nil {
			n = st.NTPHits
		}
		return err
	})
	return n, err
}

// fleet is one simulated cluster.
type fleet struct {
	upstream, fallback *instance
	servers, clients   []*instance
}

// Poll intervals, scaled down 64-fold from chronyd's defaults (see the package comment).
const (
	serverPoll   = "minpoll 0 maxpoll 0 prefer"
	fallbackPoll = "minpoll 2 maxpoll 2" // four times slower: the public pool's share stays small
)

// build starts an upstream, a fallback, nServers servers and nClients clients.
func (b *bench) build(nServers, nClients int, withFallback bool) (*fleet, error) {
	f := &fleet{}
	var err error
	if f.upstream, err = b.start("upstream", "127.0.0.1", []string{"local stratum 1"}); err != nil {
		return nil, err
	}
	if withFallback {
		if f.fallback, err = b.start("fallback", "127.0.0.200", []string{"local stratum 1"}); err != nil {
			return nil, err
		}
	}
	for i := range nServers {
		s, err := b.start("server", fmt.Sprintf("127.0.0.%d", 2+i), []string{f.upstream.source("minpoll 0 maxpoll 0")})
		if err != nil {
			return nil, err
		}
		f.servers = append(f.servers, s)
	}
	var lines []string
	for _, s := range f.servers {
		lines = append(lines, s.source(serverPoll))
	}
	if withFallback {
		lines = append(lines, f.fallback.source(fallbackPoll))
	}
	// Start clients in parallel batches: a few seconds for hundreds.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 16)
	for range nClients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := b.start("node", "", lines)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = cmpOr(firstErr, err)
				return
			}
			f.clients = append(f.clients, c)
		}()
	}
	wg.Wait()
	return f, firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// clientState is one client's view at one moment.
type clientState struct {
	ready  bool
	ref    string  // address of the reference (selected source)
	offset float64 // seconds: chronyd's last measured offset
}

// survey asks every client, in parallel, for its readiness, reference and offset.
func (b *bench) survey(f *fleet) []clientState {
	out := make([]clientState, len(f.clients))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, c := range f.clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := b.query(ctx, c, func(cl *chrony.Client) error {
				r := health.Ready(ctx, cl, health.Thresholds{MaxDistance: time.Second})
				tr, err := chrony.Tracking(ctx, cl)
				if err != nil {
					return err
				}
				out[i] = clientState{ready: r.OK, ref: tr.IPAddr.String(), offset: tr.LastOffset}
				return nil
			})
			if err != nil {
				b.noteErr(fmt.Errorf("ask client %s: %w", c.socket, err))
			}
		}()
	}
	wg.Wait()
	return out
}

func countReady(st []clientState) (ready int) {
	for _, s := range st {
		if s.ready {
			ready++
		}
	}
	return ready
}

func countRef(st []clientState, addr string) (n int) {
	for _, s := range st {
		if s.ready && s.ref == addr {
			n++
		}
	}
	return n
}

// waitAllReady waits (bounded) until every client is ready; returns how long it took.
func (b *bench) waitAllReady(f *fleet, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		st := b.survey(f)
		if r := countReady(st); r == len(f.clients) {
			return time.Since(start), nil
		} else if time.Since(start) > limit {
			return 0, fmt.Errorf("%d of %d clients ready after %s", r, len(f.clients), limit)
		}
		time.Sleep(time.Second)
	}
}

// rate measures in's NTP packets/s over window.
func (b *bench) rate(in *instance, window time.Duration) (float64, error) {
	a, err := b.ntpHits(in)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(window)
	z, err := b.ntpHits(in)
	if err != nil {
		return 0, err
	}
	return float64(z-a) / time.Since(start).Seconds(), nil
}

func (b *bench) run(nClients, nServers int, load bool) error {
	started := time.Now()
	fmt.Printf("fleet: chronyd -x on loopback; polls scaled 64x down (servers and clients every 1 s, fallback every 4 s)\n\n")

	// (a) Upstream load against the numbers of servers and clients.
	fmt.Println("(a) upstream load")
	fmt.Printf("%8s %8s %14s %14s %14s\n", "servers", "clients", "upstream pkt/s", "servers pkt/s", "fallback pkt/s")
	for _, sc := range []struct{ servers, clients int }{{1, nClients}, {nServers, nClients}, {nServers, 2 * nClients}, {2 * nServers, 2 * nClients}} {
		if !load {
			break
		}
		f, err := b.build(sc.servers, sc.clients, true)
		if err != nil {
			return err
		}
		if _, err := b.waitAllReady(f, 90*time.Second); err != nil {
			return fmt.Errorf("servers %d clients %d: %w", sc.servers, sc.clients, err)
		}
		up, err := b.rate(f.upstream, 10*time.Second)
		if err != nil {
			return err
		}
		var srv float64
		for _, s := range f.servers {
			r, err := b.rate(s, 2*time.Second)
			if err != nil {
				return err
			}
			srv += r
		}
		fb, err := b.rate(f.fallback, 8*time.Second)
		if err != nil {
			return err
		}
		fmt.Printf("%8d %8d %14.1f %14.1f %14.1f\n", sc.servers, sc.clients, up, srv, fb)
		b.stopAll()
	}

	// (b) and (c): failures, with and without the fallback.
	for _, withFallback := range []bool{true, false} {
		label := "with the fallback source"
		if !withFallback {
			label = "control: no fallback source"
		}
		fmt.Printf("\n(b) %d clients, %d servers, %s\n", nClients, nServers, label)
		f, err := b.build(nServers, nClients, withFallback)
		if err != nil {
			return err
		}
		took, err := b.waitAllReady(f, 90*time.Second)
		if err != nil {
			return err
		}
		fmt.Printf("  all %d clients ready %.1f s after start\n", nClients, took.Seconds())
		if withFallback {
			printSpread(b.survey(f))
		}
		f.servers[0].stop()
		b.phase(f, fmt.Sprintf("server 1 of %d killed", nServers), 60*time.Second, f.servers[0].addr)
		for _, s := range f.servers[1:] {
			s.stop()
		}
		b.phase(f, "all servers killed", 90*time.Second, "")
		b.stopAll()
	}
	fmt.Printf("\nfleet: done in %s\n", time.Since(started).Round(time.Second))
	return nil
}

// phase samples the clients every second for d after a failure and prints the fewest ready
// clients seen, when no client was left on the dead server gone (when given), and where the
// clients' references are at the end: a live server, the fallback, or a dead server (chronyd
// keeps a dead source's recent samples until they are older than the history of the reachable
// ones; the clock runs on, and the readiness judgement passes while a reachable candidate exists).
func (b *bench) phase(f *fleet, what string, d time.Duration, gone string) {
	start := time.Now()
	minReady := len(f.clients)
	var settled time.Duration = -1
	for time.Since(start) < d {
		st := b.survey(f)
		minReady = min(minReady, countReady(st))
		if settled < 0 && gone != "" && countRef(st, gone) == 0 && countReady(st) == len(f.clients) {
			settled = time.Since(start)
			break
		}
		time.Sleep(time.Second)
	}
	final := b.survey(f)
	live, fallback, dead := 0, 0, 0
	for _, s := range final {
		switch {
		case f.fallback != nil && s.ref == f.fallback.addr:
			fallback++
		case slices.ContainsFunc(f.servers, func(in *instance) bool { return in.addr == s.ref && in.running() }):
			live++
		default:
			dead++
		}
	}
	fmt.Printf("  %s: fewest ready %d/%d over %s", what, minReady, len(f.clients), time.Since(start).Round(time.Second))
	if settled >= 0 {
		fmt.Printf(" (none left on it after %.0f s)", settled.Seconds())
	}
	fmt.Printf("; at the end ready %d/%d, referencing a live server %d, the fallback %d, a dead server %d\n",
		countReady(final), len(f.clients), live, fallback, dead)
	b.mu.Lock()
	if b.errs > 0 {
		fmt.Printf("  (%d questions to clients failed; the first: %v)\n", b.errs, b.firstErr)
		b.errs, b.firstErr = 0, nil
	}
	b.mu.Unlock()
}

func (in *instance) running() bool {
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// printSpread prints the clients' offsets: (c).
func printSpread(st []clientState) {
	var offs []float64
	for _, s := range st {
		if s.ready {
			offs = append(offs, s.offset)
		}
	}
	if len(offs) == 0 {
		fmt.Println("  (c) no ready client to measure")
		return
	}
	slices.Sort(offs)
	abs := make([]float64, len(offs))
	for i, o := range offs {
		abs[i] = math.Abs(o)
	}
	slices.Sort(abs)
	q := func(s []float64, p float64) float64 { return s[int(math.Round(p*float64(len(s)-1)))] }
	fmt.Printf("  (c) offsets of %d clients: spread (max-min) %.1f us; |offset| median %.1f us, p99 %.1f us, max %.1f us\n",
		len(offs), (offs[len(offs)-1]-offs[0])*1e6, q(abs, 0.5)*1e6, q(abs, 0.99)*1e6, abs[len(abs)-1]*1e6)
}
