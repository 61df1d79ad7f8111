package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chris-short/chrony/internal/proctest"
)

// run supervises `sh -c script` and collects its output lines. When a line equals "ready",
// act (if any) runs in its own goroutine: that is when the test signals the supervisor.
type result struct {
	code  int
	err   error
	lines []string
	logs  *observer.ObservedLogs
	took  time.Duration
}

func run(t *testing.T, ctx context.Context, script string, act func(), mod func(*Options)) result {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	var mu sync.Mutex
	var lines []string
	o := Options{
		Name:            "sh",
		Path:            "/bin/sh",
		Args:            []string{"sh", "-c", script},
		Env:             []string{"PATH=/usr/bin:/bin"},
		ShutdownTimeout: 2 * time.Second,
		DrainTimeout:    300 * time.Millisecond,
		Log:             zap.New(core),
		Output: func(l string) {
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
			if l == "ready" && act != nil {
				go act()
			}
		},
	}
	if mod != nil {
		mod(&o)
	}
	t0 := time.Now()
	code, err := runToEnd(ctx, o)
	took := time.Since(t0)
	mu.Lock()
	defer mu.Unlock()
	return result{code, err, append([]string(nil), lines...), logs, took}
}

func self(sig syscall.Signal) func() {
	return func() { _ = syscall.Kill(os.Getpid(), sig) }
}

// A script that says which signal it got and exits with a code of its own for each.
const trapper = `trap 'echo got TERM; exit 40' TERM
trap 'echo got INT; exit 41' INT
trap 'echo got QUIT; exit 42' QUIT
trap 'echo got HUP' HUP
echo ready
i=0; while [ $i -lt 400 ]; do sleep 0.02; i=$((i+1)); done; exit 99`

func TestExitStatus(t *testing.T) {
	cases := []struct {
		name     string
		script   string
		act      func()
		wantCode int
		wantLine string // a line the child must have printed
		notLine  string // a line it must not have printed
		wantLog  string // a supervisor log message
	}{
		{name: "exit 0", script: "exit 0", wantCode: 0, wantLog: "sh exited with code 0"},
		{name: "exit 1", script: "exit 1", wantCode: 1, wantLog: "sh exited with code 1"},
		{name: "exit 3", script: "exit 3", wantCode: 3},
		{name: "killed by SIGKILL", script: "kill -9 $$", wantCode: 137, wantLog: "sh was killed by signal 9 (killed)"},
		{name: "killed by SIGTERM", script: "kill -15 $$", wantCode: 143},
		{name: "SIGTERM forwarded", script: trapper, act: self(syscall.SIGTERM), wantCode: 40, wantLine: "got TERM"},
		{name: "SIGINT forwarded", script: trapper, act: self(syscall.SIGINT), wantCode: 41, wantLine: "got INT"},
		{name: "SIGQUIT forwarded", script: trapper, act: self(syscall.SIGQUIT), wantCode: 42, wantLine: "got QUIT"},
		{
			name: "SIGHUP swallowed", script: trapper, wantCode: 40, wantLine: "got TERM", notLine: "got HUP",
			wantLog: "SIGHUP ignored: it would stop sh",
			act: func() {
				self(syscall.SIGHUP)()
				time.Sleep(300 * time.Millisecond) // the child's trap would run within 20 ms
				self(syscall.SIGTERM)()
			},
		},
		{
			name: "burst of signals keeps the exit status", wantCode: 40, wantLine: "got TERM",
			script: trapper,
			act: func() {
				sigs := []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGTERM}
				for i := range 200 {
					self(sigs[i%len(sigs)])()
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), tc.script, tc.act, nil)
			if r.err != nil {
				t.Fatalf("Run: %v", r.err)
			}
			if r.code != tc.wantCode {
				t.Errorf("code = %d, want %d; output %q", r.code, tc.wantCode, r.lines)
			}
			out := strings.Join(r.lines, "\n")
			if tc.wantLine != "" && !strings.Contains(out, tc.wantLine) {
				t.Errorf("output %q lacks %q", r.lines, tc.wantLine)
			}
			if tc.notLine != "" && strings.Contains(out, tc.notLine) {
				t.Errorf("output %q has %q", r.lines, tc.notLine)
			}
			if tc.wantLog != "" && r.logs.FilterMessage(tc.wantLog).Len() == 0 {
				t.Errorf("no log %q in %v", tc.wantLog, messages(r.logs))
			}
		})
	}
}

