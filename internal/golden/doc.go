// Package golden compares a test's output with a golden file in testdata/, or rewrites that
// file when the test runs with -update.
//
// Each package keeps its own -update flag (a flag can be defined once per test binary, and the
// go tool passes it only to the packages named) and hands its value to Compare: this package
// defines no flag. It holds the one copy of the compare-or-rewrite logic the tests shared.
package golden
