package monitoring

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const rulesTestFile = "monitoring/prometheus/tests/chrony-rules.test.yml"

// TestPromtool: promtool accepts the rules and their unit tests pass.
func TestPromtool(t *testing.T) {
	promtool := prometheusBin(t, "promtool")
	t.Logf("%s", run(t, promtool, "check", "rules", repoFile(t, rulesFile)))
	t.Logf("%s", run(t, promtool, "test", "rules", repoFile(t, rulesTestFile)))
}

// TestEveryAlertTested: each alert has a promtool case where it fires and one where it stays
// silent at a time it could have fired.
func TestEveryAlertTested(t *testing.T) {
	b, err := os.ReadFile(repoFile(t, rulesTestFile))
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Tests []struct {
			Name  string `json:"name"`
			Evals []struct {
				Alert     string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, e := range tc.Evals {
			if len(e.ExpAlerts) > 0 {
				fires[e.Alert] = true
			} else {
				silent[e.Alert] = true
			}
		}
	}
	for _, r := range readRules(t) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] || !silent[r.Alert] {
			t.Errorf("%s: promtool cases firing %v, silent %v; want both", r.Alert, fires[r.Alert], silent[r.Alert])
		}
	}
}

// TestAlertAnnotations: every alert says what happened, what to check, and links its README
// runbook section, which exists; every alert has a severity.
func TestAlertAnnotations(t *testing.T) {
	readme, err := os.ReadFile(repoFile(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	heading := regexp.MustCompile(`(?m)^#+ (.+)$`)
	for _, m := range heading.FindAllStringSubmatch(string(readme), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	const base = "https://github.com/chris-short/chrony#"
	for _, r := range readRules(t) {
		if r.Alert == "" {
			continue
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: no %s", r.Alert, k)
			}
		}
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
			t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
		}
		u := r.Annotations["runbook_url"]
		if !strings.HasPrefix(u, base) || !anchors[strings.TrimPrefix(u, base)] {
			t.Errorf("%s: runbook_url %q is not a README section", r.Alert, u)
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
