package refclock

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/internal/testbin"
)

// sockMagic and sockSample are chrony's SOCK refclock protocol (refclock_sock.c, struct
// sock_sample): the system time of a measurement, the true time's offset from it, a pulse
// flag, a leap flag, padding and the magic number, in the machine's byte order.
const sockMagic = 0x534f434b

type sockSample struct {
	Sec, Usec int64
	Offset    float64
	Pulse     int32
	Leap      int32
	Pad       int32
	Magic     int32
}

// feed sends a sample saying "the system clock is right" every 200 ms until ctx ends.
func feed(ctx context.Context, t *testing.T, path string) {
	var conn *net.UnixConn
	for conn == nil && ctx.Err() == nil {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
		if err == nil {
			conn = c
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if conn == nil {
		return
	}
	defer conn.Close()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		var b bytes.Buffer
		_ = binary.Write(&b, binary.NativeEndian, sockSample{Sec: now.Unix(), Usec: int64(now.Nanosecond() / 1000), Magic: sockMagic})
		_, _ = conn.Write(b.Bytes()) // chronyd may not have bound yet or be gone: the next one counts
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TestSOCKRefclock runs the real chronyd -x with REFCLOCK=SOCK: chronyd (uid nobody) creates
// the socket, the test feeds it, chronyd selects the reference clock, the entrypoint becomes
// ready on it alone (its one NTP server is a port nobody answers on), and /metrics reports
// the refclock source and the tracking reference.
func TestSOCKRefclock(t *testing.T) {
	silent := "127.0.0.1 port " + strconv.Itoa(chronytest.FreeUDPPort(t))
	c := entrypointtest.NewContainer(t, silent)
	refDir := filepath.Join(c.Base, "ref")
	entrypointtest.Must(t, os.Mkdir(refDir, 0o755))
	entrypointtest.Must(t, os.Chown(refDir, entrypointtest.ChronyUID, entrypointtest.ChronyGID))
	sock := filepath.Join(refDir, "ref.sock")
	empty := filepath.Join(c.Base, "noptp")
	entrypointtest.Must(t, os.Mkdir(empty, 0o755))
	c.Set(t, "REFCLOCK=SOCK "+sock+" refid TEST poll 0 precision 0.000001", "PTP_SYSFS_DIR="+empty)

	p := entrypointtest.Start(t, bin, c.Env, "run")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	go feed(ctx, t, sock)
	entrypointtest.WaitProbe(t, bin, p, c.Env, "ready", 0, 60*time.Second)

	var metrics string
	deadline := time.Now().Add(30 * time.Second)
	for {
		metrics = scrape(t, "http://"+c.HTTPAddr+"/metrics")
		if strings.Contains(metrics, `tracking_name="TEST"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{
		`chrony_sources_state_info{source_address="TEST",source_mode="reference clock",source_name="TEST",source_state="sync"} 1`,
		`chrony_tracking_info{tracking_address="TEST",tracking_name="TEST",tracking_refid="54455354"} 1`,
		`chrony_sources_reachability_success{source_address="TEST",source_name="TEST"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s\n%s\nlogs:\n%s", want, grepChrony(metrics), p.Logs)
		}
	}
	conf, err := os.ReadFile(filepath.Join(c.Run, "chrony.conf"))
	entrypointtest.Must(t, err)
	for _, want := range []string{"\nrefclock SOCK " + sock + " refid TEST poll 0 precision 0.000001\n", "\nleapsecmode ignore\n"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("rendered chrony.conf lacks %q:\n%s", want, conf)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepChrony(metrics string) string {
	var out []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "chrony_sources_state") || strings.HasPrefix(l, "chrony_tracking_info") || strings.HasPrefix(l, "chrony_sources_reach") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDeviceGroup starts the entrypoint as root with REFCLOCK naming a fake PHC node (made
// with mknod, never opened) and capreport as chronyd: a group-readable device's group is
// chronyd's one supplementary group; a device only root may read stops the start with an
// error naming the fix, and chronyd never starts.
func TestDeviceGroup(t *testing.T) {
	capreport := testbin.Build(t, "capreport")
	cases := []struct {
		name       string
		auto       bool // REFCLOCK=auto finds the device as an Azure clock in a fake sysfs
		uid, gid   int
		mode       uint32
		wantGroups []int
		wantErr    string // explicit REFCLOCK: the start fails with this
		wantWarn   string // auto: chronyd starts without the refclock, and this is logged
	}{
		{name: "group-readable", gid: 4242, mode: 0o640, wantGroups: []int{4242}},
		{name: "world-readable", mode: 0o644, wantGroups: nil},
		{name: "root-only", mode: 0o600, wantErr: "its group may not read it either"},
		{name: "root-group", mode: 0o660, wantErr: "its group is root's"},
		{name: "auto-group-readable", auto: true, gid: 4242, mode: 0o640, wantGroups: []int{4242}},
		{name: "auto-root-only", auto: true, mode: 0o600, wantWarn: "REFCLOCK=auto: the PTP clock found is unusable: NTP sources only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := entrypointtest.NewContainer(t, "127.0.0.1 port "+strconv.Itoa(chronytest.FreeUDPPort(t)))
			dev := filepath.Join(c.Base, "ptp_hyperv")
			if err := unix.Mknod(dev, syscall.S_IFCHR|tc.mode, int(unix.Mkdev(1, 3))); err != nil {
				t.Skipf("mknod needs root: %v", err)
			}
			entrypointtest.Must(t, os.Chown(dev, tc.uid, tc.gid))
			entrypointtest.Must(t, os.Chmod(dev, os.FileMode(tc.mode)))
			report := filepath.Join(c.State, "report.json") // capreport writes it as nobody
			empty := filepath.Join(c.Base, "noptp")
			entrypointtest.Must(t, os.Mkdir(empty, 0o755))
			c.Set(t, "CHRONYD="+capreport, "REFCLOCK="+dev+" poll 0", "PTP_SYSFS_DIR="+empty, "CAPREPORT_OUT="+report, "HTTP_ADDR=off")
			if tc.auto {
				ptp0 := filepath.Join(empty, "ptp0")
				entrypointtest.Must(t, os.Mkdir(ptp0, 0o755))
				entrypointtest.Must(t, os.WriteFile(filepath.Join(ptp0, "clock_name"), []byte("hyperv\n"), 0o444))
				entrypointtest.Must(t, os.WriteFile(filepath.Join(ptp0, "dev"), []byte("1:3\n"), 0o444))
				c.Unset(t, "REFCLOCK")
				c.Set(t, "PTP_DEV_DIR="+c.Base)
			}
			p := entrypointtest.Start(t, bin, c.Env, "run")
			if tc.wantErr != "" {
				code := p.Wait(t, 30*time.Second)
				if code != 1 || !strings.Contains(p.Logs.String(), tc.wantErr) {
					t.Fatalf("exit %d, want 1 with %q in the logs:\n%s", code, tc.wantErr, p.Logs)
				}
				if _, err := os.Stat(report); err == nil {
					t.Fatal("capreport ran")
				}
				return
			}
			var b []byte
			deadline := time.Now().Add(30 * time.Second)
			for {
				var err error
				if b, err = os.ReadFile(report); err == nil && json.Valid(b) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no capreport report after 30 s:\n%s", p.Logs)
				}
				select {
				case <-p.Done():
					t.Fatalf("entrypoint exited without a capreport report:\n%s", p.Logs)
				case <-time.After(100 * time.Millisecond):
				}
			}
			var r struct {
				UID, GID int
				Groups   []int
			}
			entrypointtest.Must(t, json.Unmarshal(b, &r))
			if r.UID != entrypointtest.ChronyUID || r.GID != entrypointtest.ChronyGID || !equal(r.Groups, tc.wantGroups) {
				t.Fatalf("chronyd ran as uid %d gid %d groups %v, want %d %d %v\n%s", r.UID, r.GID, r.Groups, entrypointtest.ChronyUID, entrypointtest.ChronyGID, tc.wantGroups, p.Logs)
			}
			conf, err := os.ReadFile(filepath.Join(c.Run, "chrony.conf"))
			entrypointtest.Must(t, err)
			hasRefclock := bytes.Contains(conf, []byte("\nrefclock PHC "+dev+" "))
			if hasRefclock != (tc.wantWarn == "") {
				t.Errorf("refclock line written: %v, want %v:\n%s", hasRefclock, tc.wantWarn == "", conf)
			}
			if tc.wantWarn != "" && !strings.Contains(p.Logs.String(), tc.wantWarn) {
				t.Errorf("logs lack %q:\n%s", tc.wantWarn, p.Logs)
			}
			if tc.auto && tc.wantWarn == "" && !strings.Contains(p.Logs.String(), "REFCLOCK=auto: found the Azure Hyper-V PTP clock ptp0 at "+dev) {
				t.Errorf("logs do not say what REFCLOCK=auto found and chose:\n%s", p.Logs)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
