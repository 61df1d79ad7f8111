package readme

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/config"
)

var update = flag.Bool("update", false, "rewrite README's generated sections")

const (
	beginVars = "<!-- variables:begin (generated from pkg/config/variables.go by `go test ./test/readme -update`) -->\n"
	endVars   = "<!-- variables:end -->"
)

// variablesTable is the README's table of every environment variable and its default.
func variablesTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range config.Variables {
		def := "unset"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		desc := strings.ReplaceAll(v.Description, "|", `\|`)
		b.WriteString("| `" + v.Name + "` | " + def + " | " + desc + " |\n")
	}
	return b.String()
}

// TestVariablesTable: the README lists every variable with its default, exactly as the code
// documents it.
func TestVariablesTable(t *testing.T) {
	b, err := os.ReadFile(Path())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, beginVars), strings.Index(s, endVars)
	if i < 0 || j < i {
		t.Fatalf("README lacks the markers %q ... %q", beginVars, endVars)
	}
	got := s[i+len(beginVars) : j]
	want := variablesTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(Path(), []byte(s[:i+len(beginVars)]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README's variables table is stale: run go test ./test/readme -update\n--- got\n%s\n--- want\n%s", got, want)
}

// TestDockerRunLine: the quick-start command has the hardening the README promises.
func TestDockerRunLine(t *testing.T) {
	flags, err := DockerRunFlags()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(flags, " ")
	for _, want := range []string{"--cap-drop ALL", "--security-opt no-new-privileges", "--read-only", "--tmpfs /run/chrony", "-v chrony-state:/var/lib/chrony", "-p 123:123/udp"} {
		if !strings.Contains(line, want) {
			t.Errorf("README's docker run lacks %q: %s", want, line)
		}
	}
}

// TestQuotedMessagesExist: each message the troubleshooting table quotes is one the code can
// print (its literal part, up to the first placeholder).
func TestQuotedMessagesExist(t *testing.T) {
	root := filepath.Dir(Path())
	readme, err := os.ReadFile(Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{
		"is not a known variable; did you mean",
		"is mounted, so",
		"the container was not given CAP_SYS_TIME",
		"is in the bounding set but not permitted to uid",
		"the runtime dropped it for a non-root user",
		"because no-new-privileges is set",
		"is on a read-only file system",
		"holds no UDP socket on NTP port",
		"is not a regular file",
		"is not writable by uid",
		"was killed by signal",
		"set enableServiceLinks: false in the pod spec",
		"no selected source",
		"NTP sources have no address: host names not resolved",
		"host name(s) not resolved",
		"READY_ALLOW_LOCAL=true counts this as ready",
		"over READY_MAX_DISTANCE=",
		"chronyd lost synchronisation",
		"chronyd changed its selected source",
		"serving the local clock as configured (no network source)",
		"unknown option",
	} {
		if !strings.Contains(string(readme), msg) {
			t.Errorf("README does not quote %q", msg)
		}
		out, err := exec.Command("grep", "-rlF", "--include=*.go", "--exclude=*_test.go", msg, filepath.Join(root, "pkg")).Output()
		if err != nil || len(out) == 0 {
			t.Errorf("no code under pkg/ prints %q (grep: %v)", msg, err)
		}
	}
}
