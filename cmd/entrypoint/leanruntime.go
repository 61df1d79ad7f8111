package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// The Go runtime's settings for `run`, chosen from bench/memory.sh (README, "Size and
// performance"): PID 1 of a DaemonSet is paid on every node, and its work (reaping, chronyd's
// log lines, a scrape or probe now and then) needs neither parallelism nor a roomy heap.
// Measured after 1,000 scrapes against Go's defaults on 2 CPUs: one P saves about 1.7 MB of
// anonymous memory (per-P caches and GC workers; more on nodes with more CPUs), GOGC=50 a
// further 1.4 MB, and CPU per scrape stays as it was. A memory limit (GOMEMLIMIT) is not set:
// a limit under the runtime's own footprint makes the GC run continuously (measured with
// fresh rounds: 4, 6 and 8 MiB save 1.2-1.5 MB of anonymous memory for 7.9-8.1 ms of CPU per
// scrape instead of 1.8 ms, over three times chrony_exporter's), and 10, 12 or 16 MiB never
// binds (same memory, same CPU).
const (
	runMaxProcs  = 1
	runGCPercent = 50
)

// leanRuntime applies runMaxProcs and runGCPercent, except where the environment sets
// GOMAXPROCS or GOGC itself (the Go runtime has then applied those at start).
func leanRuntime(environ []string) {
	if !envPresent(environ, "GOMAXPROCS") {
		runtime.GOMAXPROCS(runMaxProcs)
	}
	if !envPresent(environ, "GOGC") {
		debug.SetGCPercent(runGCPercent)
	}
}

// envPresent reports whether environ sets name to a non-empty value (the Go runtime ignores an
// empty GOGC or GOMAXPROCS).
func envPresent(environ []string, name string) bool {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok && v != "" {
			return true
		}
	}
	return false
}
