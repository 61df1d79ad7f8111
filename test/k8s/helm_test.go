package k8s

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/pkg/config"
)

// chartLabels are the labels the chart adds to every object's metadata; the default render
// equals kubernetes/*.yaml apart from them.
var chartLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}

// helmBinary is the helm that scripts/k8s-build.sh built (helm.sh/helm/v3 from the Go module
// proxy). Without it the chart tests skip, or fail where the cluster is required.
func helmBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{filepath.Join(repoRoot(t), ".cache", "k8s", "bin", "helm")}
	if k8s != nil {
		candidates = append([]string{filepath.Join(filepath.Dir(k8s.kubectl), "helm")}, candidates...)
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if os.Getenv("CHRONY_K8S_REQUIRED") == "1" {
		t.Fatalf("no helm at %v: scripts/k8s-build.sh builds it", candidates)
	}
	needs.Missing(t, "no helm", "run scripts/k8s-build.sh (it builds helm into .cache/k8s/bin)",
		fmt.Errorf("none of %v", candidates))
	return ""
}

// helm runs helm with a deadline; the cluster's kubeconfig when there is one.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := helmBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if k8s != nil {
		args = append([]string{"--kubeconfig", k8s.kubeconfig}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "charts", "chrony") }

// render runs `helm template` with --set flags and decodes the documents.
func render(t *testing.T, sets ...string) []object {
	t.Helper()
	args := []string{"template", "chrony", chartDir(t)}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeDocs([]byte(out))
	if err != nil {
		t.Fatalf("helm template %v: %v", sets, err)
	}
	return objs
}

func key(o object) string {
	md, _ := o["metadata"].(object)
	return fmt.Sprintf("%v %v/%v", o["kind"], md["namespace"], md["name"])
}

func withoutChartLabels(o object) object {
	c := deepCopy(o).(object)
	if md, ok := c["metadata"].(object); ok {
		if l, ok := md["labels"].(object); ok {
			for _, k := range chartLabels {
				delete(l, k)
			}
			if len(l) == 0 {
				delete(md, "labels")
			}
		}
	}
	return c
}

// TestChartDefaultRenderEqualsManifests: the chart's default render is kubernetes/*.yaml, object
// for object, field for field, apart from the chart's own labels, so the kubectl path and the
// Helm path cannot drift.
func TestChartDefaultRenderEqualsManifests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "kubernetes", "*.yaml"))
	var names []string
	for _, f := range files {
		if n := filepath.Base(f); !slices.Contains(optionalManifests, n) {
			names = append(names, n)
		}
	}
	assertRenderEquals(t, nil, names)
}

// optionalManifests are the files of kubernetes/ applied on top of the others when wanted:
// nts.yaml (the NTS server with shared keys) replaces deployment.yaml's Deployment.
var optionalManifests = []string{"nts.yaml"}

// TestChartNTSRenderEqualsManifests: with the NTS server and shared keys, the chart renders
// deployment.yaml with nts.yaml applied over it (its Deployment chrony replaced, the key
// generator and its volume added), as the README tells kubectl users to do.
func TestChartNTSRenderEqualsManifests(t *testing.T) {
	assertRenderEquals(t, []string{"server.ntsServer.enabled=true", "server.ntsServer.sharedKeys.enabled=true"},
		[]string{"daemonset.yaml", "deployment.yaml", "nts.yaml"})
}

// assertRenderEquals checks that `helm template` with sets renders exactly the objects of the
// files of kubernetes/ applied in order (a later file's object replaces an earlier one of the
// same kind, namespace and name), apart from the chart's own labels.
func assertRenderEquals(t *testing.T, sets, files []string) {
	t.Helper()
	rendered := map[string]object{}
	for _, o := range render(t, sets...) {
		rendered[key(o)] = withoutChartLabels(o)
	}
	plain := map[string]object{}
	for _, f := range files {
		for _, o := range readManifest(t, repoRoot(t), f) {
			plain[key(o)] = o
		}
	}
	for k, o := range plain {
		r, ok := rendered[k]
		if !ok {
			t.Errorf("%s: in kubernetes/ but not in the chart's default render", k)
			continue
		}
		if bad := unexpectedEdits(o, r, nil); len(bad) > 0 {
			t.Errorf("%s: the chart's default render differs from kubernetes/:\n%s", k, strings.Join(bad, "\n"))
		}
	}
	for k := range rendered {
		if _, ok := plain[k]; !ok {
			t.Errorf("%s: in the chart's default render but not in kubernetes/", k)
		}
	}
}

