package main

import (
	"os"
	"strings"
)

// environ is the environment exactly as the process received it, repeated names included, so
// that config.Load can reject a repeated variable: os.Environ keeps only the first of them.
// Without /proc it is os.Environ.
func environ() []string {
	b, err := os.ReadFile("/proc/self/environ")
	if err != nil || len(b) == 0 {
		return os.Environ()
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}
