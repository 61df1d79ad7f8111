package supervisor

import (
	"strings"
	"testing"
)

func TestCopyLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	cases := []struct {
		name  string
		input string
		want  []string
	}{
		{"ordered", "a\nb\nc\n", []string{"a", "b", "c"}},
		{"last line without newline", "a\nb", []string{"a", "b"}},
		{"empty input", "", nil},
		{"long line split, not lost", long + "\nz\n", []string{long[:maxLine], long[maxLine:], "z"}},
		{"blank lines kept", "a\n\nb\n", []string{"a", "", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := copyLines(strings.NewReader(tc.input), func(l string) { got = append(got, l) }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %d lines %.80q, want %d lines %.80q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}
