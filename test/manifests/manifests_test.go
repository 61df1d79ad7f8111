package manifests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/health"
	"github.com/chris-short/chrony/pkg/httpapi"
	"github.com/chris-short/chrony/test/dockerfile"
)

// Image is the name users pull; everything that names the image must agree with it.
const Image = "ghcr.io/chris-short/chrony"

// knownVariables are the environment variables the entrypoint reads (pkg/config.Variables).
func knownVariables() []string {
	var names []string
	for _, v := range config.Variables {
		names = append(names, v.Name)
	}
	return names
}

type objects struct {
	daemonSets  []*appsv1.DaemonSet
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	namespaces  []*corev1.Namespace
	pvcs        []*corev1.PersistentVolumeClaim
	// ntsDeployments are kubernetes/nts.yaml's: the NTS variant of the server Deployment and the
	// generator of its keys.
	ntsDeployments []*appsv1.Deployment
}

// decodeAll decodes every document of every YAML file in kubernetes/ strictly: an unknown or
// misspelt field is an error, not silently dropped as kubectl apply would.
func decodeAll(t *testing.T) (objects, map[string][]string) {
	t.Helper()
	var objs objects
	kindsByFile := map[string][]string{}
	files, err := filepath.Glob(filepath.Join(chronytest.RepoRoot(t), "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no kubernetes/*.yaml: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocs(data) {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var into any
			switch meta.APIVersion + "/" + meta.Kind {
			case "apps/v1/DaemonSet":
				o := &appsv1.DaemonSet{}
				objs.daemonSets, into = append(objs.daemonSets, o), o
			case "apps/v1/Deployment":
				o := &appsv1.Deployment{}
				if filepath.Base(f) == "nts.yaml" {
					objs.ntsDeployments, into = append(objs.ntsDeployments, o), o
				} else {
					objs.deployments, into = append(objs.deployments, o), o
				}
			case "v1/PersistentVolumeClaim":
				o := &corev1.PersistentVolumeClaim{}
				objs.pvcs, into = append(objs.pvcs, o), o
			case "v1/Service":
				o := &corev1.Service{}
				objs.services, into = append(objs.services, o), o
			case "policy/v1/PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				objs.pdbs, into = append(objs.pdbs, o), o
			case "v1/Namespace":
				o := &corev1.Namespace{}
				objs.namespaces, into = append(objs.namespaces, o), o
			default:
				t.Fatalf("%s document %d: kind %s/%s not known to this test", f, i, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, into); err != nil {
				t.Fatalf("%s document %d (%s): strict decode: %v", f, i, meta.Kind, err)
			}
			kindsByFile[filepath.Base(f)] = append(kindsByFile[filepath.Base(f)], meta.Kind)
		}
	}
	return objs, kindsByFile
}

// splitDocs splits a multi-document YAML file on "---" lines, dropping comment-only documents.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		hasContent := false
		for _, l := range strings.Split(d, "\n") {
			if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "#") {
				hasContent = true
			}
		}
		if hasContent {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func TestManifestsDecodeStrictly(t *testing.T) {
	_, kinds := decodeAll(t)
	want := map[string][]string{
		"daemonset.yaml":  {"DaemonSet"},
		"deployment.yaml": {"Namespace", "Deployment", "Service", "Service", "PodDisruptionBudget"},
		"nts.yaml":        {"PersistentVolumeClaim", "Deployment", "Deployment"},
	}
	for file, k := range want {
		if !slices.Equal(kinds[file], k) {
			t.Errorf("%s: kinds %v, want %v", file, kinds[file], k)
		}
	}
	for file := range kinds {
		if _, ok := want[file]; !ok {
			t.Errorf("%s: not covered by this test; add its expected kinds", file)
		}
	}
}

// forbidden evaluates a pod spec at level (latest version) and returns the failing checks'
// reasons, sorted.
func forbidden(t *testing.T, level psapi.Level, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []string {
	t.Helper()
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, r := range ev.EvaluatePod(psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}, meta, spec) {
		if !r.Allowed {
			reasons = append(reasons, r.ForbiddenReason+" ("+r.ForbiddenDetail+")")
		}
	}
	sort.Strings(reasons)
	return reasons
}

func TestPodSecurity(t *testing.T) {
	objs, _ := decodeAll(t)
	if len(objs.daemonSets) != 1 || len(objs.deployments) != 1 || len(objs.ntsDeployments) != 2 {
		t.Fatalf("want one DaemonSet, one Deployment and nts.yaml's two, got %d, %d and %d", len(objs.daemonSets), len(objs.deployments), len(objs.ntsDeployments))
	}
	ds, dep := objs.daemonSets[0], objs.deployments[0]
	tests := []struct {
		name  string
		level psapi.Level
		meta  *metav1.ObjectMeta
		spec  *corev1.PodSpec
		// want: every failing check, each one explained by what the pod is for.
		want []string
	}{
		{name: "deployment restricted", level: psapi.LevelRestricted,
			meta: &dep.Spec.Template.ObjectMeta, spec: &dep.Spec.Template.Spec, want: nil},
		// nts.yaml's Deployments go into the same restricted namespace.
		{name: "nts followers restricted", level: psapi.LevelRestricted,
			meta: &objs.ntsDeployments[1].Spec.Template.ObjectMeta, spec: &objs.ntsDeployments[1].Spec.Template.Spec, want: nil},
		{name: "nts key generator restricted", level: psapi.LevelRestricted,
			meta: &objs.ntsDeployments[0].Spec.Template.ObjectMeta, spec: &objs.ntsDeployments[0].Spec.Template.Spec, want: nil},
		{name: "daemonset baseline", level: psapi.LevelBaseline,
			meta: &ds.Spec.Template.ObjectMeta, spec: &ds.Spec.Template.Spec,
			want: []string{
				// Disciplining the node's clock means the node's network namespace too.
				"host namespaces (hostNetwork=true)",
				// The drift file must outlive the pod: it lives on the node.
				`hostPath volumes (volume "state")`,
				// The whole point: setting the clock.
				`non-default capabilities (container "chrony" must not include "SYS_TIME" in securityContext.capabilities.add)`,
			}},
		{name: "daemonset restricted", level: psapi.LevelRestricted,
			meta: &ds.Spec.Template.ObjectMeta, spec: &ds.Spec.Template.Spec,
			want: []string{
				"host namespaces (hostNetwork=true)",
				// Restricted's volume check replaces baseline's hostPath check: the same node dir.
				`restricted volume types (volume "state" uses restricted volume type "hostPath")`,
				// The init container chowns the node's state directory, as root with CHOWN only.
				`runAsNonRoot != true (container "state-dir-owner" must not set securityContext.runAsNonRoot=false)`,
				`runAsUser=0 (container "state-dir-owner" must not set runAsUser=0)`,
				// Restricted's capability check replaces baseline's: SYS_TIME (chronyd), CHOWN (init).
				`unrestricted capabilities (containers "state-dir-owner", "chrony" must not include "CHOWN", "SYS_TIME" in securityContext.capabilities.add)`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := forbidden(t, tc.level, tc.meta, tc.spec)
			if !slices.Equal(got, tc.want) {
				t.Errorf("failing checks:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
	// The namespace enforces what the Deployment claims.
	if len(objs.namespaces) != 1 || objs.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("the chrony namespace must enforce pod-security restricted")
	}
}

func TestCapabilities(t *testing.T) {
	objs, _ := decodeAll(t)
	tests := []struct {
		name      string
		spec      *corev1.PodSpec
		container string
		want      []corev1.Capability
	}{
		// Only the clock: client-only (ALLOW=none) binds no port below 1024.
		{"daemonset chrony", &objs.daemonSets[0].Spec.Template.Spec, "chrony", []corev1.Capability{"SYS_TIME"}},
		{"daemonset state-dir-owner", &objs.daemonSets[0].Spec.Template.Spec, "state-dir-owner", []corev1.Capability{"CHOWN"}},
		// Port 123 comes from the ip_unprivileged_port_start sysctl, not a capability.
		{"deployment chrony", &objs.deployments[0].Spec.Template.Spec, "chrony", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := findContainer(t, tc.spec, tc.container)
			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil {
				t.Fatal("no securityContext.capabilities")
			}
			if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("drop %v, want [ALL]", sc.Capabilities.Drop)
			}
			if !slices.Equal(sc.Capabilities.Add, tc.want) {
				t.Errorf("add %v, want %v", sc.Capabilities.Add, tc.want)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("root file system not read-only")
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Error("privileged")
			}
		})
	}
	// The long-running containers never run as root.
	for _, spec := range []*corev1.PodSpec{&objs.daemonSets[0].Spec.Template.Spec, &objs.deployments[0].Spec.Template.Spec} {
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 100 || psc.RunAsGroup == nil || *psc.RunAsGroup != 101 ||
			psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("pod securityContext must run as 100:101 with runAsNonRoot: %+v", psc)
		}
	}
}

func findContainer(t *testing.T, spec *corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func runtime(t *testing.T) *dockerfile.Runtime {
	t.Helper()
	ins, err := dockerfile.ParseFile(filepath.Join(chronytest.RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := dockerfile.RuntimeOf(ins)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestAgreeWithImage checks probes, ports, env names and images of every workload against the
// Dockerfile.
func TestAgreeWithImage(t *testing.T) {
	objs, _ := decodeAll(t)
	rt := runtime(t)
	if len(rt.Entrypoint) != 1 {
		t.Fatalf("Dockerfile ENTRYPOINT %q: want the entrypoint binary alone", rt.Entrypoint)
	}
	ep := rt.Entrypoint[0]
	if rt.Healthcheck == nil || !slices.Equal(rt.Healthcheck.Test, []string{ep, "probe", "ready"}) {
		t.Errorf("Dockerfile HEALTHCHECK %+v, want CMD [%q, probe, ready]", rt.Healthcheck, ep)
	}
	if want := "https://github.com/chris-short/chrony"; rt.Labels["org.opencontainers.image.source"] != want {
		t.Errorf("Dockerfile source label %q, want %q (the image is %s)", rt.Labels["org.opencontainers.image.source"], want, Image)
	}
	pods := map[string]*corev1.PodSpec{
		"daemonset":         &objs.daemonSets[0].Spec.Template.Spec,
		"deployment":        &objs.deployments[0].Spec.Template.Spec,
		"nts key generator": &objs.ntsDeployments[0].Spec.Template.Spec,
		"nts followers":     &objs.ntsDeployments[1].Spec.Template.Spec,
	}
	for name, spec := range pods {
		t.Run(name, func(t *testing.T) {
			for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
				repo, _, _ := strings.Cut(c.Image, ":")
				if repo != Image {
					t.Errorf("container %s image %q, want %s:<tag>", c.Name, c.Image, Image)
				}
				for _, e := range c.Env {
					if !slices.Contains(knownVariables(), e.Name) {
						t.Errorf("container %s sets unknown variable %s", c.Name, e.Name)
					}
				}
				for _, p := range c.Ports {
					exposed := fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(string(p.Protocol)))
					if !slices.Contains(rt.Exposed, exposed) {
						t.Errorf("container %s port %s not EXPOSEd by the Dockerfile %v", c.Name, exposed, rt.Exposed)
					}
				}
			}
			c := findContainer(t, spec, "chrony")
			checkProbes(t, c)
			// Metrics annotations name a declared port.
			ann := map[string]string{}
			switch name {
			case "daemonset":
				ann = objs.daemonSets[0].Spec.Template.Annotations
			case "nts key generator":
				ann = objs.ntsDeployments[0].Spec.Template.Annotations
			case "nts followers":
				ann = objs.ntsDeployments[1].Spec.Template.Annotations
			default:
				ann = objs.deployments[0].Spec.Template.Annotations
			}
			if ann["prometheus.io/scrape"] != "true" || !slices.Contains(rt.Exposed, ann["prometheus.io/port"]+"/tcp") {
				t.Errorf("metrics annotations %v do not name an exposed TCP port", ann)
			}
		})
	}
	// Each Service port is NTP (UDP 123) or NTS-KE (TCP 4460), to the container port of that name.
	servicePorts := map[string]struct {
		port  int32
		proto corev1.Protocol
	}{"ntp": {123, corev1.ProtocolUDP}, "nts-ke": {4460, corev1.ProtocolTCP}}
	for _, s := range objs.services {
		hasNTP := false
		for _, p := range s.Spec.Ports {
			want, ok := servicePorts[p.TargetPort.String()]
			if !ok || p.Port != want.port || p.Protocol != want.proto {
				t.Errorf("service %s port %+v: want UDP 123 to the ntp port or TCP 4460 to the nts-ke port", s.Name, p)
			}
			hasNTP = hasNTP || p.TargetPort.String() == "ntp"
			if !slices.Contains(rt.Exposed, fmt.Sprintf("%d/%s", want.port, strings.ToLower(string(want.proto)))) {
				t.Errorf("service %s port %s: %d/%s is not EXPOSEd by the Dockerfile", s.Name, p.Name, want.port, want.proto)
			}
		}
		if !hasNTP {
			t.Errorf("service %s has no NTP port", s.Name)
		}
	}
	sel := objs.deployments[0].Spec.Template.Labels
	for _, d := range objs.ntsDeployments {
		// The Services send NTS clients to every replica, the generator's too.
		if !maps.Equal(d.Spec.Template.Labels, sel) || !maps.Equal(d.Spec.Selector.MatchLabels, objs.deployments[0].Spec.Selector.MatchLabels) {
			t.Errorf("nts.yaml Deployment %s: pod labels %v selector %v, want the chrony Deployment's %v", d.Name, d.Spec.Template.Labels, d.Spec.Selector.MatchLabels, sel)
		}
	}
	for _, s := range objs.services {
		for k, v := range s.Spec.Selector {
			if sel[k] != v {
				t.Errorf("service %s selector %v does not match the Deployment's pods %v", s.Name, s.Spec.Selector, sel)
			}
		}
	}
	for k, v := range objs.pdbs[0].Spec.Selector.MatchLabels {
		if sel[k] != v {
			t.Errorf("PodDisruptionBudget selector does not match the Deployment's pods")
		}
	}
}

// checkProbes checks that the chrony container's probes are HTTP GETs on its metrics port,
// which is where HTTP_ADDR makes the entrypoint listen, and that each path gives the verdict of
// the `entrypoint probe` the probe stands for: live for start-up and liveness, ready for
// readiness (the entrypoint's own HTTP handler, pkg/httpapi, answers here).
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	var metricsPort int32
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	settings, err := config.Load([]string{"HTTP_ADDR=" + env["HTTP_ADDR"]})
	if err != nil {
		t.Fatalf("HTTP_ADDR %q: %v", env["HTTP_ADDR"], err)
	}
	_, port, _ := net.SplitHostPort(settings.HTTPAddr)
	if metricsPort == 0 || port != strconv.Itoa(int(metricsPort)) {
		t.Errorf("container port metrics %d, HTTP_ADDR %q: httpGet probes on the metrics port need the entrypoint listening there", metricsPort, env["HTTP_ADDR"])
	}
	probes := []struct {
		kind  string
		probe *corev1.Probe
		want  string // the verdict the path must give: live or ready
	}{{"startup", c.StartupProbe, "live"}, {"liveness", c.LivenessProbe, "live"}, {"readiness", c.ReadinessProbe, "ready"}}
	// A server whose live and ready verdicts differ, so that a path gives away which it asks.
	srv := httptest.NewServer(httpapi.New("", httpapi.Deps{
		Live:    func(context.Context) health.Result { return health.Result{OK: true, Reason: "live"} },
		Ready:   func(context.Context) health.Result { return health.Result{OK: false, Reason: "ready"} },
		Metrics: prometheus.NewRegistry(),
	}).Handler)
	defer srv.Close()
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.Exec != nil {
			t.Errorf("%s probe %+v: want httpGet (an exec probe costs the node about 60 ms of CPU)", p.kind, p.probe)
			continue
		}
		g := p.probe.HTTPGet
		if g.Port.String() != "metrics" || (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) || g.Host != "" {
			t.Errorf("%s probe: httpGet %+v, want HTTP on the port named metrics, the pod's address", p.kind, g)
		}
		resp, err := http.Get(srv.URL + g.Path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.TrimSpace(string(body)); !strings.HasSuffix(got, ": "+p.want) {
			t.Errorf("%s probe: GET %s answers %d %q, want the %s verdict (entrypoint probe %s)", p.kind, g.Path, resp.StatusCode, got, p.want, p.want)
		}
	}
}

// composeFile is the part of docker-compose.yaml this test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		User        string            `json:"user"`
		CapDrop     []string          `json:"cap_drop"`
		CapAdd      []string          `json:"cap_add"`
		ReadOnly    bool              `json:"read_only"`
		SecurityOpt []string          `json:"security_opt"`
		Tmpfs       []string          `json:"tmpfs"`
		Volumes     []string          `json:"volumes"`
		Ports       []string          `json:"ports"`
		Environment map[string]string `json:"environment"`
		StopSignal  string            `json:"stop_signal"`
		Restart     string            `json:"restart"`
		Healthcheck struct {
			Test []string `json:"test"`
		} `json:"healthcheck"`
		Logging struct {
			Driver  string            `json:"driver"`
			Options map[string]string `json:"options"`
		} `json:"logging"`
	} `json:"services"`
	Volumes map[string]any `json:"volumes"`
}

func TestCompose(t *testing.T) {
	root := chronytest.RepoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	svc, ok := cf.Services["chrony"]
	if !ok {
		t.Fatal("no chrony service")
	}
	rt := runtime(t)
	checks := []struct {
		name string
		ok   bool
	}{
		{"image " + svc.Image, strings.HasPrefix(svc.Image, Image+":")},
		{"cap_drop ALL", slices.Equal(svc.CapDrop, []string{"ALL"})},
		{"cap_add SYS_TIME SETUID SETGID (root start)", slices.Equal(svc.CapAdd, []string{"SYS_TIME", "SETUID", "SETGID"}) && svc.User == "0:0"},
		{"read_only", svc.ReadOnly},
		{"no-new-privileges", slices.Contains(svc.SecurityOpt, "no-new-privileges:true")},
		{"tmpfs /run/chrony", slices.Equal(svc.Tmpfs, []string{"/run/chrony"})},
		{"named volume on " + strings.Join(rt.Volumes, ","), len(svc.Volumes) == 1 && strings.HasSuffix(svc.Volumes[0], ":"+rt.Volumes[0]) && cf.Volumes[strings.Split(svc.Volumes[0], ":")[0]] == nil && len(cf.Volumes) == 1},
		{"123/udp published", slices.Contains(svc.Ports, "123:123/udp")},
		{"healthcheck = Dockerfile's", slices.Equal(svc.Healthcheck.Test, append([]string{"CMD"}, rt.Healthcheck.Test...))},
		{"stop_signal = Dockerfile's", svc.StopSignal == rt.StopSignal},
		{"restart policy", svc.Restart == "unless-stopped"},
		{"log rotation", svc.Logging.Options["max-size"] != "" && svc.Logging.Options["max-file"] != ""},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("docker-compose.yaml: %s", c.name)
		}
	}
	for name := range svc.Environment {
		if !slices.Contains(knownVariables(), name) {
			t.Errorf("docker-compose.yaml sets unknown variable %s", name)
		}
	}
	// The commented variables users will want to change are known ones too.
	for _, m := range regexp.MustCompile(`(?m)^\s*#\s*([A-Z_]+):`).FindAllStringSubmatch(string(data), -1) {
		if !slices.Contains(knownVariables(), m[1]) {
			t.Errorf("docker-compose.yaml documents unknown variable %s", m[1])
		}
	}
}

