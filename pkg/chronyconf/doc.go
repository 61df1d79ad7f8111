// Package chronyconf renders chrony.conf from validated settings and checks a file with
// chronyd's own parser (chronyd -p) before chronyd is started with it. The grammar of the lines
// taken from the environment (sources, directives, refclocks) is package chronysyntax's, and
// where the files go is package rundir's Layout.
package chronyconf
