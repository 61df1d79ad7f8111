// Command pause is the pod sandbox's process for the test cluster (scripts/k8s-up.sh): it holds
// the pod's namespaces, reaps orphans (it is PID 1 of the pod when the pod shares its PID
// namespace) and exits 0 on SIGINT or SIGTERM. The upstream image registry.k8s.io/pause does the
// same in C; no registry is reachable here, so the cluster's containerd runs this one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
