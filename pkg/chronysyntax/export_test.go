package chronysyntax

import (
	"maps"
	"slices"
)

// Directives is every directive the grammar knows, for the tests of package chronysyntax_test.
func Directives() []string { return slices.Sorted(maps.Keys(directives)) }
