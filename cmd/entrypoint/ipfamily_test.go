package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

func TestIPv6Usable(t *testing.T) {
	tests := []struct {
		name     string
		ifInet6  bool
		disabled string // content of disable_ipv6; "" for no such file
		want     bool
	}{
		{"enabled", true, "0\n", true},
		{"switched off (sysctl)", true, "1\n", false},
		{"absent (ipv6.disable=1)", false, "", false},
		{"no sysctl file", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			if tt.ifInet6 {
				entrypointtest.Must(t, os.MkdirAll(filepath.Join(proc, "net"), 0o755))
				entrypointtest.Must(t, os.WriteFile(filepath.Join(proc, "net", "if_inet6"), nil, 0o644))
			}
			if tt.disabled != "" {
				dir := filepath.Join(proc, "sys", "net", "ipv6", "conf", "all")
				entrypointtest.Must(t, os.MkdirAll(dir, 0o755))
				entrypointtest.Must(t, os.WriteFile(filepath.Join(dir, "disable_ipv6"), []byte(tt.disabled), 0o644))
			}
			if got := ipv6Usable(proc); got != tt.want {
				t.Errorf("ipv6Usable = %v, want %v", got, tt.want)
			}
		})
	}
}