// TestWorkflowImage checks that the release workflow pushes the image the manifests pull.
func TestWorkflowImage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chronytest.RepoRoot(t), ".github", "workflows", "release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s+IMAGE: ` + regexp.QuoteMeta(Image) + `\s*$`).Match(data) {
		t.Errorf("release.yaml does not set IMAGE: %s", Image)
	}
}

// TestProbeCommandsExist runs the entrypoint binary's help for the commands the manifests and
// the Dockerfile call: a renamed subcommand fails here rather than in a cluster.
func TestProbeCommandsExist(t *testing.T) {
	root := chronytest.RepoRoot(t)
	bin := filepath.Join(t.TempDir(), "entrypoint")
	build := exec.Command("go", "build", "-tags", entrypointtest.BuildTags, "-o", bin, "./cmd/entrypoint")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build entrypoint: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"probe", "live", "--help"}, {"probe", "ready", "--help"}, {"config", "--help"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Errorf("entrypoint %s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
		})
	}
}

// TestDocumentedSettings checks the variable settings the manifests' comments tell users to
// paste (the tiered layout's sources): each comment block of `#   NAME: "value"` lines must be
// accepted by the entrypoint's validation.
func TestDocumentedSettings(t *testing.T) {
	re := regexp.MustCompile(`(?m)^#\s+([A-Z_]+): "([^"]*)"\s*$`)
	files, _ := filepath.Glob(filepath.Join(chronytest.RepoRoot(t), "kubernetes", "*.yaml"))
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			n++
			t.Run(filepath.Base(f)+" "+m[1], func(t *testing.T) {
				if !slices.Contains(knownVariables(), m[1]) {
					t.Fatalf("documents unknown variable %s", m[1])
				}
				if _, err := config.Load([]string{m[1] + "=" + m[2]}); err != nil {
					t.Errorf("%s=%q is rejected: %v", m[1], m[2], err)
				}
			})
		}
	}
	if n < 3 {
		t.Errorf("found %d documented settings in kubernetes/*.yaml, want the tiered layout's (at least 3)", n)
	}
}
