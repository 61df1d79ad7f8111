package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Defaults for the Options durations left zero.
const (
	DefaultShutdownTimeout = 10 * time.Second
	DefaultDrainTimeout    = time.Second
)

// Options describe the child and how to supervise it.
type Options struct {
	// Name is how logs call the child ("chronyd").
	Name string
	// Path is the program to run; Args its whole argv, Args[0] included.
	Path string
	Args []string
	// RestartArgs, when not nil, is the argv of the children started by a restart (Restart).
	RestartArgs []string
	// Env is the child's environment.
	Env []string
	// AmbientCaps are raised in the child before exec so a non-root child keeps them; this
	// process must hold each in its permitted set.
	AmbientCaps []uintptr

	// ShutdownTimeout is how long the child gets after the first terminating signal (or ctx
	// cancellation) before SIGKILL. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DrainTimeout bounds reading the child's remaining output after it exited: a grandchild
	// that still holds the pipe must not hang the supervisor. Zero means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// OnStart runs each time the child is started (again after a restart), before any signal
	// is handled: the first time within Start. An error stops the child (SIGTERM, then SIGKILL
	// after ShutdownTimeout) and is returned by Wait.
	OnStart func(pid int) error
	// Restart, when not nil, restarts the child at each value received: it is stopped as at
	// shutdown (SIGTERM, SIGKILL after ShutdownTimeout), BeforeRestart runs, and it is started
	// again with these Options (OnStart runs with the new pid). A stop asked meanwhile (a
	// signal, ctx) ends Wait as usual and starts nothing; a restart asked while one is under
	// way is the same restart.
	Restart <-chan struct{}
	// BeforeRestart runs after the old child was reaped and before the new one starts: the
	// place to remove what the old one may have left behind (a pidfile after SIGKILL). An
	// error ends Wait with that error and starts nothing.
	BeforeRestart func() error
	// Output receives each line the child writes to stdout or stderr, in order, from a single
	// goroutine. Nil logs each line at info level.
	Output func(line string)
	// Log receives the supervisor's own entries. Nil means no logging.
	Log *zap.Logger
}

// ExitCode is the shell convention for a wait status: the exit code, or 128+signal.
func ExitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Process is a child started by Start; Wait supervises it until it exits.
type Process struct {
	ctx    context.Context
	o      Options
	log    *zap.Logger
	logs   *logQueue
	output func(string)
	sigs   chan os.Signal
	// subreaper is set when Start made this process a child subreaper (Wait clears it).
	subreaper bool
	c         *child
	s         *state
	startErr  error
}

// Start starts the child and returns once it runs and OnStart has returned, before any signal
// is handled: signals that arrive meanwhile wait for Wait, which must then be called. err is
// non-nil, and nothing runs, only when the child could not be started (ctx already ended
// included); an OnStart failure stops the child, and Wait returns it.
func Start(ctx context.Context, o Options) (_ *Process, err error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	if o.Name == "" {
		o.Name = o.Path
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	p := &Process{ctx: ctx, o: o}
	// Every entry below goes through a queue: nothing in the reap loop waits on a log write.
	p.log, p.logs = queued(log)
	p.output = o.Output
	if p.output == nil {
		p.output = func(line string) { p.log.Info(line, zap.String("child", o.Name)) }
	}
	defer func() {
		if err != nil {
			p.release()
		}
	}()

	if os.Getpid() != 1 {
		var was int32
		if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&was)), 0, 0, 0); err != nil {
			return nil, fmt.Errorf("read child subreaper flag: %w", err)
		}
		if was == 0 {
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
				return nil, fmt.Errorf("become child subreaper: %w", err)
			}
			p.subreaper = true
		}
	}

	// Subscribe before the fork: a child that exits at once must still wake the reap loop.
	p.sigs = make(chan os.Signal, 64)
	signal.Notify(p.sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)

	// A stop asked before the fork starts nothing.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: stop requested before it started: %w", o.Name, context.Cause(ctx))
	}
	if p.c, err = spawn(o, p.log, p.output); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Name, err)
	}
	p.s = &state{pid: p.c.pid, name: o.Name, log: p.log, timeout: o.ShutdownTimeout}
	p.started()
	return p, nil
}

