package chronysyntax

import "testing"

func TestInetAton(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for not numeric, "invalid" for numeric but out of range
	}{
		{"0x7f000003", "127.0.0.3"},
		{"0x7f.0x0.0x0.0x3", "127.0.0.3"},
		{"0x7f.1", "127.0.0.1"},
		{"2130706435", "127.0.0.3"},
		{"0177.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"1.2.3.4", "1.2.3.4"},
		{"0x", "0.0.0.0"},
		{"08.1.1.1", ""},
		{"256.1", "invalid"},
		{"1.2.3.4.5", "invalid"},
		{"0x1ffffffff", "invalid"},
		{"0xdead.example", ""},
		{"x.0x1", ""},
		{"time.example", ""},
		{"abc", ""},
	}
	for _, tt := range tests {
		a, numeric := inetAton(tt.in)
		got := ""
		switch {
		case numeric && a.IsValid():
			got = a.String()
		case numeric:
			got = "invalid"
		}
		if got != tt.want {
			t.Errorf("inetAton(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
