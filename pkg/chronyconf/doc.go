// Package chronyconf renders chrony.conf from validated settings and checks a file with
// chronyd's own parser (chronyd -p) before chronyd is started with it.
package chronyconf
