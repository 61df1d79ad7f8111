package k8s

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// assertStoredSafe checks every workload and pod the API server stored: none may let chronyd
// set this machine's clock (see unsafe).
func assertStoredSafe(t *testing.T) {
	t.Helper()
	var l struct{ Items []object }
	getJSON(t, &l, "get", "daemonsets,deployments,pods", "--all-namespaces")
	n := 0
	for _, o := range l.Items {
		md := o["metadata"].(object)
		where := fmt.Sprintf("%v %v/%v", o["kind"], md["namespace"], md["name"])
		spec := podSpec(o)
		if spec == nil {
			t.Errorf("%s: no pod spec", where)
			continue
		}
		n++
		for _, why := range unsafe(where, spec) {
			t.Errorf("stored object unsafe for this machine: %s", why)
		}
	}
	if n == 0 {
		t.Error("no workloads or pods stored: nothing was checked")
	}
}

// pods returns the pods in ns matching selector.
func pods(t *testing.T, ns, selector string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	getJSON(t, &l, "-n", ns, "get", "pods", "-l", selector)
	return l.Items
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyEndpoints returns the addresses of the ready endpoints in the EndpointSlices of a
// Service.
func readyEndpoints(t *testing.T, ns, service string) []string {
	t.Helper()
	addrs, err := readyEndpointsErr(ns, service)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

func readyEndpointsErr(ns, service string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := k8s.run(ctx, nil, "-n", ns, "get", "endpointslices", "-l", discoveryv1.LabelServiceName+"="+service, "-o", "json")
	if err != nil {
		return nil, err
	}
	var l discoveryv1.EndpointSliceList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return nil, fmt.Errorf("endpointslices of %s: %w", service, err)
	}
	var addrs []string
	for _, s := range l.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				addrs = append(addrs, e.Addresses...)
			}
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

// execIn runs a command in a pod's chrony container and returns its output and error.
func execIn(ns, pod string, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return k8s.run(ctx, nil, append([]string{"-n", ns, "exec", pod, "-c", "chrony", "--"}, cmd...)...)
}

// tracking runs `chronyc tracking` in the pod, as a user would with kubectl exec, and returns
// its fields. (Before the image linked chronyc's default socket path to chronyd's socket, this
// answered "506 Cannot talk to daemon"; `entrypoint chronyc tracking` worked.)
func tracking(t *testing.T, ns, pod string) map[string]string {
	t.Helper()
	out, err := execIn(ns, pod, "chronyc", "tracking")
	if err != nil {
		t.Fatalf("chronyc tracking in %s/%s: %v\n%s", ns, pod, err, out)
	}
	f := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}

// referenceIP is the address in chronyc's "Reference ID : 0A F4 00 05 (10.244.0.5)".
var referenceIP = regexp.MustCompile(`\(([0-9.]+)\)`)

// ntpQuery sends one NTP client request to addr and returns the answer's stratum and leap
// indicator.
func ntpQuery(addr string) (stratum, leap int, err error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return 0, 0, err
	}
	req := make([]byte, 48)
	req[0] = 0<<6 | 4<<3 | 3 // no leap warning, version 4, client
	binary.BigEndian.PutUint64(req[40:], uint64(time.Now().UnixNano()))
	if _, err := c.Write(req); err != nil {
		return 0, 0, err
	}
	resp := make([]byte, 128)
	n, err := c.Read(resp)
	if err != nil {
		return 0, 0, err
	}
	if n < 48 || resp[0]&7 != 4 || !slices.Equal(resp[24:32], req[40:48]) {
		return 0, 0, fmt.Errorf("NTP answer from %s is not a server reply to this request", addr)
	}
	return int(resp[1]), int(resp[0] >> 6), nil
}

// scrape returns the body of GET url.
func scrape(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// podWatch records the last state the API server reported of every pod matching a selector,
// including the final one a DELETED event carries: how a deleted pod's containers ended.
type podWatch struct {
	mu      sync.Mutex
	deleted map[string]corev1.Pod
	cancel  context.CancelFunc
	done    chan struct{}
}

func watchPods(t *testing.T, ns, selector string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	w := &podWatch{deleted: map[string]corev1.Pod{}, cancel: cancel, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, k8s.kubectl, "--kubeconfig", k8s.kubeconfig, "-n", ns, "get", "pods",
		"-l", selector, "--watch-only", "--output-watch-events", "-o", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		dec := json.NewDecoder(out)
		for {
			var ev struct {
				Type   string
				Object corev1.Pod
			}
			if err := dec.Decode(&ev); err != nil {
				cmd.Wait()
				return
			}
			if ev.Type == "DELETED" {
				w.mu.Lock()
				w.deleted[ev.Object.Name] = ev.Object
				w.mu.Unlock()
			}
		}
	}()
	// The watch is established once kubectl has connected; give it a bounded moment.
	time.Sleep(2 * time.Second)
	return w
}

// stop ends the watch and returns the deleted pods' final states.
func (w *podWatch) stop() map[string]corev1.Pod {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deleted
}

// assertCleanStops checks that every deleted pod's chrony container exited 0.
func assertCleanStops(t *testing.T, deleted map[string]corev1.Pod, want int) {
	t.Helper()
	if len(deleted) < want {
		t.Errorf("saw %d pods deleted, want at least %d", len(deleted), want)
	}
	for name, p := range deleted {
		found := false
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != "chrony" {
				continue
			}
			found = true
			term := cs.State.Terminated
			if term == nil {
				t.Errorf("deleted pod %s: chrony container's last state %+v, not terminated", name, cs.State)
				continue
			}
			if term.ExitCode != 0 {
				t.Errorf("deleted pod %s: chrony exited %d (%s), want 0", name, term.ExitCode, term.Reason)
			}
		}
		if !found {
			t.Errorf("deleted pod %s: no chrony container status", name)
		}
	}
}

// listenTCP returns a TCP port on all addresses that was free a moment ago (host-network pods
// listen there).
func listenTCP() (int, error) {
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
