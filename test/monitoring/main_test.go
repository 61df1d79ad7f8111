package monitoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// bin is the entrypoint, built once.
var bin string

func TestMain(m *testing.M) { entrypointtest.Main(m, &bin) }

// prometheusBin is the path of Debian's prometheus or promtool, fetched into .cache.
func prometheusBin(t *testing.T, name string) string {
	t.Helper()
	root := chronytest.RepoRoot(t)
	out, err := exec.Command(filepath.Join(root, "scripts", "fetch-prometheus.sh")).Output()
	if err != nil {
		t.Fatalf("scripts/fetch-prometheus.sh: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), name)
}

// repoFile is a path under the repository root.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(chronytest.RepoRoot(t), rel)
}

// rulesFile is the Prometheus rules file users load.
const rulesFile = "monitoring/prometheus/chrony-rules.yml"

// ruleGroups is a Prometheus rules file, as much of it as the tests read.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var g ruleGroups
	if err := yaml.UnmarshalStrict(b, &g); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rs []rule
	for _, grp := range g.Groups {
		rs = append(rs, grp.Rules...)
	}
	return rs
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
