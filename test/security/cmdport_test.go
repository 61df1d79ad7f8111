package security

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
)

// socketInodes is the set of socket inodes pid holds open (from /proc/<pid>/fd).
func socketInodes(t *testing.T, pid int) map[string]bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	entrypointtest.Must(t, err)
	inodes := map[string]bool{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if in, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(in, "]")] = true
		}
	}
	return inodes
}

// listening returns the local ports of pid's sockets in /proc/net/<table> (udp, udp6, tcp,
// tcp6) that wait for anyone: UDP sockets with no remote address (chronyd's client sockets
// are connected to their server) and TCP sockets in state LISTEN.
func listening(t *testing.T, pid int, table string) []int {
	t.Helper()
	inodes := socketInodes(t, pid)
	f, err := os.Open("/proc/net/" + table)
	entrypointtest.Must(t, err)
	defer f.Close()
	var ports []int
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 || !inodes[fl[9]] {
			continue
		}
		remAddr, remPort, _ := strings.Cut(fl[2], ":")
		connected := strings.Trim(remAddr, "0") != "" || remPort != "0000"
		if tcp := strings.HasPrefix(table, "tcp"); (tcp && fl[3] != "0A") || (!tcp && connected) {
			continue
		}
		_, local, _ := strings.Cut(fl[1], ":")
		p, err := strconv.ParseUint(local, 16, 16)
		entrypointtest.Must(t, err)
		ports = append(ports, int(p))
	}
	entrypointtest.Must(t, sc.Err())
	return ports
}

// askUDP sends chronyd's tracking request to 127.0.0.1:port and says whether a reply came
// within a second.
func askUDP(t *testing.T, port int) (bool, error) {
	t.Helper()
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	entrypointtest.Must(t, err)
	defer conn.Close()
	entrypointtest.Must(t, conn.SetDeadline(time.Now().Add(time.Second)))
	client := fbchrony.Client{Connection: conn}
	_, err = client.Communicate(fbchrony.NewTrackingPacket())
	return err == nil, err
}

// TestCommandProtocolOnlyOnUnixSocket: with the default settings chronyd's only listening
// sockets are the NTP port (UDP, IPv4 and IPv6), no TCP at all, and a command request to UDP
// 323 is not answered, while the same request through the Unix socket is (probe live). The
// control case, a mounted chrony.conf that opens a command port, shows that the /proc reading
// and the UDP request do find an open command port.
func TestCommandProtocolOnlyOnUnixSocket(t *testing.T) {
	up := chronytest.StartUpstream(t)

	t.Run("default settings", func(t *testing.T) {
		c := newContainer(t, up)
		c.start(t)
		c.waitProbe(t, "live", 15*time.Second)
		pid := c.chronydPID(t)
		for _, table := range []string{"udp", "udp6"} {
			for _, p := range listening(t, pid, table) {
				if p != c.NTPPort {
					t.Errorf("chronyd listens on %s port %d; only NTP_PORT=%d is expected", table, p, c.NTPPort)
				}
			}
		}
		if got := listening(t, pid, "udp"); len(got) != 1 || got[0] != c.NTPPort {
			t.Errorf("chronyd's listening UDP (IPv4) ports = %v, want [%d]", got, c.NTPPort)
		}
		for _, table := range []string{"tcp", "tcp6"} {
			if got := listening(t, pid, table); len(got) > 0 {
				t.Errorf("chronyd listens on %s ports %v without NTS", table, got)
			}
		}
		if ok, err := askUDP(t, 323); ok {
			t.Errorf("a command request to UDP 323 was answered")
		} else {
			t.Logf("UDP 323: %v", err)
		}
	})

	t.Run("control: a mounted config that opens a command port", func(t *testing.T) {
		c := newContainer(t, nil)
		cmdPort := chronytest.FreeUDPPort(t)
		conf := fmt.Sprintf("server 127.0.0.1 port %d iburst minpoll -2 maxpoll 0\nport %d\nallow 127.0.0.1\ncmdport %d\nbindcmdaddress 127.0.0.1\ndriftfile %s/drift\n",
			up.Port, c.NTPPort, cmdPort, c.State)
		entrypointtest.Must(t, os.WriteFile(c.Conf, []byte(conf), 0o644))
		c.Unset(t, "NTP_PORT", "ALLOW")
		c.start(t)
		c.waitProbe(t, "live", 15*time.Second)
		got := listening(t, c.chronydPID(t), "udp")
		found := false
		for _, p := range got {
			found = found || p == cmdPort
		}
		if !found {
			t.Errorf("listening UDP ports %v lack the command port %d: the /proc reading is broken", got, cmdPort)
		}
		if ok, err := askUDP(t, cmdPort); !ok {
			t.Errorf("no answer from the open command port %d: %v", cmdPort, err)
		}
	})
}
