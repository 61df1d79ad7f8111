package k8s

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	serverSelector = "app.kubernetes.io/name=chrony,app.kubernetes.io/component=server"
	nodeSelector   = "app.kubernetes.io/name=chrony,app.kubernetes.io/component=node-clock"
)

// clusterEdits returns the test's edits for a file of kubernetes/.
func clusterEdits(t *testing.T, file, image string, httpPort int) edits {
	switch file {
	case "deployment.yaml", "nts.yaml":
		return edits{Image: image, Sources: upstreamSource()}
	case "daemonset.yaml":
		return edits{Image: image, Sources: upstreamSource(), HTTPAddr: fmt.Sprintf(":%d", httpPort),
			HostPath: filepath.Join(k8s.hostPath, "var-lib-chrony")}
	}
	t.Fatalf("kubernetes/%s: no test edits known for it", file)
	return edits{}
}

// applyAsREADME applies a copy of every file the README's `kubectl apply -f kubernetes/...`
// commands name, in the README's order, after checking that each copy differs from the file
// only by the allowed edits.
func applyAsREADME(t *testing.T, dir, image string, httpPort int) {
	t.Helper()
	for _, cmd := range readmeApplyCommands(t) {
		file := strings.TrimPrefix(cmd[3], "kubernetes/")
		orig := readManifest(t, repoRoot(t), file)
		e := clusterEdits(t, file, image, httpPort)
		c := testCopy(orig, e)
		for i := range orig {
			if bad := unexpectedEdits(orig[i], c[i], allowedPaths(e)); len(bad) > 0 {
				t.Fatalf("the test's copy of kubernetes/%s changes more than the allowed edits:\n%s", file, strings.Join(bad, "\n"))
			}
		}
		apply(t, dir, file, c)
	}
}

