package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chris-short/chrony/test/standin"
)

// shippedImage is the image every manifest names.
const shippedImage = "ghcr.io/chris-short/chrony"

// object is one Kubernetes document, decoded generically so that a copy keeps every field the
// user's file has, known to this test or not.
type object = map[string]any

// readManifest returns the documents of kubernetes/<name>, in file order.
func readManifest(t *testing.T, repo, name string) []object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeDocs(data)
	if err != nil {
		t.Fatalf("kubernetes/%s: %v", name, err)
	}
	return objs
}

func decodeDocs(data []byte) ([]object, error) {
	var objs []object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

func encodeDocs(t *testing.T, objs []object) []byte {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return []byte(b.String())
}

// edits are what a test changes in its copy of a manifest. Zero fields change nothing.
type edits struct {
	Image string // every container's image; also sets imagePullPolicy: Never
	// Sources replaces NTP_POOLS (and drops NTP_SERVERS) with NTP_SERVERS=Sources.
	Sources string
	// HTTPAddr replaces HTTP_ADDR (host-network pods: this machine is shared) and moves the
	// metrics container port with it, where the httpGet probes go.
	HTTPAddr string
	// HostPath replaces the path of the "state" hostPath volume.
	HostPath string
	// Capreport keeps SYS_TIME and CLOCK_CONTROL and sets CHRONYD to the capability reporter,
	// which writes its report to CapreportOut. Without it, SYS_TIME goes and CLOCK_CONTROL=off.
	Capreport    bool
	CapreportOut string
	// Variant edits the pod template after everything else (a documented variant such as the
	// root start); variantPaths lists what it may change.
	Variant      func(spec object)
	VariantPaths []string
	Name         string // metadata.name of workloads, when set (two variants side by side)
}

// testCopy returns the copy of objs a test applies.
func testCopy(objs []object, e edits) []object {
	var out []object
	for _, o := range objs {
		c := deepCopy(o).(object)
		if spec := podSpec(c); spec != nil {
			if e.Name != "" {
				c["metadata"].(object)["name"] = e.Name
			}
			for _, ctr := range containers(spec) {
				if e.Image != "" {
					ctr["image"] = e.Image
					ctr["imagePullPolicy"] = "Never"
				}
				if ctr["name"] != "chrony" {
					continue
				}
				if !e.Capreport {
					removeCapability(ctr, "SYS_TIME")
					setEnv(ctr, "CLOCK_CONTROL", "off")
				} else {
					setEnv(ctr, "CHRONYD", standin.CapreportPath)
					setEnv(ctr, "CAPREPORT_OUT", e.CapreportOut)
				}
				if e.Sources != "" {
					dropEnv(ctr, "NTP_POOLS")
					setEnv(ctr, "NTP_SERVERS", e.Sources)
				}
				if e.HTTPAddr != "" {
					setEnv(ctr, "HTTP_ADDR", e.HTTPAddr)
					_, port, _ := strings.Cut(e.HTTPAddr, ":")
					for _, p := range list(ctr, "ports") {
						if p["name"] == "metrics" {
							n, _ := strconv.Atoi(port)
							p["containerPort"] = int64(n)
						}
					}
				}
			}
			if e.HostPath != "" {
				for _, v := range list(spec, "volumes") {
					if v["name"] == "state" && v["hostPath"] != nil {
						v["hostPath"].(object)["path"] = e.HostPath
					}
				}
			}
			if e.Variant != nil {
				e.Variant(spec)
			}
		}
		out = append(out, c)
	}
	return out
}

// allowedPaths are the flattened paths (see flatten) a copy may change, as regular expressions.
func allowedPaths(e edits) []string {
	ctr := `spec\.template\.spec\.(initContainers|containers)\[name=[^\]]+\]`
	chrony := `spec\.template\.spec\.containers\[name=chrony\]`
	var p []string
	if e.Name != "" {
		p = append(p, `metadata\.name`)
	}
	if e.Image != "" {
		p = append(p, ctr+`\.image`, ctr+`\.imagePullPolicy`)
	}
	if e.Capreport {
		p = append(p, chrony+`\.env\[name=(CHRONYD|CAPREPORT_OUT)\](\..*)?`)
	} else {
		p = append(p, chrony+`\.securityContext\.capabilities\.add\[SYS_TIME\]`, chrony+`\.env\[name=CLOCK_CONTROL\](\..*)?`)
	}
	if e.Sources != "" {
		p = append(p, chrony+`\.env\[name=(NTP_POOLS|NTP_SERVERS)\](\..*)?`)
	}
	if e.HTTPAddr != "" {
		p = append(p, chrony+`\.env\[name=HTTP_ADDR\]\.value`, chrony+`\.ports\[name=metrics\]\.containerPort`)
	}
	if e.HostPath != "" {
		p = append(p, `spec\.template\.spec\.volumes\[name=state\]\.hostPath\.path`)
	}
	return append(p, e.VariantPaths...)
}

// unexpectedEdits returns every flattened path where copy differs from orig and no allowed
// pattern explains it.
func unexpectedEdits(orig, copy object, allowed []string) []string {
	re := regexp.MustCompile(`^(` + strings.Join(append(slices.Clone(allowed), `\x00`), "|") + `)$`)
	a, b := flatten("", orig), flatten("", copy)
	var bad []string
	for k, v := range a {
		if w, ok := b[k]; (!ok || fmt.Sprint(w) != fmt.Sprint(v)) && !re.MatchString(k) {
			bad = append(bad, fmt.Sprintf("%s: %v -> %v", k, v, b[k]))
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok && !re.MatchString(k) {
			bad = append(bad, fmt.Sprintf("%s: (absent) -> %v", k, w))
		}
	}
	sort.Strings(bad)
	return bad
}

// flatten maps every leaf to its path. Lists of named objects (containers, env, volumes, ports)
// are keyed by name, lists of scalars (capabilities) by value, so that an edit shows as the
// one entry it changes rather than as a shift of indices.
func flatten(prefix string, v any) map[string]any {
	out := map[string]any{}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case object:
		for k, e := range x {
			for kk, vv := range flatten(join(k), e) {
				out[kk] = vv
			}
		}
	case []any:
		for i, e := range x {
			var key string
			switch el := e.(type) {
			case object:
				if n, ok := el["name"].(string); ok {
					key = fmt.Sprintf("%s[name=%s]", prefix, n)
				} else {
					key = fmt.Sprintf("%s[%d]", prefix, i)
				}
			default:
				key = fmt.Sprintf("%s[%v]", prefix, el)
				out[key] = true
				continue
			}
			for kk, vv := range flatten(key, e) {
				out[kk] = vv
			}
		}
		if len(x) == 0 {
			out[prefix] = "[]"
		}
	default:
		out[prefix] = x
	}
	return out
}

// unsafe returns why a pod spec (from a workload's template or a live pod, as the API server
// stored it) could let chronyd set this machine's clock: a container with SYS_TIME or
// privileged, or a chrony container without CLOCK_CONTROL=off, unless CHRONYD names the
// capability reporter.
func unsafe(where string, spec object) []string {
	var why []string
	for _, ctr := range containers(spec) {
		name := fmt.Sprintf("%s container %v", where, ctr["name"])
		env := envOf(ctr)
		if env["CHRONYD"] == standin.CapreportPath {
			continue
		}
		sc, _ := ctr["securityContext"].(object)
		if sc != nil {
			if p, _ := sc["privileged"].(bool); p {
				why = append(why, name+" is privileged")
			}
			if caps, _ := sc["capabilities"].(object); caps != nil {
				add, _ := caps["add"].([]any)
				for _, c := range add {
					if s := strings.TrimPrefix(strings.ToUpper(fmt.Sprint(c)), "CAP_"); s == "SYS_TIME" || s == "ALL" {
						why = append(why, fmt.Sprintf("%s adds %v", name, c))
					}
				}
			}
		}
		if runsEntrypoint(ctr) && env["CLOCK_CONTROL"] != "off" {
			why = append(why, fmt.Sprintf("%s has CLOCK_CONTROL=%q, not off", name, env["CLOCK_CONTROL"]))
		}
	}
	return why
}

// runsEntrypoint: a container that starts the image's entrypoint (no command, or the
// entrypoint's path), and so may start chronyd.
func runsEntrypoint(ctr object) bool {
	cmd, _ := ctr["command"].([]any)
	return len(cmd) == 0 || fmt.Sprint(cmd[0]) == standin.EntrypointPath
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case object:
		c := object{}
		for k, e := range x {
			c[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = deepCopy(e)
		}
		return c
	default:
		return x
	}
}

// podSpec is the pod spec of a workload (spec.template.spec) or a pod (spec), else nil.
func podSpec(o object) object {
	spec, _ := o["spec"].(object)
	if spec == nil {
		return nil
	}
	if tpl, ok := spec["template"].(object); ok {
		s, _ := tpl["spec"].(object)
		return s
	}
	if o["kind"] == "Pod" {
		return spec
	}
	return nil
}

func list(o object, key string) []object {
	var out []object
	l, _ := o[key].([]any)
	for _, e := range l {
		if m, ok := e.(object); ok {
			out = append(out, m)
		}
	}
	return out
}

func containers(spec object) []object {
	return append(list(spec, "initContainers"), list(spec, "containers")...)
}

func envOf(ctr object) map[string]string {
	env := map[string]string{}
	for _, e := range list(ctr, "env") {
		env[fmt.Sprint(e["name"])] = fmt.Sprint(e["value"])
	}
	return env
}

func setEnv(ctr object, name, value string) {
	for _, e := range list(ctr, "env") {
		if e["name"] == name {
			e["value"] = value
			return
		}
	}
	l, _ := ctr["env"].([]any)
	ctr["env"] = append(l, object{"name": name, "value": value})
}

func dropEnv(ctr object, name string) {
	l, _ := ctr["env"].([]any)
	ctr["env"] = slices.DeleteFunc(l, func(e any) bool { m, _ := e.(object); return m["name"] == name })
}

func removeCapability(ctr object, capName string) {
	sc, _ := ctr["securityContext"].(object)
	if sc == nil {
		return
	}
	caps, _ := sc["capabilities"].(object)
	if caps == nil {
		return
	}
	l, _ := caps["add"].([]any)
	if l = slices.DeleteFunc(slices.Clone(l), func(c any) bool { return c == capName }); len(l) == 0 {
		delete(caps, "add")
	} else {
		caps["add"] = l
	}
}

// TestCopyChecks proves that the checks above catch what they must, without a cluster: an
// unexpected change to a copy, a kept SYS_TIME, a clock left under control.
func TestCopyChecks(t *testing.T) {
	repo := repoRoot(t)
	ds := readManifest(t, repo, "daemonset.yaml")
	base := edits{Image: "localhost/x:1", Sources: "10.0.0.1 iburst", HTTPAddr: ":1", HostPath: "/tmp/x"}
	tests := []struct {
		name       string
		mutate     func(spec object)
		wantEdits  bool
		wantUnsafe bool
	}{
		{"as the test applies it", nil, false, false},
		{"runAsUser changed", func(s object) { s["securityContext"].(object)["runAsUser"] = int64(0) }, true, false},
		{"probe changed", func(s object) {
			list(s, "containers")[0]["readinessProbe"].(object)["periodSeconds"] = int64(1)
		}, true, false},
		{"SYS_TIME kept", func(s object) {
			c := list(s, "containers")[0]["securityContext"].(object)["capabilities"].(object)
			c["add"] = []any{"SYS_TIME"}
		}, false, true},
		{"SYS_TIME added as CAP_SYS_TIME", func(s object) {
			c := list(s, "containers")[0]["securityContext"].(object)["capabilities"].(object)
			c["add"] = []any{"CAP_SYS_TIME"}
		}, true, true},
		{"clock control on", func(s object) { setEnv(list(s, "containers")[0], "CLOCK_CONTROL", "on") }, false, true},
		{"privileged", func(s object) {
			list(s, "containers")[0]["securityContext"].(object)["privileged"] = true
		}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testCopy(ds, base)
			if tc.mutate != nil {
				tc.mutate(podSpec(c[0]))
			}
			bad := unexpectedEdits(ds[0], c[0], allowedPaths(base))
			if (len(bad) > 0) != tc.wantEdits {
				t.Errorf("unexpected edits %q, want some: %v", bad, tc.wantEdits)
			}
			why := unsafe("daemonset", podSpec(c[0]))
			if (len(why) > 0) != tc.wantUnsafe {
				t.Errorf("unsafe %q, want some: %v", why, tc.wantUnsafe)
			}
		})
	}
	// The shipped manifest itself is not safe to apply here: that is why the copy exists.
	if why := unsafe("shipped daemonset", podSpec(ds[0])); len(why) == 0 {
		t.Error("the shipped DaemonSet passes the safety check: the check is blind")
	}
}
