// Package supervisor runs one child process the way a container's PID 1 must.
//
// It is the process's only wait4 caller: a reap loop woken by SIGCHLD collects every exited
// child, orphans included, and recognises the main child by its pid (a second reaper would steal
// exec.Cmd.Wait's status, so nothing else in the process may wait for children from Start until
// Wait returns). It forwards SIGTERM, SIGINT and SIGQUIT, swallows SIGHUP (chronyd would exit on
// it), and on shutdown gives the child a bounded time before SIGKILL. The exit status is the
// child's code, or 128+signal when a signal killed it, as tini does, except that a child killed
// by the very signal forwarded to stop it (one that had not yet set its handler) stopped as
// asked: 0. A stop asked before the fork (ctx already done) starts nothing. On request
// (Options.Restart) it restarts the child: stopped as at shutdown, then started again; a stop
// asked meanwhile ends Wait instead. Why and when to restart is the caller's business.
//
// Start returns once the child runs, so that the caller can act on it (serve, watch) before
// Wait supervises it to the end: signals that arrive in between wait for Wait.
//
// Signals are forwarded and the SIGKILL deadline armed before anything is logged, and the
// supervisor's entries reach the Logger through a bounded queue written by a goroutine of its
// own, so a log that cannot be written (a stalled reader) never holds up a stop. Options.Output
// is the caller's: it must not block either (the child would block on its full output pipe).
// When the process is not PID 1 it becomes a child subreaper, so that tests see what PID 1 sees.
package supervisor