func messages(l *observer.ObservedLogs) []string {
	var m []string
	for _, e := range l.All() {
		m = append(m, e.Message)
	}
	return m
}

func TestReapsOrphans(t *testing.T) {
	// Each subshell exits at once, so its sleep is orphaned and re-parented to the test
	// process (a subreaper during Run), which must reap it.
	script := `i=0; while [ $i -lt 100 ]; do (sleep 0.2 &); i=$((i+1)); done; sleep 1; exit 0`
	r := run(t, context.Background(), script, nil, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Run = %d, %v", r.code, r.err)
	}
	if n := r.logs.FilterMessage("reaped orphan").Len(); n != 100 {
		t.Errorf("reaped %d orphans, want 100", n)
	}
	if kids := proctest.Children(t, os.Getpid()); slices.Contains(slices.Collect(maps.Values(kids)), "Z") {
		t.Errorf("zombies left (pid: state): %v", kids)
	}
}

func TestShutdown(t *testing.T) {
	t.Run("deadline SIGKILLs a child that ignores SIGTERM", func(t *testing.T) {
		r := run(t, context.Background(), `trap "" TERM; echo ready; exec sleep 30`, self(syscall.SIGTERM),
			func(o *Options) { o.ShutdownTimeout = 300 * time.Millisecond })
		if r.code != 137 {
			t.Errorf("code = %d, want 137", r.code)
		}
		if r.took > 5*time.Second {
			t.Errorf("took %v", r.took)
		}
		if r.logs.FilterMessage("child did not stop in time: SIGKILL").Len() != 1 {
			t.Errorf("no SIGKILL log in %v", messages(r.logs))
		}
	})
	t.Run("killed by the forwarded signal is a clean stop", func(t *testing.T) {
		// No trap: like chronyd before it sets its handlers, the shell dies of the SIGTERM.
		r := run(t, context.Background(), `echo ready; exec sleep 30`, self(syscall.SIGTERM), nil)
		if r.err != nil || r.code != 0 {
			t.Errorf("Run = %d, %v; want 0", r.code, r.err)
		}
		if r.logs.FilterMessage("sh stopped by the forwarded terminated").Len() != 1 {
			t.Errorf("no stop log in %v", messages(r.logs))
		}
	})
	t.Run("a context ended before the start starts nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dir := t.TempDir()
		r := run(t, ctx, "touch "+dir+"/ran", nil, nil)
		if r.err == nil || !strings.Contains(r.err.Error(), "stop requested before it started") {
			t.Errorf("err = %v", r.err)
		}
		if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
			t.Error("the child ran")
		}
	})
	t.Run("context cancel stops the child with SIGTERM", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := run(t, ctx, trapper, cancel, nil)
		if r.code != 40 {
			t.Errorf("code = %d, want 40; output %q", r.code, r.lines)
		}
	})
	t.Run("OnStart error stops the child and is returned", func(t *testing.T) {
		boom := errors.New("boom")
		r := run(t, context.Background(), trapper, nil, func(o *Options) {
			o.OnStart = func(int) error { return boom }
		})
		// 143 when SIGTERM came before the shell set its trap, 40 after.
		if !errors.Is(r.err, boom) || (r.code != 40 && r.code != 143) {
			t.Errorf("Run = %d, %v; want 40 or 143, and boom", r.code, r.err)
		}
	})
}

