package k8s

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/testcert"
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

// TestNTSOnCluster applies deployment.yaml and then nts.yaml (the test's copies: image and
// sources only) as the README says, with a Secret chrony-nts made from a throw-away CA
// (internal/testcert) and a hostPath PersistentVolume standing in for the ReadWriteMany class:
// the generator and the followers become Ready (httpGet probes), each serves NTS-KE with the
// Secret's certificate, and the followers export the key-sharing counters without errors.
func TestNTSOnCluster(t *testing.T) {
	needCluster(t)
	dir := t.TempDir()
	kubectl(t, "delete", "namespace", "chrony", "--ignore-not-found", "--wait=true", "--timeout=180s")
	pvName := "chrony-k8s-test-nts-keys"
	keysDir := filepath.Join(k8s.hostPath, "nts-keys")
	os.RemoveAll(keysDir)
	if err := os.MkdirAll(keysDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(keysDir, 100, 101); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		k8sRun("delete", "namespace", "chrony", "--ignore-not-found", "--wait=true", "--timeout=180s")
		k8sRun("delete", "persistentvolume", pvName, "--ignore-not-found", "--wait=true")
		os.RemoveAll(keysDir)
	})
	pv := fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata: {name: %s}
spec:
  capacity: {storage: 1Mi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %s, type: Directory}
`, pvName, keysDir)
	p := filepath.Join(dir, "pv.yaml")
	if err := os.WriteFile(p, []byte(pv), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", p)

	applyFile(t, dir, "deployment.yaml", imageV1, 0)
	cert := testcert.Write(t, dir, []string{"chrony.chrony.svc"}, nil, -1, -1, 0o600)
	kubectl(t, "-n", "chrony", "create", "secret", "tls", "chrony-nts", "--cert", cert.Cert, "--key", cert.Key)
	orig := readManifest(t, repoRoot(t), "nts.yaml")
	e := clusterEdits(t, "nts.yaml", imageV1, 0)
	c := testCopy(orig, e)
	for i := range orig {
		if bad := unexpectedEdits(orig[i], c[i], allowedPaths(e)); len(bad) > 0 {
			t.Fatalf("the test's copy of kubernetes/nts.yaml changes more than the allowed edits:\n%s", strings.Join(bad, "\n"))
		}
	}
	apply(t, dir, "nts.yaml", c)
	assertStoredSafe(t)
	kubectl(t, "-n", "chrony", "rollout", "status", "deployment/chrony-nts-keys", "--timeout=240s")
	kubectl(t, "-n", "chrony", "rollout", "status", "deployment/chrony", "--timeout=240s")

	caPEM, err := os.ReadFile(cert.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	var followers, generators int
	for _, p := range pods(t, "chrony", serverSelector) {
		if p.DeletionTimestamp != nil {
			continue
		}
		assertHTTPProbesPass(t, p)
		generator := strings.HasPrefix(p.Name, "chrony-nts-keys-")
		if generator {
			generators++
		} else {
			followers++
		}
		// NTS-KE: a TLS handshake with the Secret's certificate, as a client trusting its CA.
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(p.Status.PodIP, "4460"),
			&tls.Config{RootCAs: roots, ServerName: "chrony.chrony.svc", NextProtos: []string{"ntske/1"}, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Errorf("%s: NTS-KE handshake: %v", p.Name, err)
		} else {
			if conn.ConnectionState().NegotiatedProtocol != "ntske/1" {
				t.Errorf("%s: NTS-KE negotiated %q", p.Name, conn.ConnectionState().NegotiatedProtocol)
			}
			conn.Close()
		}
		body, err := scrape(fmt.Sprintf("http://%s:9123/metrics", p.Status.PodIP))
		if err != nil {
			t.Errorf("%s: scrape: %v", p.Name, err)
			continue
		}
		hasReloads := strings.Contains(body, "\nchrony_container_nts_key_reloads_total ")
		if hasReloads == generator || (!generator && !strings.Contains(body, "\nchrony_container_nts_key_reload_errors_total 0\n")) {
			t.Errorf("%s (generator %v): key reload counters wrong:\n%s", p.Name, generator, grepLines(body, "nts_key"))
		}
		if !strings.Contains(body, "\nchrony_container_nts_certificate_expiry_seconds ") {
			t.Errorf("%s: no certificate expiry in /metrics", p.Name)
		}
	}
	if followers != 3 || generators != 1 {
		t.Errorf("%d followers and %d generators Ready, want 3 and 1", followers, generators)
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