// started runs OnStart for the child just started; its failure stops the child.
func (p *Process) started() {
	if p.o.OnStart != nil {
		if p.startErr = p.o.OnStart(p.s.pid); p.startErr != nil {
			p.log.Error("after start: stopping child", zap.String("child", p.o.Name), zap.Error(p.startErr))
			p.s.shutdown(syscall.SIGTERM, false)
		}
	}
	p.s.reap() // a child that died before Notify saw it
}

// release undoes what Start set up for the reap loop.
func (p *Process) release() {
	if p.sigs != nil {
		signal.Stop(p.sigs)
	}
	if p.subreaper {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}
	p.logs.close(p.o.DrainTimeout)
}

// Wait supervises the child until it exits and returns ExitCode of its status. Cancelling
// Start's ctx starts the same shutdown as SIGTERM. err is non-nil only when OnStart failed
// or a restart could not start the child again; a child that fails is reported through the
// code. Call it once.
func (p *Process) Wait() (code int, err error) {
	defer p.release()
	o, log, s := p.o, p.log, p.s
	handle := func(sig os.Signal) {
		switch sig {
		case syscall.SIGCHLD:
			s.reap()
		case syscall.SIGHUP:
			log.Info("SIGHUP ignored: it would stop "+o.Name, zap.String("child", o.Name))
		default:
			s.shutdown(sig.(syscall.Signal), true)
		}
	}
	done := p.ctx.Done()
	for {
		for !s.exited {
			select {
			case sig := <-p.sigs:
				handle(sig)
			case <-done:
				done = nil
				// A stop signal that also ended ctx (the caller's handler) reached sigs before
				// ctx ended: forward that one rather than a SIGTERM of our own.
				for pending := true; pending; {
					select {
					case sig := <-p.sigs:
						handle(sig)
					default:
						pending = false
					}
				}
				if len(s.requested) == 0 {
					s.shutdown(syscall.SIGTERM, true)
					log.Info("stopping child: context ended", zap.String("child", o.Name))
				}
			case <-o.Restart:
				if !s.stopping {
					s.restarting = true
					log.Info("restarting child: stopping it first", zap.String("child", o.Name))
					s.shutdown(syscall.SIGTERM, false)
				}
			case <-s.deadline:
				s.deadline = nil
				_ = syscall.Kill(s.pid, syscall.SIGKILL)
				log.Warn("child did not stop in time: SIGKILL", zap.String("child", o.Name), zap.Duration("shutdown_timeout", o.ShutdownTimeout))
			}
		}
		if s.timer != nil {
			s.timer.Stop()
		}
		s.reap() // orphans that died together with the main child
		p.c.finish(o.DrainTimeout)
		if !s.restarting || len(s.requested) > 0 || p.startErr != nil {
			break
		}
		log.Info(fmt.Sprintf("%s stopped for a restart (exit code %d)", o.Name, ExitCode(s.status)),
			zap.String("child", o.Name), zap.Int("exit_code", ExitCode(s.status)))
		if o.BeforeRestart != nil {
			if err := o.BeforeRestart(); err != nil {
				return 1, fmt.Errorf("restart %s: %w", o.Name, err)
			}
		}
		if o.RestartArgs != nil {
			o.Args = o.RestartArgs
		}
		if p.c, err = spawn(o, log, p.output); err != nil {
			return 1, fmt.Errorf("restart %s: %w", o.Name, err)
		}
		*s = state{pid: p.c.pid, name: o.Name, log: log, timeout: o.ShutdownTimeout}
		log.Info(o.Name+" restarted", zap.String("child", o.Name), zap.Int("pid", p.c.pid))
		p.started()
	}

	code = ExitCode(s.status)
	if s.status.Signaled() && s.requested[s.status.Signal()] {
		// The stop asked for happened; the child had not yet set its handler (chronyd in its
		// first milliseconds). That is a clean stop, not a crash.
		code = 0
		log.Info(fmt.Sprintf("%s stopped by the forwarded %s", o.Name, s.status.Signal()),
			zap.String("child", o.Name), zap.Int("exit_code", code))
	} else if s.status.Signaled() {
		log.Error(fmt.Sprintf("%s was killed by signal %d (%s)", o.Name, int(s.status.Signal()), s.status.Signal()),
			zap.String("child", o.Name), zap.Int("exit_code", code))
	} else {
		lvl := log.Info
		if code != 0 {
			lvl = log.Error
		}
		lvl(fmt.Sprintf("%s exited with code %d", o.Name, code), zap.String("child", o.Name), zap.Int("exit_code", code))
	}
	return code, p.startErr
}

