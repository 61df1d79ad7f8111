package chronyconf

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// chronyd 4.3's defaults for the ports Effective reports.
const (
	defaultNTPPort   = 123
	defaultNTSKEPort = 4460
)

// Effective is what chronyd makes of a configuration, read from `chronyd -p`: every directive
// after includes and confdir are expanded, in order; of repeated single-value directives the
// last wins. It is what the entrypoint decides ports and capabilities from, whatever the
// configuration mode (rendered, rendered with drop-ins, mounted).
type Effective struct {
	// Directives is chronyd -p's output, one directive per element.
	Directives []string
	// NTPPort is the UDP port chronyd serves NTP on; 0 when it serves none (`port 0`, or no
	// allow directive: chronyd 4.3 opens its server socket only once a client is allowed).
	NTPPort int
	// NTSKEPort is the TCP port chronyd serves NTS-KE on; 0 without ntsservercert.
	NTSKEPort int
	// CmdPort is the last cmdport directive's value; -1 when there is none (then chronyd
	// listens on 127.0.0.1 and ::1 port 323).
	CmdPort int
}

// ParseEffective reads `chronyd -p` output.
func ParseEffective(out string) Effective {
	e := Effective{CmdPort: -1}
	port, ntsPort := defaultNTPPort, defaultNTSKEPort
	allow, ntsCert := false, false
	for _, l := range strings.Split(out, "\n") {
		words := strings.Fields(l)
		if len(words) == 0 {
			continue
		}
		e.Directives = append(e.Directives, strings.Join(words, " "))
		arg := func() int {
			if len(words) < 2 {
				return -1
			}
			n, err := strconv.Atoi(words[1])
			if err != nil {
				return -1
			}
			return n
		}
		switch strings.ToLower(words[0]) {
		case "port":
			port = arg()
		case "ntsport":
			ntsPort = arg()
		case "cmdport":
			e.CmdPort = arg()
		case "allow":
			allow = true
		case "ntsservercert":
			ntsCert = true
		}
	}
	if allow && port > 0 {
		e.NTPPort = port
	}
	if ntsCert && ntsPort > 0 {
		e.NTSKEPort = ntsPort
	}
	return e
}

// Inspect runs `chronyd -p` on conf, fed through a pipe (bounded by ctx), and returns what
// chronyd makes of it, or chronyd's complaint naming name (where conf will be written) rather
// than the pipe. Nothing is written to disk, so it can run before the entrypoint gives up root
// without root writing anywhere. cred, when set, runs chronyd -p as that user (a root start:
// the files the configuration includes are then read as chronyd will read them).
func Inspect(ctx context.Context, chronyd string, conf []byte, name string, cred *syscall.Credential) (Effective, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return Effective{}, fmt.Errorf("check %s with chronyd -p: %w", name, err)
	}
	defer r.Close()
	if cred != nil {
		// chronyd reopens the pipe through /dev/stdin, which checks the pipe's mode, and the
		// pipe is this (root) process's: let others read it. Nobody else can reach an
		// anonymous pipe (/proc/<pid>/fd of its holders needs ptrace access to them), and
		// chmod by its owner needs no capability (chown would need CAP_CHOWN).
		if err := r.Chmod(0o644); err != nil {
			w.Close()
			return Effective{}, fmt.Errorf("check %s with chronyd -p: let uid %d read the pipe: %w", name, cred.Uid, err)
		}
	}
	cmd := exec.CommandContext(ctx, chronyd, "-p", "-f", "/dev/stdin")
	var stdout, stderr bytes.Buffer
	cmd.Stdin = r
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = checkWait
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return Effective{}, fmt.Errorf("check %s with chronyd -p: %w", name, err)
	}
	// A configuration is far smaller than a pipe's buffer, but write in the background anyway
	// so that a chronyd that stops reading cannot block this.
	go func() {
		_, _ = w.Write(conf)
		w.Close()
	}()
	err = cmd.Wait()
	if err == nil {
		return ParseEffective(stdout.String()), nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Effective{}, fmt.Errorf("check %s with chronyd -p: %w", name, ctxErr)
	}
	msg := strings.ReplaceAll(stderr.String(), "/dev/stdin", name)
	if f := fatal(msg); f != "" {
		return Effective{}, fmt.Errorf("check %s with chronyd -p: %s: %w", name, f, err)
	}
	return Effective{}, fmt.Errorf("check %s with chronyd -p: %w (stderr: %q)", name, err, strings.TrimSpace(msg))
}

// CloseCmdPort ends a configuration with `cmdport 0`: chronyd then answers commands only on
// its Unix socket, not on 127.0.0.1:323 and [::1]:323 (the node's loopback with host
// networking). RenderMounted's file gets it unless the user's own file asks for a cmdport.
func CloseCmdPort(conf []byte) []byte {
	out := append([]byte{}, conf...)
	out = append(out, "# No UDP command port: chronyd answers commands only on its Unix socket.\ncmdport 0\n"...)
	return out
}