func TestChartLint(t *testing.T) {
	for _, sets := range [][]string{
		nil,
		{"tiered.enabled=true"},
		{"server.ntsServer.enabled=true", "server.ntsServer.certManager.enabled=true",
			"server.ntsServer.certManager.issuerRef.name=x", "server.ntsServer.certManager.dnsNames[0]=time.example.com",
			"server.ntsServer.sharedKeys.enabled=true"},
		{"probes=exec"},
		{"nodeClock.refclock=auto", "nodeClock.timeSource=aws", "nodeClock.ptpDevice.resource=squat.ai/ptp", "nodeClock.ptpDevice.group=997"},
	} {
		args := []string{"lint", "--strict", chartDir(t)}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("helm lint %v: %v\n%s", sets, err, out)
		}
	}
}

// TestChartValues renders the chart with each documented value and checks what it must change,
// and that every chrony container's environment passes the entrypoint's own validation.
func TestChartValues(t *testing.T) {
	find := func(objs []object, kind string) object {
		for _, o := range objs {
			if o["kind"] == kind {
				return o
			}
		}
		return nil
	}
	chronyCtr := func(o object) object {
		for _, c := range list(podSpec(o), "containers") {
			if c["name"] == "chrony" {
				return c
			}
		}
		t.Fatalf("%s: no chrony container", key(o))
		return nil
	}
	caps := func(c object) []string {
		var out []string
		sc, _ := c["securityContext"].(object)
		cp, _ := sc["capabilities"].(object)
		add, _ := cp["add"].([]any)
		for _, a := range add {
			out = append(out, fmt.Sprint(a))
		}
		return out
	}
	tests := []struct {
		name  string
		sets  []string
		check func(t *testing.T, objs []object)
	}{
		{"tiered through the headless Service", []string{"tiered.enabled=true"}, func(t *testing.T, objs []object) {
			ds := find(objs, "DaemonSet")
			env := envOf(chronyCtr(ds))
			want := "chrony-pool.chrony.svc.cluster.local iburst prefer maxsources 3, pool.ntp.org iburst maxsources 2 minpoll 10 maxpoll 12"
			if env["NTP_POOLS"] != want || podSpec(ds)["dnsPolicy"] != "ClusterFirstWithHostNet" {
				t.Errorf("NTP_POOLS %q dnsPolicy %v, want %q and ClusterFirstWithHostNet", env["NTP_POOLS"], podSpec(ds)["dnsPolicy"], want)
			}
		}},
		{"tiered through host-network servers' addresses", []string{"tiered.enabled=true", "tiered.serverAddresses={10.0.0.11,10.0.0.12}", "server.hostNetwork=true"}, func(t *testing.T, objs []object) {
			ds, dep := find(objs, "DaemonSet"), find(objs, "Deployment")
			env := envOf(chronyCtr(ds))
			if env["NTP_SERVERS"] != "10.0.0.11 iburst prefer, 10.0.0.12 iburst prefer" || !strings.Contains(env["NTP_POOLS"], "pool.ntp.org") ||
				podSpec(ds)["dnsPolicy"] != "Default" {
				t.Errorf("env %v dnsPolicy %v: want the servers preferred, the pool as fallback, the node's resolver", env, podSpec(ds)["dnsPolicy"])
			}
			if podSpec(dep)["hostNetwork"] != true || !slices.Equal(caps(chronyCtr(dep)), []string{"NET_BIND_SERVICE"}) {
				t.Errorf("host-network servers: hostNetwork %v caps %v", podSpec(dep)["hostNetwork"], caps(chronyCtr(dep)))
			}
		}},
		{"root start", []string{"nodeClock.rootStart=true"}, func(t *testing.T, objs []object) {
			c := chronyCtr(find(objs, "DaemonSet"))
			sc := c["securityContext"].(object)
			if fmt.Sprint(sc["runAsUser"]) != "0" || sc["allowPrivilegeEscalation"] != false ||
				!slices.Equal(caps(c), []string{"SYS_TIME", "SETUID", "SETGID"}) {
				t.Errorf("root start securityContext %v", sc)
			}
		}},
		{"clock control off", []string{"nodeClock.clockControl=off"}, func(t *testing.T, objs []object) {
			c := chronyCtr(find(objs, "DaemonSet"))
			if len(caps(c)) != 0 || envOf(c)["CLOCK_CONTROL"] != "off" {
				t.Errorf("clock control off: caps %v env %v", caps(c), envOf(c))
			}
			if why := unsafe("render", podSpec(find(objs, "DaemonSet"))); len(why) > 0 {
				t.Errorf("clockControl=off renders an unsafe DaemonSet: %v", why)
			}
		}},
		{"NTS client and server from a Secret", []string{"nodeClock.nts=true", "server.nts=true", "server.ntsServer.enabled=true", "server.ntsServer.secretName=my-tls"}, func(t *testing.T, objs []object) {
			dep := find(objs, "Deployment")
			env := envOf(chronyCtr(dep))
			if env["NTS_SERVER_CERT"] == "" || env["NTS_SERVER_KEY"] == "" || env["ENABLE_NTS"] != "true" || envOf(chronyCtr(find(objs, "DaemonSet")))["ENABLE_NTS"] != "true" {
				t.Errorf("NTS env %v", env)
			}
			found := false
			for _, v := range list(podSpec(dep), "volumes") {
				if s, ok := v["secret"].(object); ok && s["secretName"] == "my-tls" {
					found = true
				}
			}
			if !found || find(objs, "Certificate") != nil {
				t.Errorf("want a volume of Secret my-tls and no Certificate")
			}
		}},
		{"NTS server certificate from cert-manager", []string{"server.ntsServer.enabled=true", "server.ntsServer.certManager.enabled=true",
			"server.ntsServer.certManager.issuerRef.name=le", "server.ntsServer.certManager.issuerRef.kind=ClusterIssuer",
			"server.ntsServer.certManager.dnsNames[0]=time.example.com"}, func(t *testing.T, objs []object) {
			c := find(objs, "Certificate")
			if c == nil || c["spec"].(object)["secretName"] != "chrony-nts" {
				t.Errorf("want a Certificate writing Secret chrony-nts, got %v", c)
			}
		}},
		{"NTS with shared keys, a storage class and a watch interval", []string{"server.ntsServer.enabled=true", "server.ntsServer.sharedKeys.enabled=true",
			"server.ntsServer.sharedKeys.storageClassName=nfs", "server.ntsServer.watchInterval=30s"}, func(t *testing.T, objs []object) {
			deps := map[string]object{}
			for _, o := range objs {
				if o["kind"] == "Deployment" {
					deps[o["metadata"].(object)["name"].(string)] = o
				}
			}
			f, g := deps["chrony"], deps["chrony-nts-keys"]
			if f == nil || g == nil {
				t.Fatalf("want Deployments chrony and chrony-nts-keys, got %v", deps)
			}
			fe, ge := envOf(chronyCtr(f)), envOf(chronyCtr(g))
			_, genReads := ge["NTS_KEYS_FROM"]
			if fe["NTS_KEYS_FROM"] != "/var/lib/chrony-nts-keys/ntskeys" || genReads ||
				fe["NTS_WATCH_INTERVAL"] != "30s" || ge["NTS_WATCH_INTERVAL"] != "30s" {
				t.Errorf("followers env %v, generator env %v", fe, ge)
			}
			pvc := find(objs, "PersistentVolumeClaim")
			if pvc == nil || pvc["spec"].(object)["storageClassName"] != "nfs" {
				t.Errorf("PersistentVolumeClaim %v, want storageClassName nfs", pvc)
			}
		}},
		{"NTS server alone: no shared keys", []string{"server.ntsServer.enabled=true", "server.ntsServer.watchInterval=off"}, func(t *testing.T, objs []object) {
			if find(objs, "PersistentVolumeClaim") != nil {
				t.Error("a PersistentVolumeClaim without sharedKeys")
			}
			env := envOf(chronyCtr(find(objs, "Deployment")))
			if _, ok := env["NTS_KEYS_FROM"]; ok || env["NTS_WATCH_INTERVAL"] != "off" {
				t.Errorf("env %v: want no NTS_KEYS_FROM, NTS_WATCH_INTERVAL off", env)
			}
		}},
		{"cloud PHC through a device plugin", []string{"nodeClock.refclock=/dev/ptp_ena poll 0", "nodeClock.ptpDevice.resource=squat.ai/ptp",
			"nodeClock.ptpDevice.group=997"}, func(t *testing.T, objs []object) {
			ds := find(objs, "DaemonSet")
			c := chronyCtr(ds)
			limits := c["resources"].(object)["limits"].(object)
			if envOf(c)["REFCLOCK"] != "/dev/ptp_ena poll 0" || fmt.Sprint(limits["squat.ai/ptp"]) != "1" || limits["memory"] != "64Mi" {
				t.Errorf("env %v limits %v: want REFCLOCK, one squat.ai/ptp and the memory limit kept", envOf(c), limits)
			}
			if g := podSpec(ds)["securityContext"].(object)["supplementalGroups"]; fmt.Sprint(g) != "[997]" {
				t.Errorf("supplementalGroups %v, want [997]", g)
			}
		}},
		{"cloud time service", []string{"nodeClock.timeSource=gcp", "nodeClock.refclock=none"}, func(t *testing.T, objs []object) {
			env := envOf(chronyCtr(find(objs, "DaemonSet")))
			if _, pools := env["NTP_POOLS"]; env["TIME_SOURCE"] != "gcp" || env["REFCLOCK"] != "none" || pools {
				t.Errorf("env %v: want TIME_SOURCE=gcp, REFCLOCK=none and no pool (Google's NTP is smeared, the pool is not)", env)
			}
		}},
		{"cloud defaults: REFCLOCK=auto from the entrypoint, no device", nil, func(t *testing.T, objs []object) {
			ds := find(objs, "DaemonSet")
			env := envOf(chronyCtr(ds))
			_, rc := env["REFCLOCK"]
			_, ts := env["TIME_SOURCE"]
			if rc || ts || podSpec(ds)["securityContext"].(object)["supplementalGroups"] != nil {
				t.Errorf("default render sets REFCLOCK/TIME_SOURCE or supplementalGroups: %v", env)
			}
		}},
		{"resources, tolerations, priority class", []string{"server.priorityClassName=high", "server.tolerations[0].operator=Exists",
			"nodeClock.resources.limits.memory=128Mi", "nodeClock.priorityClassName=system-cluster-critical"}, func(t *testing.T, objs []object) {
			ds, dep := podSpec(find(objs, "DaemonSet")), podSpec(find(objs, "Deployment"))
			if dep["priorityClassName"] != "high" || len(list(dep, "tolerations")) != 1 || ds["priorityClassName"] != "system-cluster-critical" ||
				chronyCtr(find(objs, "DaemonSet"))["resources"].(object)["limits"].(object)["memory"] != "128Mi" {
				t.Errorf("values not applied: ds %v dep %v", ds["priorityClassName"], dep["priorityClassName"])
			}
		}},
		{"exec probes (HTTP_ADDR=off, or a kubelet that cannot reach the pod)", []string{"probes=exec"}, func(t *testing.T, objs []object) {
			for _, kind := range []string{"DaemonSet", "Deployment"} {
				c := chronyCtr(find(objs, kind))
				for probe, want := range map[string]string{"startupProbe": "live", "livenessProbe": "live", "readinessProbe": "ready"} {
					p, _ := c[probe].(object)
					ex, _ := p["exec"].(object)
					if fmt.Sprint(ex["command"]) != fmt.Sprint([]any{"/usr/local/bin/entrypoint", "probe", want}) || p["httpGet"] != nil {
						t.Errorf("%s %s: %v, want exec entrypoint probe %s", kind, probe, p, want)
					}
				}
			}
		}},
		{"servers only", []string{"nodeClock.enabled=false"}, func(t *testing.T, objs []object) {
			if find(objs, "DaemonSet") != nil || find(objs, "Deployment") == nil {
				t.Error("want a Deployment and no DaemonSet")
			}
		}},
		{"node clock only", []string{"server.enabled=false"}, func(t *testing.T, objs []object) {
			if find(objs, "DaemonSet") == nil || find(objs, "Deployment") != nil || find(objs, "Namespace") != nil {
				t.Error("want a DaemonSet and nothing of the server")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.sets...)
			tc.check(t, objs)
			for _, o := range objs {
				if err := decodeStrict(o); err != nil {
					t.Errorf("%s: %v", key(o), err)
				}
				if podSpec(o) == nil {
					continue
				}
				var environ []string
				for k, v := range envOf(chronyCtr(o)) {
					environ = append(environ, k+"="+v)
				}
				if _, err := config.Load(environ); err != nil {
					t.Errorf("%s: the entrypoint rejects its environment: %v", key(o), err)
				}
			}
		})
	}
}