// child is one started child and the goroutine copying its output.
type child struct {
	pid int
	out *os.File
	wg  sync.WaitGroup
}

// spawn starts the child and copies its output lines to output.
func spawn(o Options, log *zap.Logger, output func(string)) (*child, error) {
	pid, out, err := start(o)
	if err != nil {
		return nil, err
	}
	c := &child{pid: pid, out: out}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := copyLines(out, output); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			log.Warn("read child output", zap.String("child", o.Name), zap.Error(err))
		}
	}()
	return c, nil
}

// finish reads what the exited child left in its output pipe, but does not wait for a
// grandchild that inherited the pipe and keeps it open.
func (c *child) finish(drain time.Duration) {
	_ = c.out.SetReadDeadline(time.Now().Add(drain))
	c.wg.Wait()
	_ = c.out.Close()
}

// start forks the child with its stdout and stderr on one pipe and stdin on /dev/null.
func start(o Options) (int, *os.File, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("create output pipe: %w", err)
	}
	defer w.Close()
	pid, err := syscall.ForkExec(o.Path, o.Args, &syscall.ProcAttr{
		Env:   o.Env,
		Files: []uintptr{devnull.Fd(), w.Fd(), w.Fd()},
		Sys:   &syscall.SysProcAttr{AmbientCaps: o.AmbientCaps},
	})
	if err != nil {
		r.Close()
		return 0, nil, fmt.Errorf("fork/exec %s: %w", o.Path, err)
	}
	return pid, r, nil
}

// state is the reap loop's view of the main child.
type state struct {
	pid     int
	name    string
	log     *zap.Logger
	timeout time.Duration

	exited   bool
	status   syscall.WaitStatus
	stopping bool
	// restarting says the stop under way is a restart's: once the child exits, it starts again.
	restarting bool
	// requested holds the signals forwarded because a stop was asked (a signal to this
	// process, or ctx); a child killed by one of them stopped as asked.
	requested map[syscall.Signal]bool
	timer     *time.Timer
	deadline  <-chan time.Time
}

// reap collects every exited child without blocking; the main one is recognised by pid.
// Bounded: each call reaps at most what has exited (ECHILD or 0 ends it).
func (s *state) reap() {
	for range 1 << 16 {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if pid == s.pid {
			s.exited, s.status = true, ws
		} else {
			s.log.Debug("reaped orphan", zap.Int("pid", pid), zap.Int("exit_code", ExitCode(ws)))
		}
	}
}

// shutdown forwards sig to the child and, the first time, arms the SIGKILL deadline. asked
// says whether the stop was requested from outside rather than decided after a failure.
func (s *state) shutdown(sig syscall.Signal, asked bool) {
	if s.exited {
		return
	}
	if asked {
		if s.requested == nil {
			s.requested = map[syscall.Signal]bool{}
		}
		s.requested[sig] = true
	}
	// Signal and deadline first, log after: a log that cannot be written must never hold up
	// the child's stop.
	err := syscall.Kill(s.pid, sig)
	if !s.stopping {
		s.stopping = true
		s.timer = time.NewTimer(s.timeout)
		s.deadline = s.timer.C
	}
	s.log.Info("forwarding signal", zap.String("child", s.name), zap.String("signal", sig.String()))
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		s.log.Warn("forward signal", zap.String("child", s.name), zap.Error(err))
	}
}
