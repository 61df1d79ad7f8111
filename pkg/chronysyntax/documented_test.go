package chronysyntax_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/chronysyntax"
	"github.com/chris-short/chrony/pkg/config"
)

// TestDirectivesDocumented: NTP_DIRECTIVES' documented allow-list (config.Variables, the
// source of the README's table and of `config --help`) names exactly the directives the
// grammar accepts, so neither can grow without the other.
func TestDirectivesDocumented(t *testing.T) {
	i := slices.IndexFunc(config.Variables, func(v config.Variable) bool { return v.Name == "NTP_DIRECTIVES" })
	if i < 0 {
		t.Fatal("NTP_DIRECTIVES is not in config.Variables")
	}
	doc := config.Variables[i].Description
	_, list, ok := strings.Cut(doc, "from an allow-list: ")
	if ok {
		list, _, ok = strings.Cut(list, ". ")
	}
	if !ok {
		t.Fatalf("NTP_DIRECTIVES' description has no allow-list (\"from an allow-list: ... . \"): %q", doc)
	}
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z]+)[^`]*`").FindAllStringSubmatch(list, -1) {
		documented = append(documented, m[1])
	}
	slices.Sort(documented)
	if known := chronysyntax.Directives(); !slices.Equal(documented, known) {
		t.Errorf("NTP_DIRECTIVES documents %v, the grammar knows %v", documented, known)
	}
}