func TestOutput(t *testing.T) {
	t.Run("every line, in order", func(t *testing.T) {
		r := run(t, context.Background(), `i=0; while [ $i -lt 2000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done`, nil, nil)
		if len(r.lines) != 4000 {
			t.Fatalf("got %d lines, want 4000", len(r.lines))
		}
		for i := range 2000 {
			if r.lines[2*i] != fmt.Sprintf("line %d", i) || r.lines[2*i+1] != fmt.Sprintf("err %d", i) {
				t.Fatalf("line %d: %q %q", i, r.lines[2*i], r.lines[2*i+1])
			}
		}
	})
	t.Run("a grandchild holding the pipe does not hang Run", func(t *testing.T) {
		r := run(t, context.Background(), `sleep 5 & echo "bg $!"; echo last; exit 0`, nil, nil)
		for _, l := range r.lines {
			if pid, ok := strings.CutPrefix(l, "bg "); ok {
				p, _ := strconv.Atoi(pid)
				t.Cleanup(func() {
					_ = syscall.Kill(p, syscall.SIGKILL)
					var ws syscall.WaitStatus
					_, _ = syscall.Wait4(p, &ws, 0, nil)
				})
			}
		}
		if r.code != 0 || r.took > 3*time.Second {
			t.Errorf("Run = %d after %v; want 0 within the drain timeout", r.code, r.took)
		}
		if len(r.lines) < 2 || r.lines[len(r.lines)-1] != "last" {
			t.Errorf("lines %q: want the last line read", r.lines)
		}
	})
	t.Run("start failure is an error naming the program", func(t *testing.T) {
		_, err := runToEnd(context.Background(), Options{Name: "nope", Path: "/nonexistent/chronyd", Args: []string{"chronyd"}})
		if err == nil || !strings.Contains(err.Error(), "start nope: fork/exec /nonexistent/chronyd") {
			t.Errorf("err = %v", err)
		}
	})
}

// stalledWriter blocks every write until open is closed: a log whose reader stopped.
type stalledWriter struct{ open chan struct{} }

func (w stalledWriter) Write(p []byte) (int, error) { <-w.open; return len(p), nil }

// TestStalledLogDoesNotHoldUpStop: the child gets the signal, and the SIGKILL deadline runs,
// even while every log write blocks.
func TestStalledLogDoesNotHoldUpStop(t *testing.T) {
	cases := []struct {
		name   string
		script string
		want   string // the file the child (or its end) leaves
	}{
		{"SIGTERM forwarded", `trap 'touch "$D/got-term"; exit 0' TERM; echo ready; while :; do sleep 0.02; done`, "got-term"},
		{"SIGKILL at the deadline", `trap '' TERM; echo ready; exec sleep 30`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := stalledWriter{open: make(chan struct{})}
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w), zapcore.DebugLevel))
			var pid atomic.Int64
			exited := make(chan struct{})
			go func() {
				defer close(exited)
				_, _ = runToEnd(context.Background(), Options{
					Name: "sh", Path: "/bin/sh", Args: []string{"sh", "-c", tc.script},
					Env: []string{"PATH=/usr/bin:/bin", "D=" + dir}, Log: log,
					ShutdownTimeout: 300 * time.Millisecond, DrainTimeout: 300 * time.Millisecond,
					OnStart: func(p int) error { pid.Store(int64(p)); return nil },
					Output: func(l string) {
						if l == "ready" {
							self(syscall.SIGTERM)()
						}
					},
				})
			}()
			defer func() {
				close(w.open)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					t.Error("Run did not return once the log moved again")
				}
			}()
			deadline := time.Now().Add(5 * time.Second)
			for {
				done := pid.Load() != 0 && !proctest.Running(int(pid.Load()))
				if tc.want != "" {
					_, err := os.Stat(filepath.Join(dir, tc.want))
					done = err == nil
				}
				if done {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("the child was not stopped within 5 s while the log was stalled")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
