package monitoring

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/proctest"
	"github.com/chris-short/chrony/internal/testcert"
)

// TestRealPrometheus: Debian's Prometheus scrapes two real entrypoints (chronyd -x, synced to
// two loopback upstreams) every second with the repository's rules loaded. Every series a
// rule or a dashboard panel uses returns data, /metrics passes `promtool check metrics`, and
// once the upstreams stop, the expressions of ChronyNotSynchronised and
// ChronyTooFewReachableSources turn true for both nodes (the alerts go pending).
func TestRealPrometheus(t *testing.T) {
	ups := make([]*chronytest.Instance, 2)
	for i, addr := range []string{"127.0.0.1", "127.0.0.2"} {
		ups[i] = chronytest.Start(t, chronytest.Options{Addr: addr, Lines: []string{"local stratum 1", "allow 127.0.0.0/8"}})
	}
	var nodes []string
	var procs []*entrypointtest.Proc
	for i := range 2 {
		c := entrypointtest.NewContainer(t, entrypointtest.Sources(ups...))
		if i == 0 {
			// One node serves NTS, so the NTS series the rules use exist.
			tls := filepath.Join(c.Base, "tls")
			entrypointtest.Must(t, os.Mkdir(tls, 0o755))
			p := testcert.Write(t, tls, []string{"localhost"}, nil, entrypointtest.ChronyUID, entrypointtest.ChronyGID, 0o400)
			c.Set(t, "NTS_SERVER_CERT="+p.Cert, "NTS_SERVER_KEY="+p.Key, "NTS_PORT="+strconv.Itoa(chronytest.FreeTCPPort(t)))
		}
		procs = append(procs, entrypointtest.Start(t, bin, c.Env))
		nodes = append(nodes, c.HTTPAddr)
	}
	logs := func() string {
		var b strings.Builder
		for i, p := range procs {
			fmt.Fprintf(&b, "--- node %d:\n%s\n", i, p.Logs.String())
		}
		return b.String()
	}
	prom := startPrometheus(t, nodes)

	prom.waitCount(t, `up{job="chrony"} == 1`, 2, 60*time.Second, logs)
	prom.waitCount(t, `chrony_container_ready{reason="synchronised"} == 1`, 2, 60*time.Second, logs)
	prom.waitCount(t, `count_over_time(chrony_up[30s]) >= 3`, 2, 30*time.Second, logs)

	// Every collector answers, the clients collector included (the nodes serve NTP).
	prom.waitCount(t, `chrony_up == 1`, 2, 5*time.Second, logs)
	prom.waitCount(t, `chrony_clients_connected{protocol="ntp"}`, 2, 5*time.Second, logs)
	// The clock-control reason is a short code, not a sentence.
	prom.waitCount(t, `chrony_container_clock_control{reason="clock_control_off"} == 0`, 2, 5*time.Second, logs)

	rules := readRules(t)
	t.Run("rules", func(t *testing.T) {
		for _, r := range rules {
			if r.Record != "" {
				prom.waitCount(t, r.Record, -1, 30*time.Second, logs)
				continue
			}
			if _, err := prom.query(r.Expr); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
			for _, name := range seriesNames(r.Expr) {
				prom.waitCount(t, name, -1, 10*time.Second, logs)
			}
		}
	})
	t.Run("dashboard", func(t *testing.T) {
		for _, p := range readDashboard(t).allPanels() {
			for _, tg := range p.Targets {
				expr := strings.NewReplacer(`$job`, `chrony`, `$instance`, `.*`, `$__rate_interval`, `30s`).Replace(tg.Expr)
				prom.waitCount(t, expr, -1, 30*time.Second, logs)
			}
		}
	})
	t.Run("promtool check metrics", func(t *testing.T) {
		promtool := prometheusBin(t, "promtool")
		for _, n := range nodes {
			body := get(t, "http://"+n+"/metrics")
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(body)
			out, err := cmd.CombinedOutput()
			if err != nil || len(out) != 0 {
				t.Errorf("promtool check metrics on %s: %v\n%s", n, err, out)
			}
		}
	})

	alertExpr := map[string]string{}
	for _, r := range rules {
		alertExpr[r.Alert] = r.Expr
	}
	lost := []string{"ChronyNotSynchronised", "ChronyTooFewReachableSources"}
	for _, a := range lost {
		if n, err := prom.query(alertExpr[a]); err != nil || n != 0 {
			t.Fatalf("%s's expression with both upstreams answering: %d series, %v; want none", a, n, err)
		}
	}
	t0 := time.Now()
	for _, up := range ups {
		up.Stop()
	}
	for _, a := range lost {
		prom.waitCount(t, alertExpr[a], 2, 90*time.Second, logs)
		t.Logf("%s true for both nodes %v after the upstreams stopped", a, time.Since(t0).Round(time.Second))
	}
	prom.waitAlerts(t, lost, 2, 30*time.Second)
}

// prometheus is a running Prometheus and its HTTP API.
type prometheus struct {
	url string
	cmd *exec.Cmd
	log *entrypointtest.SyncBuffer
}

func startPrometheus(t *testing.T, targets []string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: chrony
    static_configs:
      - targets: [%s]
`, repoFile(t, rulesFile), strings.Join(quoted, ", "))
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(chronytest.FreeTCPPort(t))
	p := &prometheus{url: "http://" + addr, log: &entrypointtest.SyncBuffer{}}
	p.cmd = exec.Command(prometheusBin(t, "prometheus"),
		"--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	t.Cleanup(func() { proctest.Stop(t, "prometheus", p.cmd.Process, done, 10*time.Second) })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited:\n%s", p.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within 60s:\n%s", p.log)
		}
	}
	return p
}

// query runs an instant query and returns how many series it returned.
func (p *prometheus) query(expr string) (int, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("query %q: %w", expr, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %q: %s", expr, r.Error)
	}
	return len(r.Data.Result), nil
}

// waitCount waits (bounded) until expr returns want series (-1: at least one).
func (p *prometheus) waitCount(t *testing.T, expr string, want int, within time.Duration, logs func() string) {
	t.Helper()
	var n int
	var err error
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		n, err = p.query(expr)
		if err == nil && (n == want || (want < 0 && n > 0)) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("%s: %d series (%v) after %v, want %d\n%s\nprometheus:\n%s", expr, n, err, within, want, logs(), p.log)
}

// waitAlerts waits until each named alert is pending or firing for n series.
func (p *prometheus) waitAlerts(t *testing.T, names []string, n int, within time.Duration) {
	t.Helper()
	var got map[string]int
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		got = map[string]int{}
		var r struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(get(t, p.url+"/api/v1/alerts")), &r); err != nil {
			t.Fatal(err)
		}
		for _, a := range r.Data.Alerts {
			if a.State == "pending" || a.State == "firing" {
				got[a.Labels["alertname"]]++
			}
		}
		if !slices.ContainsFunc(names, func(s string) bool { return got[s] != n }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts pending or firing: %v; want %v for %d series each", got, names, n)
		}
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	quoted     = regexp.MustCompile(`"[^"]*"`)
)

// seriesNames are the metric and recorded names an expression selects.
func seriesNames(expr string) []string {
	var names []string
	for _, id := range identifier.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
		if (strings.HasPrefix(id, "chrony_") || strings.Contains(id, ":") || id == "up") && !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}