// decodeStrict decodes a rendered object into its Kubernetes type, refusing unknown or
// misspelt fields (which kubectl apply would drop); a kind the test does not know is an error,
// except cert-manager's Certificate.
func decodeStrict(o object) error {
	var into any
	switch o["kind"] {
	case "DaemonSet":
		into = &appsv1.DaemonSet{}
	case "Deployment":
		into = &appsv1.Deployment{}
	case "Service":
		into = &corev1.Service{}
	case "Namespace":
		into = &corev1.Namespace{}
	case "PersistentVolumeClaim":
		into = &corev1.PersistentVolumeClaim{}
	case "PodDisruptionBudget":
		into = &policyv1.PodDisruptionBudget{}
	case "Certificate":
		return nil
	default:
		return fmt.Errorf("kind %v not known to decodeStrict", o["kind"])
	}
	data, err := yaml.Marshal(o)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		return fmt.Errorf("strict decode: %w", err)
	}
	return nil
}

// TestChartOnCluster installs the chart on the cluster with the test's values (image, pull
// policy, clock control off, sources, the host-network port and hostPath), waits for Ready,
// checks what the API server stored, and uninstalls: nothing of it may be left.
func TestChartOnCluster(t *testing.T) {
	needCluster(t)
	helmBinary(t)
	// Start from nothing: the kubectl tests' objects would collide with the release's.
	kubectl(t, "delete", "namespace", "chrony", "--ignore-not-found", "--wait=true", "--timeout=180s")
	kubectl(t, "-n", "kube-system", "delete", "daemonset", "chrony", "--ignore-not-found", "--wait=true", "--timeout=180s")
	port, err := listenTCP()
	if err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(imageV1, ":")
	start := time.Now()
	// The README's command, with the chart's path in this checkout and the test's values.
	args := readmeHelmInstall(t)[1:]
	for i, a := range args {
		if a == "charts/chrony" {
			args[i] = chartDir(t)
		}
	}
	if !slices.Equal(args, []string{"install", "chrony", chartDir(t), "--namespace", "kube-system"}) {
		t.Fatalf("README's first helm install is %q: this test installs release chrony from charts/chrony into kube-system; update one of them", args)
	}
	out, err := helm(t, append(args, "--wait", "--timeout", "5m",
		"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "image.pullPolicy=Never",
		"--set", "nodeClock.clockControl=off",
		"--set-string", "nodeClock.pools=", "--set-string", "nodeClock.servers="+upstreamSource(),
		"--set-string", "server.pools=", "--set-string", "server.servers="+upstreamSource(),
		"--set", fmt.Sprintf("nodeClock.metricsPort=%d", port),
		"--set", "nodeClock.stateHostPath="+filepath.Join(k8s.hostPath, "helm-var-lib-chrony"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helm install --wait: %s", time.Since(start).Round(time.Second))
	_ = out
	assertStoredSafe(t)
	kubectl(t, "-n", "chrony", "rollout", "status", "deployment/chrony", "--timeout=120s")
	kubectl(t, "-n", "kube-system", "rollout", "status", "daemonset/chrony", "--timeout=120s")
	if got := readyEndpoints(t, "chrony", "chrony"); len(got) != 3 {
		t.Errorf("ready endpoints %v, want 3", got)
	}

	if _, err := helm(t, "uninstall", "chrony", "--namespace", "kube-system", "--wait", "--timeout", "5m"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "nothing of the release left", func() (bool, string) {
		left, err := k8sRun("get", "all,poddisruptionbudgets,endpointslices,namespaces,secrets", "--all-namespaces",
			"-l", "helm.sh/chart", "-o", "name")
		if err != nil {
			return false, err.Error()
		}
		ns, _ := k8sRun("get", "namespace", "chrony", "-o", "name", "--ignore-not-found")
		podsLeft, _ := k8sRun("get", "pods", "--all-namespaces", "-l", "app.kubernetes.io/name=chrony", "-o", "name")
		rel, _ := k8sRun("-n", "kube-system", "get", "secrets", "-l", "owner=helm", "-o", "name")
		all := strings.TrimSpace(left + ns + podsLeft + rel)
		return all == "", all
	})
}
