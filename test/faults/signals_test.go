package faults

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/proctest"
)

// piped is an entrypoint whose stdout and stderr are the write end of a pipe the test owns.
type piped struct {
	cmd  *exec.Cmd
	r    *os.File // the read end: the test decides whether anyone reads it
	done chan struct{}
	code int
}

// startPiped runs `entrypoint` with env, stdout and stderr on a fresh pipe. When the test ends
// it is SIGKILLed if still running, and so is the chronyd it started (a supervisor that died
// or hung would leave it).
func startPiped(t *testing.T, c *entrypointtest.Container) *piped {
	t.Helper()
	r, w, err := os.Pipe()
	entrypointtest.Must(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append([]string{entrypointtest.Path}, c.Env...)
	cmd.Stdout, cmd.Stderr = w, w
	entrypointtest.Must(t, cmd.Start())
	w.Close()
	p := &piped{cmd: cmd, r: r, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(c.Run, "chronyd", "chronyd.pid")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 && proctest.Running(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = cmd.Process.Kill()
		<-p.done
		r.Close()
	})
	return p
}

// waitGone waits at most within for pid to exit and returns how long it took.
func waitGone(pid int, within time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < within {
		if !proctest.Running(pid) {
			return time.Since(t0), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0), false
}

// fillPipe writes into the pipe whose read end is r until it is full, through a file
// description of its own (non-blocking), so the entrypoint's next write blocks.
func fillPipe(t *testing.T, r *os.File) {
	t.Helper()
	// The read end's /proc link opened for writing is a new description of the same pipe.
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", r.Fd()), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	entrypointtest.Must(t, err)
	defer unix.Close(fd)
	junk := bytes.Repeat([]byte("x"), 4096)
	for range 1 << 14 { // 64 MiB at most; a pipe holds 1 MiB at most unprivileged
		if _, err := unix.Write(fd, junk); errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	// The last few bytes of room, if any.
	for range 4096 {
		if _, err := unix.Write(fd, junk[:1]); errors.Is(err, unix.EAGAIN) {
			return
		}
	}
	t.Fatal("could not fill the log pipe")
}

// TestStalledLogDoesNotStopShutdown: stderr is a pipe nobody reads, and it is full (a log
// driver that blocks). SIGTERM must still reach chronyd at once (the drift file written), the
// entrypoint must still exit 0, and /metrics must still answer: nothing may wait on a log write.
func TestStalledLogDoesNotStopShutdown(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, up.SourceEntry())
	p := startPiped(t, c)
	// Read the log until chronyd is ready, as a log driver would; then stop reading.
	var logs bytes.Buffer
	var mu sync.Mutex
	readerDone := make(chan struct{})
	stopReading := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 4096)
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			_ = p.r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := p.r.Read(buf)
			mu.Lock()
			logs.Write(buf[:n])
			mu.Unlock()
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	logsNow := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	waitReady(t, c, p, logsNow)
	close(stopReading)
	<-readerDone
	fillPipe(t, p.r)
	pid := entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid"))

	// Stalled: a scrape must still answer (it may log, and a log write must not hold it).
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get("http://" + c.HTTPAddr + "/metrics"); err != nil {
		t.Errorf("GET /metrics with the log stalled: %v", err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	t0 := time.Now()
	entrypointtest.Must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	took, gone := waitGone(pid, 10*time.Second)
	t.Logf("log stalled: SIGTERM to chronyd's exit %v", took.Round(time.Millisecond))
	if !gone {
		t.Fatalf("chronyd still running %v after SIGTERM with the log stalled", took)
	}
	if mtime := checkDrift(t, filepath.Join(c.State, "drift")); mtime.Before(t0.Add(-time.Second)) {
		t.Errorf("drift file last written %v, before the SIGTERM at %v", mtime, t0)
	}
	select {
	case <-p.done:
		t.Logf("log stalled: SIGTERM to the entrypoint's exit %v", time.Since(t0).Round(time.Millisecond))
		if p.code != 0 {
			t.Errorf("entrypoint exit %d after SIGTERM with the log stalled, want 0", p.code)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("entrypoint still running 10 s after SIGTERM with the log stalled")
	}
}

// waitReady runs `probe ready` until it passes (at most 20 s); logs shows what was read.
func waitReady(t *testing.T, c *entrypointtest.Container, p *piped, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := entrypointtest.Run(t, bin, c.Env, "probe", "ready")
		if r.Code == 0 {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("entrypoint exited (%d) before chronyd was ready\n%s", p.code, logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20 s: %s%s\n%s", r.Stdout, r.Stderr, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrokenLogPipeKeepsSupervising: the log's reader goes away (stdout and stderr are a
// broken pipe). The entrypoint must not die of SIGPIPE and leave chronyd unsupervised: it keeps
// answering probes and scrapes, and SIGTERM still stops chronyd cleanly.
func TestBrokenLogPipeKeepsSupervising(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	c := entrypointtest.NewContainer(t, up.SourceEntry())
	p := startPiped(t, c)
	go func() { _, _ = io.Copy(io.Discard, p.r) }()
	waitReady(t, c, p, func() string { return "" })
	pid := entrypointtest.ReadPID(t, filepath.Join(c.Run, "chronyd", "chronyd.pid"))
	p.r.Close() // the reader is gone: every later write is EPIPE

	// SIGHUP makes the supervisor log a line (and only that); so does a failing scrape.
	entrypointtest.Must(t, p.cmd.Process.Signal(syscall.SIGHUP))
	for i := range 5 {
		if r := entrypointtest.Run(t, bin, c.Env, "probe", "live"); r.Code != 0 {
			t.Fatalf("probe live %d after the log pipe broke: exit %d %s%s", i, r.Code, r.Stdout, r.Stderr)
		}
		select {
		case <-p.done:
			t.Fatalf("entrypoint exited (%d, %v) after its log pipe broke; chronyd alive: %v", p.code, p.cmd.ProcessState, proctest.Running(pid))
		case <-time.After(100 * time.Millisecond):
		}
	}
	entrypointtest.Must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("entrypoint still running 10 s after SIGTERM with a broken log pipe")
	}
	if p.code != 0 {
		t.Errorf("exit %d after SIGTERM with a broken log pipe, want 0", p.code)
	}
	if proctest.Running(pid) {
		t.Errorf("chronyd (pid %d) still running after the entrypoint exited", pid)
	}
	checkDrift(t, filepath.Join(c.State, "drift"))
}

// chronydsOf lists running processes whose command line mentions dir (chronyd's -f is the
// rendered file in RUN_DIR).
func chronydsOf(t *testing.T, dir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	entrypointtest.Must(t, err)
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte("chronyd")) && bytes.Contains(b, []byte(dir)) && proctest.Running(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestStopDuringStartup: a stop signal at any point of start-up, before or while chronyd
// starts, ends the entrypoint with 0, no error line and a line saying it stopped, and leaves no
// chronyd behind.
func TestStopDuringStartup(t *testing.T) {
	t.Parallel()
	up := chronytest.StartUpstream(t)
	tests := []struct {
		after string // the log message (a prefix) the signal follows
		sig   syscall.Signal
	}{
		{"entrypoint starting", syscall.SIGTERM},
		{"launch plan", syscall.SIGTERM},
		{"launch plan", syscall.SIGINT},
		{"starting chronyd", syscall.SIGTERM},
		{"starting chronyd", syscall.SIGQUIT},
		{"chronyd started", syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String()+" after "+tt.after, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, up.SourceEntry())
			p := entrypointtest.Start(t, bin, c.Env)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(p.Logs.String(), `"msg":"`+tt.after) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q log line in 10 s:\n%s", tt.after, p.Logs)
				}
				time.Sleep(time.Millisecond)
			}
			entrypointtest.Must(t, p.Cmd.Process.Signal(tt.sig))
			code := p.Wait(t, 10*time.Second)
			logs := p.Logs.String()
			if code != 0 {
				t.Errorf("exit %d after %v during start-up, want 0\n%s", code, tt.sig, logs)
			}
			if errs := errorLines(t, logs); len(errs) != 0 {
				t.Errorf("error lines after a requested stop:\n%s", logs)
			}
			lines, _ := entrypointtest.ParseLogs(logs)
			said := len(linesSaying(lines, "stop requested before chronyd started")) +
				len(linesSaying(lines, "forwarding signal")) + len(linesSaying(lines, "stopping child"))
			if said != 1 {
				t.Errorf("want one line saying the stop, got %d:\n%s", said, logs)
			}
			if left := chronydsOf(t, c.Base); len(left) != 0 {
				for _, pid := range left {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Errorf("chronyd left running after the entrypoint exited: %v", left)
			}
		})
	}
}
