package security

import (
	"bytes"
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

// TestNTSCertificateRenewal renews the NTS certificate the way a Secret update does (a new
// ..data directory renamed over the old one) while a client (a second chronyd -x with nts) is
// synchronised to the entrypoint over NTS.
//
// A valid renewal: the entrypoint restarts chronyd (new pid, restart counter 1, the expiry
// metric is the new certificate's), NTS-KE serves the new certificate, the new chronyd accepts
// the client's authenticated NTP packets (its cookies survive: keys in ntsdumpdir) and the
// client stays synchronised. The longest time the server did not answer NTP across the
// restart is measured and printed.
//
// A bad renewal (a certificate with another key's file): chronyd is not restarted, the old
// pair is still served, the renewal is counted as rejected and logged as an error.
func TestNTSCertificateRenewal(t *testing.T) {
	tests := []struct {
		name string
		// renew returns the pair to publish, made in dir; old is the pair served now.
		renew     func(t *testing.T, dir string, old testcert.Paths) testcert.Paths
		restarted bool
	}{
		{"renewed pair restarts chronyd", func(t *testing.T, dir string, old testcert.Paths) testcert.Paths {
			return newPKI(t, dir)
		}, true},
		{"key of another certificate is rejected", func(t *testing.T, dir string, old testcert.Paths) testcert.Paths {
			p := newPKI(t, dir)
			p.Key = old.Key
			return p
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := chronytest.StartUpstream(t)
			c := newContainer(t, up)
			v1dir, v2dir, vol := filepath.Join(c.Base, "v1"), filepath.Join(c.Base, "v2"), filepath.Join(c.Base, "tls")
			for _, d := range []string{v1dir, v2dir, vol} {
				entrypointtest.Must(t, os.Mkdir(d, 0o755))
			}
			v1 := newPKI(t, v1dir)
			v2 := tt.renew(t, v2dir, v1)
			secret := newSecretVolume(t, vol, v1)
			ntsPort := chronytest.FreeTCPPort(t)
			// NOCLIENTLOG: no rate limiting, so the gap meter's 50 requests a second are all
			// answered while chronyd runs.
			c.Set(t, "NTS_SERVER_CERT="+secret.Cert, "NTS_SERVER_KEY="+secret.Key, "NTS_PORT="+strconv.Itoa(ntsPort),
				"NTS_WATCH_INTERVAL=1s", "NOCLIENTLOG=true")
			c.start(t)
			c.waitProbe(t, "ready", 20*time.Second)
			ke := net.JoinHostPort("127.0.0.1", strconv.Itoa(ntsPort))

			client := chronytest.Start(t, chronytest.Options{Lines: []string{
				fmt.Sprintf("server 127.0.0.1 port %d nts ntsport %d iburst minpoll -2 maxpoll 0", c.NTPPort, ntsPort),
				"ntstrustedcerts " + v1.CA,
				"ntstrustedcerts " + v2.CA,
			}})
			synced := func() bool {
				return strings.Contains(chronycOut(t, client.Socket, "tracking"), "Leap status     : Normal") &&
					ntsCookies(chronycOut(t, client.Socket, "authdata")) > 0
			}
			waitFor(t, 20*time.Second, synced, func() string {
				return "client not synchronised over NTS\n" + client.Logs() + "\n" + c.proc.Logs.String()
			})
			body := c.metrics(t)
			if got, want := metricValue(body, "chrony_container_nts_certificate_expiry_seconds"), notAfter(t, v1.Cert); got != want {
				t.Errorf("expiry metric %v, want the served certificate's %v", got, want)
			}
			pid := c.chronydPID(t)
			gap := startGapMeter(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.NTPPort)))
			time.Sleep(300 * time.Millisecond) // answers before the renewal, for the gap's start

			renewed := time.Now()
			secret.update(t, v2)

			if !tt.restarted {
				waitFor(t, 15*time.Second, func() bool {
					return strings.Contains(c.proc.Logs.String(), "renewed NTS certificate or key rejected")
				}, func() string { return "no rejection logged:\n" + c.proc.Logs.String() })
				body := c.metrics(t)
				if v := metricValue(body, "chrony_container_nts_certificate_renewals_rejected_total"); v != 1 {
					t.Errorf("renewals_rejected_total = %v, want 1", v)
				}
				if v := labelledValue(body, "chrony_container_chronyd_restarts_total", `reason="nts_certificate_renewed"`); v != 0 {
					t.Errorf("restarts_total = %v, want 0", v)
				}
				if got := c.chronydPID(t); got != pid {
					t.Errorf("chronyd pid %d, want the old %d: restarted despite the bad pair", got, pid)
				}
				cert, cookies, err := ntsKE(ke, v1.CA)
				if err != nil || cookies == 0 || !bytes.Equal(cert.Raw, pemDER(t, v1.Cert)) {
					t.Errorf("NTS-KE after the bad renewal: %v, %d cookies; want the old certificate served", err, cookies)
				}
				if g, _, n := gap.result(); g > time.Second || n == 0 {
					t.Errorf("server silent for %v (%d answers) though not restarted", g, n)
				}
				c.waitProbe(t, "ready", 5*time.Second)
				return
			}

			waitFor(t, 30*time.Second, func() bool {
				return labelledValue(c.metrics(t), "chrony_container_chronyd_restarts_total", `reason="nts_certificate_renewed"`) == 1
			}, func() string { return "restart counter did not reach 1:\n" + c.proc.Logs.String() })
			// The restart is counted when the new chronyd is forked, a moment before its socket
			// exists. Once it answers a probe, the very next scrape reaches it: the kept
			// connection to the old socket is redialled, and no failed round is reused.
			c.waitProbe(t, "live", 5*time.Second)
			if v := metricValue(c.metrics(t), "chrony_up"); v != 1 {
				t.Errorf("chrony_up = %v in the first scrape after the new chronyd answered, want 1", v)
			}
			restartedAfter := time.Since(renewed)
			if got := c.chronydPID(t); got == pid {
				t.Errorf("chronyd pid still %d after the restart", pid)
			}
			// NTS-KE after the restart: the new certificate, and new cookies.
			var cert []byte
			var cookies int
			waitFor(t, 10*time.Second, func() bool {
				crt, n, err := ntsKE(ke, v2.CA)
				if err != nil {
					return false
				}
				cert, cookies = crt.Raw, n
				return true
			}, func() string { return "no NTS-KE with the renewed certificate:\n" + c.proc.Logs.String() })
			if !bytes.Equal(cert, pemDER(t, v2.Cert)) || cookies == 0 {
				t.Errorf("NTS-KE served another certificate, or %d cookies", cookies)
			}
			// The client keeps using the cookies it had: the new chronyd (reloaded keys)
			// authenticates its packets, and it stays synchronised.
			waitFor(t, 20*time.Second, func() bool {
				return metricValue(c.metrics(t), "chrony_serverstats_authenticated_ntp_packets_total") >= 3
			}, func() string {
				return "the restarted chronyd authenticated no NTP packet of the client\n" + chronycOut(t, client.Socket, "authdata") + client.Logs()
			})
			// Measured after the client's packets were answered again, so the window covers
			// the whole restart.
			longest, unsync, answers := gap.result()
			gap.close()
			// The NTS-KE above is counted by the new chronyd, but a scrape within 250 ms of the
			// last round of requests to chronyd is answered by that round (MinInterval in
			// cmd/entrypoint), which may predate the NTS-KE: the scrape that saw the
			// authenticated packets, say. So wait for a round that counts it.
			waitFor(t, 5*time.Second, func() bool {
				body = c.metrics(t)
				return metricValue(body, "chrony_serverstats_nts_ke_connections_accepted_total") >= 1
			}, func() string {
				return "nts_ke_connections_accepted_total stayed below 1 after the restart:\n" + body
			})
			if got, want := metricValue(body, "chrony_container_nts_certificate_expiry_seconds"), notAfter(t, v2.Cert); got != want {
				t.Errorf("expiry metric %v, want the renewed certificate's %v", got, want)
			}
			tracking, authdata := chronycOut(t, client.Socket, "tracking"), chronycOut(t, client.Socket, "authdata")
			if !strings.Contains(tracking, "Leap status     : Normal") || !strings.Contains(tracking, "Reference ID    : 7F000001") {
				t.Errorf("client not synchronised to the server after the restart:\n%s", tracking)
			}
			if f := authFields(authdata); f == nil || f[1] != "NTS" || f[7] != "0" {
				t.Errorf("client authdata: want NTS and no NAK after the restart:\n%s", authdata)
			}
			t.Logf("NTS certificate renewal: chronyd restarted %v after the Secret swap (NTS_WATCH_INTERVAL=1s); "+
				"NTP unanswered for at most %v, no synchronised answer for at most %v across the restart (%d answers, polled every 20 ms)",
				restartedAfter.Round(time.Millisecond), longest.Round(time.Millisecond), unsync.Round(time.Millisecond), answers)
			// Probes (and /metrics above) work across the restart: the socket reappeared.
			c.waitProbe(t, "ready", 10*time.Second)
			// The restarted chronyd took over the measurement history (dumpdir, -r).
			if !strings.Contains(c.proc.Logs.String(), "Loaded dump file for 127.0.0.1") {
				t.Errorf("the restarted chronyd did not reload its measurement history (-r):\n%s", c.proc.Logs)
			}
			if longest > 10*time.Second {
				t.Errorf("server silent for %v across the restart", longest)
			}
		})
	}
}

// notAfter is a PEM certificate file's expiry in Unix seconds.
func notAfter(t *testing.T, path string) float64 {
	t.Helper()
	c, err := x509ParsePEM(path)
	entrypointtest.Must(t, err)
	return float64(c.NotAfter.Unix())
}
