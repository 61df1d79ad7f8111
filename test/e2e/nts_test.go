package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/internal/testcert"
	"github.com/chris-short/chrony/test/standin"
)

// TestNTS serves NTS from one container (NTS_SERVER_CERT, NTS_SERVER_KEY: a certificate made
// here for its name on the test network) and has a second one (ENABLE_NTS, the test CA trusted
// by a CHRONY_CONF_DIR drop-in) synchronise to it: the NTS code of the image's chrony, server
// and client, as users run it. The client's authdata shows NTS cookies; the server's /metrics
// counts the NTS-KE connection and authenticated requests.
func TestNTS(t *testing.T) {
	needs.Docker(t)
	server, client := prefix+"-nts-server", prefix+"-nts-client"
	tls := t.TempDir()
	p := testcert.Write(t, tls, []string{server}, nil, standin.ChronyUID, standin.ChronyGID, 0o400)
	if err := os.Chmod(tls, 0o755); err != nil {
		t.Fatal(err)
	}
	dropIn := filepath.Join(t.TempDir(), "nts-ca.conf")
	if err := os.WriteFile(dropIn, []byte("ntstrustedcerts /certs/"+filepath.Base(p.CA)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"run", "-d", "--network", network, "--read-only", "--tmpfs", "/run/chrony", "--cap-drop", "ALL",
		"-e", "LOG_FORMAT=console", "-e", "CLOCK_CONTROL=off"}
	ownContainer(t, server)
	dockerT(t, append(append(common, "--name", server, "-v", tls+":/certs:ro",
		"-e", "NTP_SERVERS="+upstream+" iburst minpoll -2 maxpoll 0",
		"-e", "NTS_SERVER_CERT=/certs/"+filepath.Base(p.Cert), "-e", "NTS_SERVER_KEY=/certs/"+filepath.Base(p.Key)), image)...)
	waitStratum(t, ipOf(t, server)+":123", 2, 30*time.Second)

	ownContainer(t, client)
	dockerT(t, append(append(common, "--name", client, "-v", tls+":/certs:ro",
		"-v", dropIn+":/etc/chrony/conf.d/nts-ca.conf:ro",
		"-e", "NTP_SERVERS="+server+" iburst minpoll -2 maxpoll 0", "-e", "ENABLE_NTS=true"), image)...)
	waitStratum(t, ipOf(t, client)+":123", 3, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "exec", client, "chronyc", "-n", "authdata").CombinedOutput()
	if err != nil {
		t.Fatalf("chronyc authdata: %v\n%s", err, out)
	}
	var row []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 10 && f[0] == ipOf(t, server) {
			row = f
		}
	}
	// Name Mode KeyID Type KLen Last Atmp NAK Cook CLen
	if row == nil || row[1] != "NTS" || row[7] != "0" || row[8] == "0" {
		t.Errorf("client authdata: want the server in mode NTS, no NAK, cookies:\n%s", out)
	}
	metrics := httpGet(t, "http://"+ipOf(t, server)+":9123/metrics")
	for _, name := range []string{"chrony_serverstats_nts_ke_connections_accepted_total", "chrony_serverstats_authenticated_ntp_packets_total"} {
		if !metricPositive(metrics, name) {
			t.Errorf("server /metrics: %s is not positive", name)
		}
	}
}

// metricPositive reports whether the unlabelled sample name in the exposition is above zero.
func metricPositive(exposition, name string) bool {
	for _, l := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v != "0" && !strings.HasPrefix(v, "-")
		}
	}
	return false
}
