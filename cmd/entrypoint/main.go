// Command entrypoint is PID 1 of the chrony image: it renders chrony.conf from the
// environment (or uses a mounted one), checks what the container was given, launches chronyd
// with only the privileges it needs, supervises it, and answers probes and metrics scrapes over
// chronyd's command socket.
//
// main parses, wires and exits; the work lives in the packages under pkg/.
package main

import (
	"context"
	"os"
)

// Set at build time with -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = "unknown"
)

func main() {
	// Signals are the supervisor's business in `run`; the other commands are bounded by their
	// own deadlines, so a plain background context is enough here.
	os.Exit(runApp(context.Background(), os.Args, os.Environ(), os.Stdout, os.Stderr))
}
