// Package procstatus reads /proc/<pid>/status: the uid, gid, capability sets and memory
// figures that the privilege tests, the capreport stand-in and the benchmarks check.
package procstatus

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status maps each field name of /proc/<pid>/status ("Uid", "CapEff", "VmRSS", ...) to its
// value with surrounding white space trimmed ("0\t0\t0\t0" stays tab-separated inside).
type Status map[string]string

// Read returns the status of pid; pid 0 means this process (/proc/self/status).
func Read(pid int) (Status, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	st := Status{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st, nil
}

// First is the first word of field k: the real id of "Uid"/"Gid", the number of "VmRSS".
func (s Status) First(k string) string {
	f := strings.Fields(s[k])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// RSSKiB is the resident set size (VmRSS) in KiB.
func (s Status) RSSKiB() (int, error) {
	kb, err := strconv.Atoi(s.First("VmRSS"))
	if err != nil {
		return 0, fmt.Errorf("VmRSS %q: %w", s["VmRSS"], err)
	}
	return kb, nil
}
