// Command entrypoint is PID 1 of the chrony image: it renders chrony.conf from the
// environment (or uses a mounted one), checks what the container was given, launches chronyd
// with only the privileges it needs, supervises it, and answers probes and metrics scrapes over
// chronyd's command socket.
//
// main parses, wires and exits; the work lives in the packages under pkg/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = "unknown"
)

func main() {
	// First: without a handler, SIGTERM before the supervisor runs kills PID 1 with the Go
	// runtime's exit 2 (or 143 outside a container) and leaves no log line; and a write to a
	// closed stdout or stderr kills it with SIGPIPE, leaving chronyd unsupervised. Handled, a
	// stop signal ends the context every command runs under, and a broken pipe is just EPIPE.
	ctx, stop := stopContext()
	code := runApp(ctx, os.Args, environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// stopContext is cancelled, with the signal as its cause, by the first SIGTERM, SIGINT or
// SIGQUIT; later ones stay handled too (the supervisor forwards them to chronyd). SIGPIPE is
// caught and ignored, so writes to a broken pipe fail with EPIPE instead of killing the process;
// as a caught (not ignored) signal it is reset to the default in chronyd at exec.
func stopContext() (context.Context, func()) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		select {
		case sig := <-sigs:
			cancel(fmt.Errorf("%s received", sig))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}
