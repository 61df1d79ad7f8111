// Command sizes says what each package adds to the entrypoint (issue 16, Size), from the
// linker's own reachability graph: for each package P, the symbol bytes that would go if P's
// symbols were gone (what only P keeps alive: a build with its import removed, the linker's
// other decisions unchanged) beside P's own symbol bytes. bench/size.sh runs it.
//
//	sizes DUMPDEP BINARY [N]
//
// DUMPDEP is the stderr of `go build -ldflags=-dumpdep`, BINARY that build (without -s -w);
// N packages (default 40), largest own size first, are tried. Only symbols in sections the
// file holds count (not .bss); the pclntab and DWARF are left out, so the sum is under the
// file's size. A package everything hangs on (runtime, main) is listed as such.
package main

import (
	"bufio"
	"cmp"
	"debug/elf"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: sizes DUMPDEP BINARY [N]")
		os.Exit(2)
	}
	n := 40
	if len(os.Args) > 3 {
		n, _ = strconv.Atoi(os.Args[3])
	}
	size, err := symbolSizes(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	graph := map[string][]string{}
	var roots []string
	eachLine(os.Args[1], func(l string) {
		a, b, ok := strings.Cut(l, " -> ")
		if !ok {
			return
		}
		b, _, _ = strings.Cut(b, " <")
		if a == "_" {
			roots = append(roots, b)
		} else {
			graph[a] = append(graph[a], b)
		}
	})
	full := reach(graph, roots, "")
	total, own := 0, map[string]int{}
	for s := range full {
		total += size[s]
		own[pkgOf(s)] += size[s]
	}
	pkgs := make([]string, 0, len(own))
	for p := range own {
		pkgs = append(pkgs, p)
	}
	slices.SortFunc(pkgs, func(a, b string) int { return cmp.Compare(own[b], own[a]) })
	type row struct {
		p         string
		gone, own int
	}
	var rows []row
	for _, p := range pkgs[:min(n, len(pkgs))] {
		kept := 0
		for s := range reach(graph, roots, p) {
			kept += size[s]
		}
		rows = append(rows, row{p, total - kept, own[p]})
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.gone, a.gone) })
	fmt.Printf("%10s %10s  %s\n", "only-via", "own", "package (KB of symbols; only-via: what would go with it)")
	for _, r := range rows {
		if r.gone > total/2 {
			fmt.Printf("%10s %10.1f  %s (everything hangs on it)\n", "-", float64(r.own)/1000, r.p)
			continue
		}
		fmt.Printf("%10.1f %10.1f  %s\n", float64(r.gone)/1000, float64(r.own)/1000, r.p)
	}
	fmt.Printf("%10.1f %10s  all reachable symbols\n", float64(total)/1000, "")
}

// symbolSizes maps each symbol of the ELF file at path to its size, for symbols in sections
// with contents in the file.
func symbolSizes(path string) (map[string]int, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	size := map[string]int{}
	for _, s := range syms {
		i := int(s.Section)
		if i <= 0 || i >= len(f.Sections) || f.Sections[i].Type != elf.SHT_PROGBITS {
			continue
		}
		size[s.Name] += int(s.Size)
	}
	return size, nil
}

func eachLine(path string, f func(string)) {
	fh, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f(sc.Text())
	}
}

// reach is the set of symbols reachable from roots without entering package skip.
func reach(graph map[string][]string, roots []string, skip string) map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(roots)
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] || (skip != "" && pkgOf(s) == skip) {
			continue
		}
		seen[s] = true
		stack = append(stack, graph[s]...)
	}
	return seen
}

var (
	prefix = regexp.MustCompile(`^(type:\*?|go:itab\.\*?|go:string\.|gclocals·)`)
	pkgs   = map[string]string{}
)

// pkgOf is the package of a symbol name: the path up to the first dot after its last slash.
func pkgOf(sym string) string {
	if p, ok := pkgs[sym]; ok {
		return p
	}
	p := parsePkg(sym)
	pkgs[sym] = p
	return p
}

func parsePkg(sym string) string {
	s := strings.TrimLeft(prefix.ReplaceAllString(sym, ""), "*(")
	dir, last := "", s
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		dir, last = s[:i+1], s[i+1:]
	}
	name, _, _ := strings.Cut(last, ".")
	return dir + name
}
