package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// capSysTime is CAP_SYS_TIME's bit in /proc/<pid>/status masks.
const capSysTime = 1 << 25

// capReport is what internal/testbin/capreport writes.
type capReport struct {
	UID, GID                       int
	CapEff, CapPrm, CapAmb, CapBnd string
	NoNewPrivs                     string
}

// TestDaemonSetClockControl runs the DaemonSet's security-context variants on the cluster, with
// the capability reporter as chronyd: the program that would set the clock reports what it was
// given instead. Under containerd 1.6's CRI each variant must give it CAP_SYS_TIME as UID 100.
func TestDaemonSetClockControl(t *testing.T) {
	needCluster(t)
	dir := t.TempDir()
	hostDir := filepath.Join(k8s.hostPath, "var-lib-chrony")
	chrony := `spec\.template\.spec\.containers\[name=chrony\]\.securityContext\.`
	variants := []struct {
		name  string
		edit  func(ctr object)
		paths []string
	}{
		// As shipped: UID 100, SYS_TIME added, the entrypoint's +p file capability.
		{name: "shipped"},
		{name: "allowPrivilegeEscalation true",
			edit:  func(c object) { c["securityContext"].(object)["allowPrivilegeEscalation"] = true },
			paths: []string{chrony + `allowPrivilegeEscalation`}},
		{name: "allowPrivilegeEscalation false",
			edit:  func(c object) { c["securityContext"].(object)["allowPrivilegeEscalation"] = false },
			paths: []string{chrony + `allowPrivilegeEscalation`}},
		// The root-start variant of the manifest's comment.
		{name: "root start",
			edit: func(c object) {
				sc := c["securityContext"].(object)
				sc["runAsUser"] = int64(0)
				sc["runAsNonRoot"] = false
				sc["allowPrivilegeEscalation"] = false
				sc["capabilities"].(object)["add"] = []any{"SYS_TIME", "SETUID", "SETGID"}
			},
			paths: []string{chrony + `allowPrivilegeEscalation`, chrony + `runAsUser`, chrony + `runAsNonRoot`,
				chrony + `capabilities\.add\[(SETUID|SETGID)\]`}},
	}
	l, err := listenTCP()
	if err != nil {
		t.Fatal(err)
	}
	orig := readManifest(t, repoRoot(t), "daemonset.yaml")
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			out := "capreport-" + strconv.Itoa(i) + ".json"
			os.Remove(filepath.Join(hostDir, out))
			e := edits{Image: imageV1, Sources: upstreamSource(), HTTPAddr: fmt.Sprintf(":%d", l),
				HostPath: hostDir, Capreport: true, CapreportOut: "/var/lib/chrony/" + out, VariantPaths: v.paths}
			if v.edit != nil {
				e.Variant = func(spec object) {
					for _, c := range list(spec, "containers") {
						if c["name"] == "chrony" {
							v.edit(c)
						}
					}
				}
			}
			c := testCopy(orig, e)
			if bad := unexpectedEdits(orig[0], c[0], allowedPaths(e)); len(bad) > 0 {
				t.Fatalf("variant changes more than it says: %q", bad)
			}
			apply(t, dir, "daemonset.yaml", c)
			assertStoredSafe(t)
			// The API server stored the variant's security context as sent.
			var stored object
			getJSON(t, &stored, "-n", "kube-system", "get", "daemonset", "chrony")
			sent, got := flatten("", chronySecurityContext(c[0])), flatten("", chronySecurityContext(stored))
			for k, v := range sent {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("stored securityContext.%s = %v, sent %v", k, got[k], v)
				}
			}
			var r capReport
			waitFor(t, 3*time.Minute, "the capability report", func() (bool, string) {
				data, err := os.ReadFile(filepath.Join(hostDir, out))
				if err != nil {
					return false, err.Error()
				}
				return json.Unmarshal(data, &r) == nil, string(data)
			})
			t.Logf("%s: %+v", v.name, r)
			eff, _ := strconv.ParseUint(r.CapEff, 16, 64)
			if r.UID != 100 || eff&capSysTime == 0 {
				t.Errorf("chronyd would run as UID %d with effective capabilities %s: want UID 100 with CAP_SYS_TIME", r.UID, r.CapEff)
			}
			if eff&^capSysTime != 0 {
				t.Errorf("chronyd would get more than CAP_SYS_TIME: effective %s", r.CapEff)
			}
			// The entrypoint starts chronyd with no_new_privs whatever the pod says.
			if r.NoNewPrivs != "1" {
				t.Errorf("NoNewPrivs %s, want 1", r.NoNewPrivs)
			}
		})
	}
	kubectl(t, "-n", "kube-system", "delete", "daemonset", "chrony", "--wait=true")
}

// chronySecurityContext is the chrony container's securityContext in a workload.
func chronySecurityContext(o object) object {
	for _, c := range list(podSpec(o), "containers") {
		if c["name"] == "chrony" {
			sc, _ := c["securityContext"].(object)
			return sc
		}
	}
	return nil
}
