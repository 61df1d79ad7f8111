package chrony

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
)

// DefaultTimeout bounds a request whose context has no deadline: a probe or a scrape must
// never wait for ever on a datagram that chronyd will not send.
const DefaultTimeout = 2 * time.Second

// maxSocketPath is the size of sun_path including its terminating NUL.
const maxSocketPath = 108

// maxStaleReplies bounds how many replies to earlier requests one request discards.
const maxStaleReplies = 16

// Communicator sends one request to chronyd and returns its decoded reply. *Client implements
// it; tests implement it with canned replies.
type Communicator interface {
	Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error)
}

// Client is one connection to chronyd's command socket through a private client socket.
// Its methods are safe for concurrent use; requests are sent one at a time.
type Client struct {
	mu    sync.Mutex
	conn  *net.UnixConn
	dir   string // private directory holding the client socket
	match *matchingConn
	fb    *fbchrony.Client
}

// Dial connects to chronyd's command socket at socketPath. It binds a client socket in a fresh
// private directory under clientDir (chronyd sends its replies to that path), makes the socket
// writable for chronyd's user (mode 0666, directory 0711 so only the exact name is reachable),
// and removes both on Close. Each Dial has its own directory, so concurrent probes and scrapes
// never share a path; its name carries this process's pid, and Dial first sweeps the
// directories of clients that died without Close (SweepClientDirs).
func Dial(ctx context.Context, socketPath, clientDir string) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial chronyd at %s: %w", socketPath, err)
	}
	// Best effort: a directory that cannot be swept must not stop this request.
	_, _ = SweepClientDirs(clientDir)
	dir, err := os.MkdirTemp(clientDir, clientDirPattern())
	if err != nil {
		return nil, fmt.Errorf("dial chronyd: create client socket directory in %s: %w", clientDir, err)
	}
	local := filepath.Join(dir, "s")
	if len(local) >= maxSocketPath {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dial chronyd: client socket path %q is %d bytes, more than %d", local, len(local), maxSocketPath-1)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dial chronyd: chmod %s: %w", dir, err)
	}
	conn, err := net.DialUnix("unixgram",
		&net.UnixAddr{Name: local, Net: "unixgram"},
		&net.UnixAddr{Name: socketPath, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dial chronyd at %s: %w", socketPath, err)
	}
	if err := os.Chmod(local, 0o666); err != nil {
		conn.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dial chronyd: chmod client socket %s: %w", local, err)
	}
	m := &matchingConn{conn: conn}
	return &Client{
		conn:  conn,
		dir:   dir,
		match: m,
		// A random first sequence number: a reply meant for another client can never match.
		fb: &fbchrony.Client{Connection: m, Sequence: rand.Uint32()},
	}, nil
}

// Close closes the connection and removes the client socket and its directory: two unlinks
// where RemoveAll would first try the directory, then list it (a probe runs every few seconds).
func (c *Client) Close() error {
	err := c.conn.Close()
	rerr := os.Remove(filepath.Join(c.dir, "s"))
	if rerr == nil {
		rerr = os.Remove(c.dir)
	}
	if rerr != nil {
		rerr = os.RemoveAll(c.dir)
	}
	if rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("close chronyd client: %w", err)
	}
	return nil
}

// Communicate sends req and waits for the reply that answers it, until ctx's deadline (or
// DefaultTimeout when ctx has none) or ctx is cancelled. Replies to earlier requests are
// discarded; a reply whose status is not success is an error.
func (c *Client) Communicate(ctx context.Context, req fbchrony.RequestPacket) (fbchrony.ResponsePacket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	// Cancelling ctx interrupts a pending read at once.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, err := c.fb.Communicate(req)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			if cerr := ctx.Err(); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
				return nil, fmt.Errorf("request abandoned: %w (%w)", cerr, err)
			}
			return nil, fmt.Errorf("no reply from chronyd by the deadline: %w", err)
		}
		return nil, err
	}
	return resp, nil
}

// matchingConn is the io.ReadWriter handed to facebook/time's client: it remembers the
// command and sequence number of the request written and returns from Read only the datagram
// that answers it, discarding replies to earlier requests (which that client does not check).
type matchingConn struct {
	conn    *net.UnixConn
	command uint16
	seq     uint32
}

// Request and reply header offsets (candm.h, protocol version 6).
const (
	reqCommandOff  = 4
	reqSequenceOff = 8
	rpyHeadLen     = 28
	rpyTypeOff     = 1
	rpyCommandOff  = 4
	rpySequenceOff = 16
	pktTypeReply   = 2
)

func (m *matchingConn) Write(b []byte) (int, error) {
	if len(b) < reqSequenceOff+4 {
		return 0, fmt.Errorf("request of %d bytes is shorter than its header", len(b))
	}
	m.command = binary.BigEndian.Uint16(b[reqCommandOff:])
	m.seq = binary.BigEndian.Uint32(b[reqSequenceOff:])
	return m.conn.Write(b)
}

func (m *matchingConn) Read(p []byte) (int, error) {
	for range maxStaleReplies {
		n, err := m.conn.Read(p)
		if err != nil {
			return n, err
		}
		if n >= rpyHeadLen && p[rpyTypeOff] == pktTypeReply &&
			binary.BigEndian.Uint16(p[rpyCommandOff:]) == m.command &&
			binary.BigEndian.Uint32(p[rpySequenceOff:]) == m.seq {
			return n, nil
		}
	}
	return 0, fmt.Errorf("no matching reply among %d datagrams (command %d, sequence %d)", maxStaleReplies, m.command, m.seq)
}
