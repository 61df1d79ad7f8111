// Command capreport stands in for chronyd in privilege tests: it reports the identity and
// capabilities it was started with, so a test can check exactly what chronyd would get,
// without ever running a program that could set the clock.
//
// It writes one JSON object to the file named by CAPREPORT_OUT (or stdout), creates the files
// named by CAPREPORT_PIDFILE and CAPREPORT_SOCKET when set (as chronyd would), then waits for
// SIGTERM, SIGINT or SIGQUIT and exits 0; it exits by itself after 60 s. With -p (chronyd's
// config check) it prints the -f file as chronyd -p would (without expanding includes) and
// exits 0 without reporting.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/chris-short/chrony/internal/procstatus"
)

// Report is what capreport writes. Capability sets are the hex masks of /proc/self/status.
type Report struct {
	Argv       []string
	UID, GID   int
	Groups     []int
	CapEff     string
	CapPrm     string
	CapInh     string
	CapAmb     string
	CapBnd     string
	NoNewPrivs string
}

func main() {
	if slices.Contains(os.Args[1:], "-p") {
		if i := slices.Index(os.Args, "-f"); i > 0 && i+1 < len(os.Args) {
			b, err := os.ReadFile(os.Args[i+1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "capreport:", err)
				os.Exit(1)
			}
			os.Stdout.Write(b)
		}
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	if err := report(); err != nil {
		fmt.Fprintln(os.Stderr, "capreport:", err)
		os.Exit(2)
	}
	for _, env := range []string{"CAPREPORT_PIDFILE", "CAPREPORT_SOCKET"} {
		if p := os.Getenv(env); p != "" {
			if err := os.WriteFile(p, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "capreport:", err)
				os.Exit(2)
			}
		}
	}
	fmt.Fprintln(os.Stderr, time.Now().UTC().Format(time.RFC3339), "capreport running")
	select {
	case s := <-sigs:
		fmt.Fprintln(os.Stderr, time.Now().UTC().Format(time.RFC3339), "capreport got", s)
	case <-time.After(60 * time.Second):
	}
}

func report() error {
	groups, err := os.Getgroups()
	if err != nil {
		return err
	}
	r := Report{Argv: os.Args, UID: os.Getuid(), GID: os.Getgid(), Groups: groups}
	st, err := procstatus.Read(0)
	if err != nil {
		return err
	}
	r.CapEff, r.CapPrm, r.CapInh = st["CapEff"], st["CapPrm"], st["CapInh"]
	r.CapAmb, r.CapBnd, r.NoNewPrivs = st["CapAmb"], st["CapBnd"], st["NoNewPrivs"]
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if out := os.Getenv("CAPREPORT_OUT"); out != "" {
		return os.WriteFile(out, append(b, '\n'), 0o644)
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}
