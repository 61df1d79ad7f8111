package supervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A child that says "ready" and its pid, exits 0 on SIGTERM after stopping for stopFor, and
// otherwise lives at most 8 s.
const restartee = `trap 'echo stopping; sleep $STOP_FOR; exit 0' TERM
echo "pid $$"
echo ready
i=0; while [ $i -lt 400 ]; do sleep 0.02; i=$((i+1)); done; exit 99`

// TestRestart: a value on Options.Restart stops the child with SIGTERM, runs BeforeRestart,
// starts it again (OnStart sees the new pid), and a stop asked later ends Run with the new
// child's status. A stop asked while the old child is still stopping ends Run instead, with
// nothing started again; a BeforeRestart error ends Run with that error.
func TestRestart(t *testing.T) {
	tests := []struct {
		name string
		// after is what the test does once the n-th child said ready (n from 1).
		after        func(n int, restart chan<- struct{}, cancel context.CancelFunc)
		stopFor      string
		beforeErr    error
		wantStarts   int
		wantBefore   int
		wantCode     int
		wantErr      error
		wantLogCount map[string]int
	}{
		{
			name: "restarted once, then stopped",
			after: func(n int, restart chan<- struct{}, cancel context.CancelFunc) {
				if n == 1 {
					restart <- struct{}{}
				} else {
					cancel()
				}
			},
			stopFor: "0", wantStarts: 2, wantBefore: 1, wantCode: 0,
			wantLogCount: map[string]int{"sh stopped for a restart (exit code 0)": 1, "sh restarted": 1},
		},
		{
			name: "SIGTERM while the old child stops ends everything",
			after: func(n int, restart chan<- struct{}, cancel context.CancelFunc) {
				restart <- struct{}{}
				time.Sleep(100 * time.Millisecond) // the child is in its 0.5 s stop
				self(syscall.SIGTERM)()
			},
			stopFor: "0.5", wantStarts: 1, wantBefore: 0, wantCode: 0,
			wantLogCount: map[string]int{"sh restarted": 0},
		},
		{
			name: "a BeforeRestart error ends Run",
			after: func(n int, restart chan<- struct{}, cancel context.CancelFunc) {
				restart <- struct{}{}
			},
			stopFor: "0", beforeErr: errors.New("stale pidfile stuck"), wantStarts: 1, wantBefore: 1, wantCode: 1,
			wantErr: errors.New("stale pidfile stuck"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			restart := make(chan struct{}, 1)
			var mu sync.Mutex
			var pids []int
			before := 0
			ready := 0
			r := run(t, ctx, restartee, func() {
				mu.Lock()
				ready++
				n := ready
				mu.Unlock()
				tt.after(n, restart, cancel)
			}, func(o *Options) {
				o.Env = append(o.Env, "STOP_FOR="+tt.stopFor)
				o.Restart = restart
				o.OnStart = func(pid int) error {
					mu.Lock()
					defer mu.Unlock()
					pids = append(pids, pid)
					return nil
				}
				o.BeforeRestart = func() error {
					mu.Lock()
					defer mu.Unlock()
					before++
					return tt.beforeErr
				}
			})
			mu.Lock()
			defer mu.Unlock()
			if len(pids) != tt.wantStarts || before != tt.wantBefore {
				t.Errorf("starts %v, BeforeRestart ran %d times; want %d starts, %d\nlogs: %v\noutput: %q",
					pids, before, tt.wantStarts, tt.wantBefore, messages(r.logs), r.lines)
			}
			if len(pids) == 2 && pids[0] == pids[1] {
				t.Errorf("the restarted child has the old pid %d", pids[0])
			}
			if r.code != tt.wantCode {
				t.Errorf("code = %d, want %d; logs %v", r.code, tt.wantCode, messages(r.logs))
			}
			if (tt.wantErr == nil) != (r.err == nil) || (r.err != nil && !strings.Contains(r.err.Error(), tt.wantErr.Error())) {
				t.Errorf("err = %v, want %v", r.err, tt.wantErr)
			}
			for msg, n := range tt.wantLogCount {
				if got := r.logs.FilterMessage(msg).Len(); got != n {
					t.Errorf("%d log entries %q, want %d; logs %v", got, msg, n, messages(r.logs))
				}
			}
			if ctx.Err() == context.DeadlineExceeded {
				t.Errorf("the test's own deadline ended Run")
			}
		})
	}
}
