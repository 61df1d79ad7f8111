package config

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// nearMisses reports set variables that are not ours but look like a mistyped one of ours: a
// name from another image (aliases), a different case, full-width look-alike letters, or an
// edit distance of at most 2 for names of 5 or more characters (1 for names of 3 or 4).
func nearMisses(names []string, e env) []error {
	ours := map[string]bool{}
	for _, v := range Variables {
		ours[v.Name] = true
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var errs []error
	for _, name := range sorted {
		if ours[name] {
			continue
		}
		if hint, ok := aliases[strings.ToUpper(name)]; ok {
			errs = append(errs, fmt.Errorf("%s is not a known variable; %s", printable(name), hint))
			continue
		}
		if isKubeLinkName(name) || isKubeServiceLink(e[name]) {
			continue
		}
		folded := strings.ToUpper(foldWidth(name))
		// Short names allow one edit (ALOW for ALLOW); names under 3 characters none, as
		// everything is one or two edits from them.
		limit := 3
		switch n := utf8.RuneCountInString(folded); {
		case n < 3:
			continue
		case n < 5:
			limit = 2
		}
		best, bestD := "", limit
		for _, v := range Variables {
			if d := distance(folded, v.Name, bestD); d < bestD {
				best, bestD = v.Name, d
			}
		}
		if best != "" {
			errs = append(errs, fmt.Errorf("%s is not a known variable; did you mean %s?", printable(name), best))
		}
	}
	return errs
}

// printable quotes a name only when it holds something other than plain ASCII.
func printable(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return fmt.Sprintf("%+q", name)
		}
	}
	return name
}

// foldWidth maps full-width forms (Ｎ, ＿) to their ASCII letters so look-alikes compare equal.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0xFF01 && r <= 0xFF5E {
			return r - 0xFEE0
		}
		return r
	}, s)
}

// distance is the Levenshtein distance between a and b, or limit when it is at least limit.
func distance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}
