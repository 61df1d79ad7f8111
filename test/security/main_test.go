package security

import (
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint, built once like the image builds it, in a directory nobody may enter
// (the entrypoint drops to nobody).
var bin string

func TestMain(m *testing.M) { entrypointtest.Main(m, &bin) }

// container is an entrypointtest.Container with the entrypoint running in it once started.
type container struct {
	*entrypointtest.Container
	proc *entrypointtest.Proc
}

// newContainer lays out a container serving 127.0.0.1 and syncing to upstream (nil: no source
// at all, only the variables the caller adds). CLOCK_CONTROL=off: chronyd always gets -x.
func newContainer(t *testing.T, upstream *chronytest.Instance) *container {
	t.Helper()
	if upstream == nil {
		c := &container{Container: entrypointtest.NewContainer(t, "")}
		c.Unset(t, "NTP_SERVERS")
		return c
	}
	return &container{Container: entrypointtest.NewContainer(t, upstream.SourceEntry())}
}

// start runs the entrypoint; it gets SIGTERM, then SIGKILL after 5 s, when the test ends.
func (c *container) start(t *testing.T) {
	t.Helper()
	c.proc = entrypointtest.Start(t, bin, c.Env)
}

// waitProbe runs `entrypoint probe <which>` until it exits 0, at most within deadline.
func (c *container) waitProbe(t *testing.T, which string, deadline time.Duration) {
	t.Helper()
	entrypointtest.WaitProbe(t, bin, c.proc, c.Env, which, 0, deadline)
}

// chronydPID reads chronyd's pidfile in RUN_DIR.
func (c *container) chronydPID(t *testing.T) int {
	t.Helper()
	return entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid"))
}

// metrics returns /metrics' body.
func (c *container) metrics(t *testing.T) string {
	t.Helper()
	body, code, err := get("http://"+c.HTTPAddr+"/metrics", 5*time.Second)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	return body
}

// metricValue is the value of an unlabelled sample in exposition text, or -1 when absent.
func metricValue(body, name string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func get(url string, timeout time.Duration) (string, int, error) {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), resp.StatusCode, err
}
