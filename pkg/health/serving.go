package health

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chris-short/chrony/internal/procstatus"
	"github.com/chris-short/chrony/internal/regularfile"
)

// Serving is what chronyd is meant to serve, as the entrypoint decided it from chronyd's
// effective configuration. The entrypoint writes it to a file in chronyd's directory at every
// start, so an exec probe (a separate process) knows it too.
type Serving struct {
	// NTPPort is the UDP port chronyd must hold; 0: it serves no NTP (a client only).
	NTPPort int `json:"ntp_port"`
	// NTPFrom names what sets it, for the not-ready reason: "NTP_PORT=123".
	NTPFrom string `json:"ntp_from,omitempty"`
	// NTSKEPort is the TCP port chronyd must listen on for NTS-KE; 0: no NTS server.
	NTSKEPort int `json:"ntske_port"`
	// NTSKEFrom names what sets it: "NTS_PORT=4460".
	NTSKEFrom string `json:"ntske_from,omitempty"`
}

// ReadServing reads a Serving file.
func ReadServing(path string) (Serving, error) {
	var s Serving
	b, err := readSmall(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", path, err)
	}
	return s, nil
}

// Marshal is the file's content.
func (s Serving) Marshal() []byte {
	b, _ := json.Marshal(s) // plain ints and strings: cannot fail
	return append(b, '\n')
}

// tcpListen is the st column of /proc/net/tcp for a listening socket.
const tcpListen = "0A"

// Check reports whether the process pid (chronyd, as its pidfile names it) holds what s says:
// a UDP socket bound to NTPPort and a TCP socket listening on NTSKEPort. It reads
// /proc/<pid>/fd (readable by chronyd's own uid, as which the probes run) for the process's
// socket inodes and /proc/<pid>/net/{udp,udp6,tcp,tcp6} (its network namespace) for their
// ports. chronyd only logs "Could not open NTP socket" when a port is taken or not permitted,
// then runs on as a client: without this check it would look ready while serving nothing.
func (s Serving) Check(pid int) Result {
	if s.NTPPort == 0 && s.NTSKEPort == 0 {
		return Result{OK: true, Reason: "serves no port"}
	}
	mine, err := ownedBy(pid)
	if err != nil {
		return Result{Code: CodeNoAnswer, Reason: "reading chronyd's sockets: " + oneLine(err), Err: err}
	}
	if s.NTPPort != 0 {
		ok, err := holds(pid, mine, []string{"udp", "udp6"}, s.NTPPort, "")
		if err != nil {
			return Result{Code: CodeNoAnswer, Reason: "reading chronyd's sockets: " + oneLine(err), Err: err}
		}
		if !ok {
			return Result{Code: CodeNotServing, Reason: fmt.Sprintf("chronyd (pid %d) holds no UDP socket on NTP port %d (%s), so it serves no client: "+
				"it could not open it (its log says \"Could not open NTP socket\"): another process holds the port (with host networking: the node's own NTP server) "+
				"or the port needs CAP_NET_BIND_SERVICE; free the port or change %s",
				pid, s.NTPPort, s.NTPFrom, s.NTPFrom)}
		}
	}
	if s.NTSKEPort != 0 {
		ok, err := holds(pid, mine, []string{"tcp", "tcp6"}, s.NTSKEPort, tcpListen)
		if err != nil {
			return Result{Code: CodeNoAnswer, Reason: "reading chronyd's sockets: " + oneLine(err), Err: err}
		}
		if !ok {
			return Result{Code: CodeNotServing, Reason: fmt.Sprintf("chronyd (pid %d) does not listen on NTS-KE port %d (%s), so NTS clients get no keys: "+
				"it could not open it (see its log): another process holds the port or it needs CAP_NET_BIND_SERVICE; free the port or change %s",
				pid, s.NTSKEPort, s.NTSKEFrom, s.NTSKEFrom)}
		}
	}
	return Result{OK: true, Reason: fmt.Sprintf("serving NTP port %d, NTS-KE port %d", s.NTPPort, s.NTSKEPort)}
}

// ownedBy says which rows of /proc/<pid>/net/* are pid's own sockets. It matches their
// inodes against the "socket:[N]" links in /proc/<pid>/fd when it may read those links. The
// kernel lets a process read another's fd links only if it holds every capability the other
// holds (cap_ptrace_access_check), and chronyd holds CAP_SYS_TIME or CAP_NET_BIND_SERVICE when
// it controls the clock or binds a low port, while the probes and PID 1 hold none: then it
// matches the sockets' owner uid (the uid column) against chronyd's own uid instead.
func ownedBy(pid int) (func(fields []string) bool, error) {
	inodes, denied, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	if !denied {
		return func(fields []string) bool { return inodes[fields[9]] }, nil
	}
	st, err := procstatus.Read(pid)
	if err != nil {
		return nil, err
	}
	uid := st.First("Uid")
	if uid == "" {
		return nil, fmt.Errorf("no Uid in /proc/%d/status", pid)
	}
	return func(fields []string) bool { return fields[7] == uid }, nil
}

// socketInodes are the inodes of the sockets pid holds ("socket:[123]" links in its fd dir);
// denied is true when the links may not be read (see ownedBy).
func socketInodes(pid int) (inodes map[string]bool, denied bool, err error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrPermission) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	inodes = map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrPermission) {
			return nil, true, nil
		}
		if err != nil {
			continue // closed meanwhile
		}
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(in, "]")] = true
		}
	}
	return inodes, false, nil
}

// holds reports whether one of pid's sockets (mine) in the given tables is bound to local port
// (and in state, when not empty).
func holds(pid int, mine func(fields []string) bool, tables []string, port int, state string) (bool, error) {
	hexPort := fmt.Sprintf(":%04X", port)
	for _, t := range tables {
		path := filepath.Join("/proc", strconv.Itoa(pid), "net", t)
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return false, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !strings.HasSuffix(fields[1], hexPort) {
				continue
			}
			if (state == "" || fields[3] == state) && mine(fields) {
				f.Close()
				return true, nil
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return false, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return false, nil
}

// checkServing is Ready's first question when the prober knows where the entrypoint wrote
// what chronyd must serve: nothing else matters if chronyd serves no client. A chronyd that
// is not running (no pidfile) is left to the command-socket question to report.
func (p Prober) checkServing() Result {
	if p.ServingFile == "" || p.PIDFile == "" {
		return Result{OK: true}
	}
	b, err := readSmall(p.PIDFile)
	if err != nil {
		return Result{OK: true}
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return Result{OK: true}
	}
	want, err := ReadServing(p.ServingFile)
	if err != nil {
		return Result{Code: CodeNoAnswer, Reason: "reading what chronyd must serve: " + oneLine(err), Err: err}
	}
	return want.Check(pid)
}

// maxSmall bounds what readSmall reads: a pidfile or a Serving file is a few dozen bytes.
const maxSmall = 4096

// readSmall reads a small regular file in chronyd's directory without following a symlink or
// blocking on a FIFO: chronyd's user can replace these files, and a probe or an HTTP handler
// must not hang on what it finds there.
func readSmall(path string) ([]byte, error) {
	b, err := regularfile.Read(path, maxSmall, true)
	var pathErr *fs.PathError
	if err != nil && !errors.As(err, &pathErr) { // "not a regular file" does not name the path
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, err
}
