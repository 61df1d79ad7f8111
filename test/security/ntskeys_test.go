package security

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testcert"
)

// TestNTSKeysSharedAcrossReplicas: two entrypoints serving NTS behind one name, as replicas
// behind a Service. A generates the cookie keys (ntsrotate on, saved in its STATE_DIR); B
// takes them with NTS_KEYS_FROM=A's ntskeys. A client does its NTS-KE with A, and every NTP
// packet it sends reaches B: A's NTS-KE names 127.0.0.5 as the NTP server (ntsntpserver, a
// drop-in), where a UDP relay stands for the Service and forwards to B. With the keys shared,
// B decrypts the client's cookies: the client synchronises over NTS with no NAK, B counts its
// authenticated packets, A none. Without NTS_KEYS_FROM (the control), B cannot decrypt them and
// the client never synchronises. With B started before A has written any keys, B starts with
// keys of its own, then copies A's as they appear and reloads them (rekey).
func TestNTSKeysSharedAcrossReplicas(t *testing.T) {
	tests := []struct {
		name           string
		shared, bFirst bool
	}{
		{"keys shared, copied before chronyd starts", true, false},
		{"keys shared, B up first: copied and reloaded (rekey)", true, true},
		{"control: keys not shared", false, false},
	}
	for _, tt := range tests {
		shared := tt.shared
		t.Run(tt.name, func(t *testing.T) {
			up := chronytest.StartUpstream(t)
			base := chronytest.ShortTempDir(t)
			entrypointtest.Must(t, os.Chmod(base, 0o755)) // the chrony user reads the pair
			tlsDir := filepath.Join(base, "tls")
			entrypointtest.Must(t, os.Mkdir(tlsDir, 0o755))
			p := newPKI(t, tlsDir)

			a := newReplica(t, up, p)
			// A binds its NTP port on 127.0.0.1 only, so the relay can take the same port on
			// 127.0.0.5, the address A's NTS-KE gives clients.
			entrypointtest.Must(t, os.WriteFile(filepath.Join(a.ConfDir, "fleet.conf"),
				[]byte("bindaddress 127.0.0.1\nntsntpserver 127.0.0.5\n"), 0o644))
			keys := filepath.Join(a.State, "ntskeys")
			b := newReplica(t, up, p)
			if shared {
				b.Set(t, "NTS_KEYS_FROM="+keys)
			}
			startA := func() {
				a.start(t)
				a.waitProbe(t, "ready", 20*time.Second)
				if _, err := os.Stat(keys); err != nil {
					t.Fatalf("the generating server saved no keys: %v\n%s", err, a.proc.Logs)
				}
			}
			if !tt.bFirst {
				startA()
			}
			b.start(t)
			b.waitProbe(t, "ready", 20*time.Second)
			if tt.bFirst {
				startA()
				waitFor(t, 15*time.Second, func() bool {
					return metricValue(b.metrics(t), "chrony_container_nts_key_reloads_total") >= 1
				}, func() string { return "B did not reload A's keys:\n" + b.proc.Logs.String() })
			}
			if shared {
				got, err := os.ReadFile(filepath.Join(b.State, "ntskeys"))
				want, _ := os.ReadFile(keys)
				if err != nil || string(got) != string(want) {
					t.Fatalf("B's STATE_DIR has not A's keys: %v\n%s", err, b.proc.Logs)
				}
			}

			relay(t, "127.0.0.5:"+strconv.Itoa(a.NTPPort), "127.0.0.1:"+strconv.Itoa(b.NTPPort))
			aKE := a.Env[slicesIndex(a.Env, "NTS_PORT=")][len("NTS_PORT="):]
			client := chronytest.Start(t, chronytest.Options{Lines: []string{
				fmt.Sprintf("server 127.0.0.1 port %d nts ntsport %s iburst minpoll -2 maxpoll 0", a.NTPPort, aKE),
				"ntstrustedcerts " + p.CA,
			}})
			synced := func() bool {
				tr := chronycOut(t, client.Socket, "tracking")
				f := authRow(chronycOut(t, client.Socket, "authdata"), "127.0.0.5")
				return strings.Contains(tr, "Leap status     : Normal") && f != nil && f[8] != "0"
			}
			if !shared {
				// Give the client as long as the shared case needs several times over.
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					if synced() {
						t.Fatalf("client synchronised through B without shared keys: the test cannot tell\n%s", chronycOut(t, client.Socket, "authdata"))
					}
					time.Sleep(200 * time.Millisecond)
				}
				if v := metricValue(b.metrics(t), "chrony_serverstats_authenticated_ntp_packets_total"); v > 0 {
					t.Errorf("B authenticated %v packets without A's keys", v)
				}
				authdata := chronycOut(t, client.Socket, "authdata")
				if f := authRow(authdata, "127.0.0.5"); f == nil || f[7] == "0" {
					t.Errorf("client authdata: want NAKs from B, which cannot decrypt A's cookies:\n%s", authdata)
				}
				t.Logf("without shared keys: B authenticated nothing and sent NAKs; client authdata:\n%s", authdata)
				return
			}
			waitFor(t, 20*time.Second, synced, func() string {
				return "client not synchronised over NTS through B\n" + chronycOut(t, client.Socket, "authdata") + client.Logs() + "\nB:\n" + b.proc.Logs.String()
			})
			authdata := chronycOut(t, client.Socket, "authdata")
			if f := authRow(authdata, "127.0.0.5"); f == nil || f[1] != "NTS" || f[7] != "0" {
				t.Errorf("client authdata: want NTS and no NAK:\n%s", authdata)
			}
			am, bm := a.metrics(t), b.metrics(t)
			if v := metricValue(am, "chrony_serverstats_nts_ke_connections_accepted_total"); v < 1 {
				t.Errorf("A accepted %v NTS-KE connections, want >= 1", v)
			}
			if v := metricValue(bm, "chrony_serverstats_nts_ke_connections_accepted_total"); v != 0 {
				t.Errorf("B accepted %v NTS-KE connections, want 0: the client must have done its key exchange with A", v)
			}
			if v := metricValue(bm, "chrony_serverstats_authenticated_ntp_packets_total"); v < 1 {
				t.Errorf("B authenticated %v NTP packets, want >= 1", v)
			}
			if v := metricValue(am, "chrony_serverstats_authenticated_ntp_packets_total"); v != 0 {
				t.Errorf("A authenticated %v NTP packets, want 0: every packet goes to B", v)
			}
			t.Logf("client did NTS-KE with A and is synchronised through B:\n%s", authdata)
		})
	}
}

