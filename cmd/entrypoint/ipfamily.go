package main

import (
	"os"
	"path/filepath"
	"strings"
)

// ipv6Usable says whether the host has IPv6, as seen under proc (normally /proc): no
// net/if_inet6 means the kernel has none (ipv6.disable=1), and net.ipv6.conf.all.disable_ipv6=1
// means it is switched off. chronyd fails to open [::]:123 on such hosts unless given -4.
func ipv6Usable(proc string) bool {
	if _, err := os.Stat(filepath.Join(proc, "net", "if_inet6")); err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join(proc, "sys", "net", "ipv6", "conf", "all", "disable_ipv6"))
	return err != nil || strings.TrimSpace(string(b)) != "1"
}
