// Package proctest is what tests do with the processes they start (chronyd, the entrypoint,
// Prometheus), once, so that no test package grows its own, slightly different, copy: Stop
// (SIGTERM, a deadline, then SIGKILL, and a process that needed the SIGKILL fails the test,
// since everything the tests start is meant to stop on SIGTERM in time), Children (what is left
// under a process, from /proc) and Running.
package proctest

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/procstatus"
)

// reapTimeout bounds the wait for done after SIGKILL: done may also wait for output pipes that
// a surviving grandchild holds open.
const reapTimeout = 10 * time.Second

// Stop ends p, a process the test started whose exit (and reaping) closes done. It does
// nothing when done is already closed. Otherwise it sends SIGTERM and waits at most within for
// done; a process still running then is SIGKILLed and the test fails naming it (what), and
// when done is still open reapTimeout after the SIGKILL the test fails again and Stop returns.
// Safe to call from a t.Cleanup, a defer, or twice.
func Stop(t testing.TB, what string, p *os.Process, done <-chan struct{}, within time.Duration) {
	t.Helper()
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(within):
	}
	_ = p.Kill()
	t.Errorf("%s (pid %d) still running %v after SIGTERM: SIGKILLed", what, p.Pid, within)
	select {
	case <-done:
	case <-time.After(reapTimeout):
		t.Errorf("%s (pid %d) not reaped %v after SIGKILL", what, p.Pid, reapTimeout)
	}
}

// Children lists the processes whose parent is ppid, each with its state letter from
// /proc/<pid>/status ("S", "R", "Z" for a zombie, ...). A process that exits during the scan is
// left out; /proc that cannot be listed fails the test.
func Children(t testing.TB, ppid int) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list children of %d: %v", ppid, err)
	}
	parent := strconv.Itoa(ppid)
	kids := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procstatus.Read(pid)
		if err != nil {
			continue // gone
		}
		if st["PPid"] == parent {
			kids[pid] = st.First("State")
		}
	}
	return kids
}

// Running reports whether pid is a process that has not exited (a zombie has).
func Running(pid int) bool {
	st, err := procstatus.Read(pid)
	return err == nil && st.First("State") != "Z"
}
