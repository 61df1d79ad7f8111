package k8s

import (
	"path"
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/config"
)

// TestNTSManifest checks kubernetes/nts.yaml without a cluster: its Deployments are
// deployment.yaml's with only the NTS parts changed, the certificate is a whole Secret volume
// (a subPath mount never sees a renewal), the generator keeps its STATE_DIR on the shared
// volume and the followers read its ntskeys there read-only, and the entrypoint accepts every
// environment.
func TestNTSManifest(t *testing.T) {
	repo := repoRoot(t)
	var server object
	for _, o := range readManifest(t, repo, "deployment.yaml") {
		if o["kind"] == "Deployment" {
			server = o
		}
	}
	byName := map[string]object{}
	for _, o := range readManifest(t, repo, "nts.yaml") {
		byName[o["kind"].(string)+"/"+o["metadata"].(object)["name"].(string)] = o
	}
	followers, generator, pvc := byName["Deployment/chrony"], byName["Deployment/chrony-nts-keys"], byName["PersistentVolumeClaim/chrony-nts-keys"]
	if followers == nil || generator == nil || pvc == nil || len(byName) != 3 {
		t.Fatalf("nts.yaml: want Deployments chrony and chrony-nts-keys and PersistentVolumeClaim chrony-nts-keys, got %v", byName)
	}
	ctr := `spec\.template\.spec\.containers\[name=chrony\]`
	nts := []string{ctr + `\.env\[name=(NTS_SERVER_CERT|NTS_SERVER_KEY)\]\..*`, ctr + `\.volumeMounts\[name=nts\]\..*`,
		`spec\.template\.spec\.volumes\[name=nts\]\..*`}
	for _, tc := range []struct {
		name    string
		o       object
		allowed []string
	}{
		{"followers", followers, append([]string{ctr + `\.env\[name=NTS_KEYS_FROM\]\..*`, ctr + `\.volumeMounts\[name=nts-keys\]\..*`,
			`spec\.template\.spec\.volumes\[name=nts-keys\]\..*`}, nts...)},
		{"generator", generator, append([]string{`metadata\.name`, `spec\.replicas`, `spec\.strategy\..*`,
			`spec\.template\.spec\.volumes\[name=state\]\..*`}, nts...)},
	} {
		if bad := unexpectedEdits(server, tc.o, tc.allowed); len(bad) > 0 {
			t.Errorf("nts.yaml %s: differs from deployment.yaml's Deployment beyond NTS:\n%s", tc.name, strings.Join(bad, "\n"))
		}
	}
	if s := generator["spec"].(object); s["replicas"] != float64(1) || s["strategy"].(object)["type"] != "Recreate" {
		t.Errorf("generator: replicas %v strategy %v, want one at a time (1, Recreate)", s["replicas"], s["strategy"])
	}
	if s := pvc["spec"].(object); len(s["accessModes"].([]any)) != 1 || s["accessModes"].([]any)[0] != "ReadWriteMany" {
		t.Errorf("PersistentVolumeClaim accessModes %v, want [ReadWriteMany]", s["accessModes"])
	}
	checkNTSPod(t, "followers", podSpec(followers), true)
	checkNTSPod(t, "generator", podSpec(generator), false)
}

// checkNTSPod checks one NTS server pod spec: follower reads the keys, else it generates them.
func checkNTSPod(t *testing.T, name string, spec object, follower bool) {
	t.Helper()
	vols := map[string]object{}
	for _, v := range list(spec, "volumes") {
		vols[v["name"].(string)] = v
	}
	var c object
	for _, x := range list(spec, "containers") {
		if x["name"] == "chrony" {
			c = x
		}
	}
	env := envOf(c)
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	settings, err := config.Load(environ)
	if err != nil {
		t.Fatalf("%s: the entrypoint rejects its environment: %v", name, err)
	}
	// mountOf returns the volume mount whose path holds file.
	mountOf := func(file string) object {
		for _, m := range list(c, "volumeMounts") {
			if mp := m["mountPath"].(string); strings.HasPrefix(file, strings.TrimSuffix(mp, "/")+"/") {
				return m
			}
		}
		return nil
	}
	for _, m := range list(c, "volumeMounts") {
		if m["subPath"] != nil || m["subPathExpr"] != nil {
			t.Errorf("%s: volume mount %v uses subPath: a renewed Secret or new keys would never reach the pod", name, m["name"])
		}
	}
	for _, f := range []string{settings.NTSServerCert, settings.NTSServerKey} {
		m := mountOf(f)
		if m == nil || m["readOnly"] != true {
			t.Errorf("%s: %s is not on a read-only mount", name, f)
			continue
		}
		if s, _ := vols[m["name"].(string)]["secret"].(object); s == nil || s["secretName"] != "chrony-nts" {
			t.Errorf("%s: %s is not in the Secret chrony-nts: volume %v", name, f, vols[m["name"].(string)])
		}
	}
	pvcOf := func(m object) object {
		if m == nil {
			return nil
		}
		p, _ := vols[m["name"].(string)]["persistentVolumeClaim"].(object)
		if p == nil || p["claimName"] != "chrony-nts-keys" {
			return nil
		}
		return p
	}
	if follower {
		m := mountOf(env["NTS_KEYS_FROM"])
		if p := pvcOf(m); p == nil || path.Base(env["NTS_KEYS_FROM"]) != "ntskeys" || m["readOnly"] != true || p["readOnly"] != true {
			t.Errorf("followers: NTS_KEYS_FROM %q is not the generator's ntskeys on a read-only mount of chrony-nts-keys", env["NTS_KEYS_FROM"])
		}
		return
	}
	if env["NTS_KEYS_FROM"] != "" {
		t.Errorf("generator: NTS_KEYS_FROM %q: the generator rotates its own keys", env["NTS_KEYS_FROM"])
	}
	if m := mountOf(settings.StateDir + "/ntskeys"); pvcOf(m) == nil || m["readOnly"] == true {
		t.Errorf("generator: STATE_DIR %s is not on a writable mount of chrony-nts-keys", settings.StateDir)
	}
}
