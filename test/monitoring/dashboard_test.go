package monitoring

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

const dashboardFile = "monitoring/grafana/chrony-dashboard.json"

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type       string                `json:"type"`
	Title      string                `json:"title"`
	Datasource *struct{ UID string } `json:"datasource"`
	Targets    []struct {
		Expr       string                `json:"expr"`
		Datasource *struct{ UID string } `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// TestDashboardShape: the dashboard imports anywhere (a datasource variable, no fixed
// datasource uid), filters by job and node, and has a fleet and a node view.
func TestDashboardShape(t *testing.T) {
	d := readDashboard(t)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Type+":"+v.Name)
	}
	for _, want := range []string{"datasource:datasource", "query:job", "query:instance"} {
		if !slices.Contains(vars, want) {
			t.Errorf("variables %v lack %s", vars, want)
		}
	}
	titles := map[string]bool{}
	for _, p := range d.allPanels() {
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query's datasource is %+v", p.Title, tg.Datasource)
			}
		}
	}
	for _, want := range []string{"Fleet clock skew bound", "Worst nodes", "Offset", "Clock error bound and root distance",
		"Frequency", "Source reachability", "Sources", "Server: NTP packets"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}
