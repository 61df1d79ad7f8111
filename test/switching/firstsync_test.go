package switching

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// Deadlines for the first sync. With iburst chronyd sends its first requests 2 s apart and
// is ready in seconds; without it they are 64 s apart (minpoll 6) and it takes minutes.
const (
	iburstWithin   = 30 * time.Second
	noIburstWithin = 6 * time.Minute
)

// TestFirstSyncBareHost runs the entrypoint (real chronyd -x) with dockur's documented
// environment and a bare host in NTP_SERVERS (quoted, as compose's list form leaves it),
// against a local chronyd upstream on port 123 of a loopback address of its own: it must be
// ready in seconds. Beside it, the same with NTP_IBURST=false, the opt-out, shows what a bare
// host gave before. Both times are printed.
func TestFirstSyncBareHost(t *testing.T) {
	pid := os.Getpid()
	addr := fmt.Sprintf("127.123.%d.%d", pid/250%250+1, pid%250+1)
	upstream := chronytest.Start(t, chronytest.Options{Addr: addr, Port: 123, Lines: []string{"local stratum 1", "allow 127.0.0.0/8"}})

	var mu sync.Mutex
	took := map[string]time.Duration{}
	t.Run("group", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			env    []string
			within time.Duration
		}{
			{"iburst", nil, iburstWithin},
			{"no-iburst", []string{"NTP_IBURST=false"}, noIburstWithin},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				c := entrypointtest.NewContainer(t, "")
				// dockur/chrony's compose file and Dockerfile ENV, with a bare host.
				c.Set(t, `NTP_SERVERS="`+upstream.Addr+`"`, "NTP_DIRECTIVES=ratelimit,rtcsync",
					"ENABLE_SYSCLK=false", "LOG_LEVEL=0", "TZ=America/Vancouver", "NOCLIENTLOG=", "LOG_FORMAT=json")
				c.Set(t, tt.env...)
				start := time.Now()
				p := entrypointtest.Start(t, bin, c.Env)
				entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, tt.within)
				d := time.Since(start)
				mu.Lock()
				took[tt.name] = d
				mu.Unlock()
				t.Logf("%s: ready %.1f s after start", tt.name, d.Seconds())

				conf, err := os.ReadFile(c.Run + "/chrony.conf")
				entrypointtest.Must(t, err)
				want := "server " + upstream.Addr + " iburst\n"
				if tt.name == "no-iburst" {
					want = "server " + upstream.Addr + "\n"
				}
				if !strings.Contains(string(conf), want) {
					t.Errorf("rendered file lacks %q:\n%s", want, conf)
				}
				if !strings.Contains(p.Logs.String(), "NOCLIENTLOG is set but empty: treated as unset") {
					t.Errorf("no notice about the empty NOCLIENTLOG in the log:\n%s", p.Logs)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	fmt.Printf("first sync with a bare host in NTP_SERVERS: %.1f s with iburst (default), %.1f s without (NTP_IBURST=false)\n",
		took["iburst"].Seconds(), took["no-iburst"].Seconds())
	if took["iburst"] >= took["no-iburst"] {
		t.Errorf("iburst (%v) was not faster than no iburst (%v)", took["iburst"], took["no-iburst"])
	}
}