// TestCluster runs the manifests on the cluster, in the order a user meets them. Each step needs
// the ones before it.
func TestCluster(t *testing.T) {
	needCluster(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	dsHTTP := l.Addr().(*net.TCPAddr).Port
	l.Close()

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"kubectl apply as the README says", func(t *testing.T) {
			applyAsREADME(t, dir, imageV1, dsHTTP)
			assertStoredSafe(t)
		}},
		{"Deployment and DaemonSet Ready", func(t *testing.T) {
			kubectl(t, "-n", "chrony", "rollout", "status", "deployment/chrony", "--timeout=240s")
			kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/chrony", "--timeout=240s")
			for _, p := range append(pods(t, "chrony", serverSelector), pods(t, "kube-system", nodeSelector)...) {
				if !podReady(p) {
					t.Errorf("pod %s/%s not Ready", p.Namespace, p.Name)
				}
				assertHTTPProbesPass(t, p)
			}
			assertStoredSafe(t)
		}},
		{"Services and PodDisruptionBudget", func(t *testing.T) {
			var svc corev1.Service
			getJSON(t, &svc, "-n", "chrony", "get", "service", "chrony-pool")
			if svc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("chrony-pool clusterIP %q, want None (headless)", svc.Spec.ClusterIP)
			}
			getJSON(t, &svc, "-n", "chrony", "get", "service", "chrony")
			if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Errorf("chrony has no ClusterIP")
			}
			kubectl(t, "-n", "chrony", "get", "poddisruptionbudget", "chrony")
			for _, s := range []string{"chrony", "chrony-pool"} {
				if got := readyEndpoints(t, "chrony", s); len(got) != 3 {
					t.Errorf("service %s: ready endpoints %v, want the 3 server pods", s, got)
				}
			}
		}},
		{"restricted Pod Security", func(t *testing.T) {
			if n := len(pods(t, "chrony", serverSelector)); n != 3 {
				t.Errorf("%d server pods admitted, want 3", n)
			}
			priv := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"privileged","namespace":"chrony"},
"spec":{"containers":[{"name":"c","image":%q,"imagePullPolicy":"Never","securityContext":{"privileged":true}}]}}`, imageV1)
			p := filepath.Join(dir, "privileged.json")
			if err := os.WriteFile(p, []byte(priv), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := k8sRun("apply", "--dry-run=server", "-f", p)
			if err == nil {
				t.Fatalf("a privileged pod was admitted in the restricted namespace: %s", out)
			}
			if !strings.Contains(out, `violates PodSecurity "restricted:latest"`) {
				t.Errorf("privileged pod rejected, but not by Pod Security: %s", out)
			}
		}},
		{"chronyc and probes inside the pods, metrics from a pod IP", func(t *testing.T) {
			for _, p := range pods(t, "chrony", serverSelector) {
				f := tracking(t, p.Namespace, p.Name)
				if f["Leap status"] != "Normal" || f["Stratum"] != "2" {
					t.Errorf("%s: tracking %v, want leap Normal, stratum 2 (upstream is stratum 1)", p.Name, f)
				}
				for _, probe := range []string{"live", "ready"} {
					if out, err := execIn(p.Namespace, p.Name, "/usr/local/bin/entrypoint", "probe", probe); err != nil {
						t.Errorf("%s: probe %s: %v\n%s", p.Name, probe, err, out)
					}
				}
				body, err := scrape(fmt.Sprintf("http://%s:9123/metrics", p.Status.PodIP))
				if err != nil {
					t.Errorf("%s: scrape: %v", p.Name, err)
				}
				for _, want := range []string{"\nchrony_up 1\n", "\nchrony_tracking_stratum 2\n"} {
					if !strings.Contains(body, want) {
						t.Errorf("%s: /metrics lacks %q", p.Name, strings.TrimSpace(want))
					}
				}
			}
			for _, p := range pods(t, "kube-system", nodeSelector) {
				if f := tracking(t, p.Namespace, p.Name); f["Leap status"] != "Normal" {
					t.Errorf("%s: tracking %v, want leap Normal", p.Name, f)
				}
				if out, err := execIn(p.Namespace, p.Name, "/usr/local/bin/entrypoint", "probe", "ready"); err != nil {
					t.Errorf("%s: probe ready: %v\n%s", p.Name, err, out)
				}
				if _, err := scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", dsHTTP)); err != nil {
					t.Errorf("%s: scrape on the node: %v", p.Name, err)
				}
			}
		}},
		{"readiness gates the endpoints", func(t *testing.T) {
			kubectl(t, "-n", upstreamNS, "delete", "pod", upstreamName, "--wait=true")
			start := time.Now()
			waitFor(t, 3*time.Minute, "servers without upstream leave the EndpointSlices", func() (bool, string) {
				a, b := readyEndpoints(t, "chrony", "chrony"), readyEndpoints(t, "chrony", "chrony-pool")
				return len(a) == 0 && len(b) == 0, fmt.Sprintf("ready: chrony %v, chrony-pool %v", a, b)
			})
			t.Logf("endpoints empty %s after the upstream went", time.Since(start).Round(time.Second))
			for _, p := range pods(t, "chrony", serverSelector) {
				if p.Status.PodIP == "" || podReady(p) {
					t.Errorf("%s: ready without an upstream", p.Name)
				}
			}
			ctx, cancel := contextTimeout(3 * time.Minute)
			defer cancel()
			if err := k8s.startUpstream(ctx, false); err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			waitFor(t, 3*time.Minute, "servers back in the EndpointSlices", func() (bool, string) {
				a, b := readyEndpoints(t, "chrony", "chrony"), readyEndpoints(t, "chrony", "chrony-pool")
				return len(a) == 3 && len(b) == 3, fmt.Sprintf("ready: chrony %v, chrony-pool %v", a, b)
			})
			t.Logf("endpoints back %s after the upstream returned", time.Since(start).Round(time.Second))
		}},
		{"rolling update of the Deployment keeps time served", func(t *testing.T) {
			old := pods(t, "chrony", serverSelector)
			w := watchPods(t, "chrony", serverSelector)
			s := startServingSampler(t)
			applyFile(t, dir, "deployment.yaml", imageV2, dsHTTP)
			kubectl(t, "-n", "chrony", "rollout", "status", "deployment/chrony", "--timeout=300s")
			waitFor(t, 2*time.Minute, "old server pods gone", func() (bool, string) {
				now := pods(t, "chrony", serverSelector)
				for _, p := range now {
					for _, o := range old {
						if p.Name == o.Name {
							return false, "still there: " + p.Name
						}
					}
				}
				return len(now) == 3, fmt.Sprintf("%d pods", len(now))
			})
			s.stopAndCheck(t)
			assertCleanStops(t, w.stop(), len(old))
			for _, p := range pods(t, "chrony", serverSelector) {
				if p.Spec.Containers[0].Image != imageV2 {
					t.Errorf("%s runs %s after the update, want %s", p.Name, p.Spec.Containers[0].Image, imageV2)
				}
			}
			assertStoredSafe(t)
		}},
		{"rolling update of the DaemonSet; clean stop, drift file on the hostPath", func(t *testing.T) {
			drift := filepath.Join(k8s.hostPath, "var-lib-chrony", "drift")
			os.Remove(drift)
			w := watchPods(t, "kube-system", nodeSelector)
			applyFile(t, dir, "daemonset.yaml", imageV2, dsHTTP)
			kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/chrony", "--timeout=300s")
			waitFor(t, 2*time.Minute, "the old node-clock pod's end", func() (bool, string) {
				w.mu.Lock()
				defer w.mu.Unlock()
				return len(w.deleted) >= 1, "no pod deleted yet"
			})
			assertCleanStops(t, w.stop(), 1)
			st, err := os.Stat(drift)
			if err != nil || st.Size() == 0 {
				t.Errorf("no drift file on the hostPath after the old pod stopped: %v", err)
			}
			assertStoredSafe(t)
		}},
		{"tiered: the DaemonSet prefers the server pods, and keeps time through the fallback without them", func(t *testing.T) {
			// The documented tiered sources (daemonset.yaml), with addresses for names: no
			// cluster DNS here. In-cluster servers with prefer; the fallback (the test's
			// upstream stands in for the public pool) without.
			var ips, sources []string
			for _, p := range pods(t, "chrony", serverSelector) {
				ips = append(ips, p.Status.PodIP)
				sources = append(sources, p.Status.PodIP+" iburst prefer minpoll 0 maxpoll 0")
			}
			sources = append(sources, upstreamSource())
			orig := readManifest(t, repoRoot(t), "daemonset.yaml")
			e := clusterEdits(t, "daemonset.yaml", imageV2, dsHTTP)
			e.Sources = strings.Join(sources, ",")
			apply(t, dir, "daemonset.yaml", testCopy(orig, e))
			kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/chrony", "--timeout=300s")
			var node string
			waitFor(t, 3*time.Minute, "node clock synchronised to a server pod", func() (bool, string) {
				ps := pods(t, "kube-system", nodeSelector)
				if len(ps) != 1 || !podReady(ps[0]) {
					return false, fmt.Sprintf("%d node pods, not ready", len(ps))
				}
				node = ps[0].Name
				f := tracking(t, ps[0].Namespace, ps[0].Name)
				m := referenceIP.FindStringSubmatch(f["Reference ID"])
				return f["Stratum"] == "3" && m != nil && slices.Contains(ips, m[1]) && f["Leap status"] == "Normal",
					fmt.Sprintf("tracking %v, server pods %v", f, ips)
			})
			assertStoredSafe(t)

			// All server pods gone: the node keeps serving time (probe ready passes: a reachable
			// candidate, the fallback) for as long as the servers' readiness took to fail.
			kubectl(t, "-n", "chrony", "scale", "deployment/chrony", "--replicas=0")
			waitFor(t, 2*time.Minute, "server pods gone", func() (bool, string) {
				n := len(pods(t, "chrony", serverSelector))
				return n == 0, fmt.Sprintf("%d left", n)
			})
			for end := time.Now().Add(40 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
				if out, err := execIn("kube-system", node, "/usr/local/bin/entrypoint", "probe", "ready"); err != nil {
					t.Fatalf("node clock not ready without the server pods, despite the fallback: %v\n%s", err, out)
				}
			}
			kubectl(t, "-n", "chrony", "scale", "deployment/chrony", "--replicas=3")
			kubectl(t, "-n", "chrony", "rollout", "status", "deployment/chrony", "--timeout=240s")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			// What the cluster looked like, for the failure's cause.
			for _, args := range [][]string{{"get", "pods", "--all-namespaces", "-o", "wide"},
				{"get", "events", "--all-namespaces", "--field-selector", "type=Warning"}} {
				out, _ := k8sRun(args...)
				t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
			}
			t.Fatalf("step %q failed; the later steps need it", s.name)
		}
	}
}

// assertHTTPProbesPass checks, on a pod as the API server stored it, that the chrony container's
// probes are the manifests' httpGet probes (GET /healthz and /readyz on the metrics port, no
// exec) and that the kubelet found them passing: started (startup probe), ready (readiness
// probe) and never restarted (liveness probe).
func assertHTTPProbesPass(t *testing.T, p corev1.Pod) {
	t.Helper()
	var metricsPort int32
	for _, c := range p.Spec.Containers {
		if c.Name != "chrony" {
			continue
		}
		for _, port := range c.Ports {
			if port.Name == "metrics" {
				metricsPort = port.ContainerPort
			}
		}
		for kind, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			want := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}[kind]
			if pr == nil || pr.Exec != nil || pr.HTTPGet == nil || pr.HTTPGet.Path != want || pr.HTTPGet.Port.String() != "metrics" {
				t.Errorf("%s/%s: stored %s probe %+v, want httpGet %s on port metrics", p.Namespace, p.Name, kind, pr, want)
			}
		}
	}
	if metricsPort == 0 {
		t.Errorf("%s/%s: no metrics port for the httpGet probes", p.Namespace, p.Name)
	}
	found := false
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != "chrony" {
			continue
		}
		found = true
		if cs.Started == nil || !*cs.Started || !cs.Ready || cs.RestartCount != 0 {
			t.Errorf("%s/%s: chrony started %v ready %v restarts %d: want the httpGet probes passing (started, ready, no restart)",
				p.Namespace, p.Name, cs.Started, cs.Ready, cs.RestartCount)
		}
	}
	if !found {
		t.Errorf("%s/%s: no chrony container status", p.Namespace, p.Name)
	}
}

// k8sRun runs kubectl and returns its combined output and error, without failing.
func k8sRun(args ...string) (string, error) {
	ctx, cancel := contextTimeout(3 * time.Minute)
	defer cancel()
	return k8s.run(ctx, nil, args...)
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// applyFile applies the test's copy of kubernetes/<file> with image.
func applyFile(t *testing.T, dir, file, image string, httpPort int) {
	t.Helper()
	apply(t, dir, file, testCopy(readManifest(t, repoRoot(t), file), clusterEdits(t, file, image, httpPort)))
}

// servingSampler checks, twice a second while a rollout runs, that at least one server is in
// the Service's ready endpoints and that one of them answers NTP synchronised.
type servingSampler struct {
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	samples  int
	failures []string
	minReady int
	// endpointMisses counts ready endpoints that did not answer while another did.
	endpointMisses int
}

func startServingSampler(t *testing.T) *servingSampler {
	s := &servingSampler{stop: make(chan struct{}), done: make(chan struct{}), minReady: 1 << 30}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			ready, err := readyEndpointsErr("chrony", "chrony")
			s.mu.Lock()
			s.samples++
			switch {
			case err != nil:
				s.failures = append(s.failures, err.Error())
			case len(ready) == 0:
				s.failures = append(s.failures, time.Now().Format(time.TimeOnly)+": no ready endpoint")
			default:
				// Time is served when one ready endpoint answers synchronised. One that does
				// not is counted apart: a pod that got SIGTERM stops answering a moment
				// before the EndpointSlice drops it (kube-proxy has the same window).
				var misses []string
				served := false
				for j := range ready {
					addr := ready[(i+j)%len(ready)]
					st, leap, err := ntpQuery(net.JoinHostPort(addr, "123"))
					if err == nil && leap != 3 && st >= 1 && st <= 15 {
						served = true
						break
					}
					misses = append(misses, fmt.Sprintf("%s: stratum %d leap %d err %v", addr, st, leap, err))
				}
				s.endpointMisses += len(misses)
				if !served {
					s.failures = append(s.failures, fmt.Sprintf("%s: no ready endpoint served time: %v", time.Now().Format(time.TimeOnly), misses))
				}
			}
			s.minReady = min(s.minReady, len(ready))
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *servingSampler) stopAndCheck(t *testing.T) {
	t.Helper()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Logf("rollout: %d samples, at least %d ready servers at every sample; %d answers missing from an endpoint still listed ready",
		s.samples, s.minReady, s.endpointMisses)
	if s.samples < 4 {
		t.Errorf("only %d samples: the rollout was not watched", s.samples)
	}
	for _, f := range s.failures {
		t.Errorf("time not served: %s", f)
	}
}
