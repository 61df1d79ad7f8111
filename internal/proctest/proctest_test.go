package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestStop: a process that exits on SIGTERM is stopped without a failure; one that ignores
// SIGTERM is SIGKILLed at the deadline and the test fails naming it; an exited one is left.
func TestStop(t *testing.T) {
	tests := []struct {
		name, script string
		exited       bool // wait for the process to exit before Stop
		wantErrors   int
	}{
		{name: "stops on SIGTERM", script: "echo ready; exec sleep 30"},
		{name: "ignores SIGTERM: killed and reported", script: `trap "" TERM; echo ready; while :; do sleep 0.05; done`, wantErrors: 1},
		{name: "already exited", script: "echo ready; exit 3", exited: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tt.script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The trap must be set before the signal: every script says ready after it.
			buf := make([]byte, 6)
			_, _ = out.Read(buf)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			if tt.exited {
				<-done
			}
			r := &recorder{TB: t}
			t0 := time.Now()
			Stop(r, "sh", cmd.Process, done, 500*time.Millisecond)
			select {
			case <-done:
			default:
				t.Fatal("Stop returned with the process still running")
			}
			if len(r.errors) != tt.wantErrors {
				t.Errorf("failures %q, want %d", r.errors, tt.wantErrors)
			}
			if took := time.Since(t0); tt.wantErrors == 0 && took > 400*time.Millisecond {
				t.Errorf("Stop took %v for a process that stops on SIGTERM", took)
			}
		})
	}
}

// TestChildrenAndRunning: a child that runs is listed with its state and Running; once it has
// exited and before it is reaped it is a zombie ("Z") and not Running; reaped, it is gone.
func TestChildrenAndRunning(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if st, ok := Children(t, os.Getpid())[pid]; !ok || st == "Z" || !Running(pid) {
		t.Fatalf("running child %d: state %q listed %v, Running %v", pid, st, ok, Running(pid))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: wait (bounded) for the kernel to make it a zombie.
	for deadline := time.Now().Add(10 * time.Second); Children(t, os.Getpid())[pid] != "Z"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("killed child %d: state %q after 10 s, want Z", pid, Children(t, os.Getpid())[pid])
		}
	}
	if Running(pid) {
		t.Errorf("zombie %d is Running", pid)
	}
	_ = cmd.Wait()
	if st, ok := Children(t, os.Getpid())[pid]; ok {
		t.Errorf("reaped child %d still listed (%q)", pid, st)
	}
	if Running(pid) {
		t.Errorf("reaped child %d is Running", pid)
	}
}