// newReplica is an entrypoint serving NTS with p on its own ports.
func newReplica(t *testing.T, up *chronytest.Instance, p testcert.Paths) *container {
	t.Helper()
	c := newContainer(t, up)
	c.Set(t, "NTS_SERVER_CERT="+p.Cert, "NTS_SERVER_KEY="+p.Key, "NTS_PORT="+strconv.Itoa(chronytest.FreeTCPPort(t)),
		"NTS_WATCH_INTERVAL=1s")
	return c
}

// authRow is the `chronyc authdata` row of the source named name (see authFields).
func authRow(out, name string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 10 && f[0] == name {
			return f
		}
	}
	return nil
}

func slicesIndex(env []string, prefix string) int {
	for i, e := range env {
		if strings.HasPrefix(e, prefix) {
			return i
		}
	}
	return -1
}

// relay forwards each UDP datagram from listen to target and the reply back to its sender,
// until the test ends: what a Service does with a client's packets. chronyd sends each request
// from a new port, so each is relayed on its own, its reply awaited at most 500 ms.
func relay(t *testing.T, listen, target string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", listen)
	entrypointtest.Must(t, err)
	up, err := net.Dial("udp", target)
	entrypointtest.Must(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); up.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := up.Write(buf[:n]); err != nil {
				continue
			}
			_ = up.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if n, err = up.Read(buf); err == nil {
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}
	}()
}
