package k8s

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/needs"
	"github.com/chris-short/chrony/test/standin"
)

// Names of the test's images in the cluster's containerd: the stand-in under two tags, for the
// rolling updates.
const (
	imageV1 = "localhost/chrony-k8s/chrony:standin-1"
	imageV2 = "localhost/chrony-k8s/chrony:standin-2"
)

// The test's upstream: a `local stratum 1` pod on the node's network, reached by the server
// pods at the bridge's address. Its own namespace (the chrony namespace is restricted).
const (
	upstreamNS   = "chrony-k8s-test"
	upstreamName = "upstream"
)

// cluster is the environment scripts/k8s-up.sh wrote.
type cluster struct {
	kubectl    string // path of kubectl
	kubeconfig string
	containerd string // containerd socket
	gateway    string // the pod network's gateway: this machine, as the pods see it
	hostPath   string // where the DaemonSet's hostPath lives for the test
	state      string
}

var (
	k8s      *cluster
	skipWhy  string // set when the cluster is absent and not required: every cluster test skips
	setupErr error
	// upstreamPort is the test upstream's NTP port on the node's network.
	upstreamPort int
)

func TestMain(m *testing.M) {
	code := 1
	k8s, skipWhy, setupErr = setup()
	if setupErr != nil {
		fmt.Fprintln(os.Stderr, "k8s setup:", setupErr)
	} else {
		code = m.Run()
	}
	if k8s != nil {
		teardown()
	}
	os.Exit(code)
}

// needCluster skips the test when there is no cluster and none is required.
func needCluster(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// setup reads the cluster's env file, builds the stand-in and imports it into the cluster's
// containerd, and starts the test's upstream.
func setup() (*cluster, string, error) {
	envFile := os.Getenv("CHRONY_K8S_ENV")
	if envFile == "" {
		if os.Getenv("CHRONY_K8S_REQUIRED") == "1" || os.Getenv(needs.StrictVar) == "1" {
			return nil, "", fmt.Errorf("CHRONY_K8S_REQUIRED=1 or %s=1 but CHRONY_K8S_ENV is unset: scripts/k8s-up.sh did not run", needs.StrictVar)
		}
		return nil, "no cluster: as root, run `scripts/k8s-up.sh` (it prints the env file), then " +
			"`CHRONY_K8S_ENV=/tmp/chrony-k8s/env go test ./test/k8s`, then `scripts/k8s-down.sh`; scripts/test.sh does all three", nil
	}
	env, err := readEnv(envFile)
	if err != nil {
		return nil, "", err
	}
	c := &cluster{
		kubectl:    filepath.Join(env["CHRONY_K8S_BIN"], "kubectl"),
		kubeconfig: env["KUBECONFIG"],
		containerd: env["CONTAINERD_ADDRESS"],
		gateway:    env["CHRONY_K8S_POD_GATEWAY"],
		hostPath:   env["CHRONY_K8S_HOSTPATH"],
		state:      env["CHRONY_K8S_STATE"],
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := c.run(ctx, nil, "get", "node", "localhost", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"); err != nil || strings.TrimSpace(out) != "True" {
		return nil, "", fmt.Errorf("node localhost not Ready (%q): %v", out, err)
	}
	start := time.Now()
	if err := c.importStandin(ctx); err != nil {
		return c, "", err
	}
	fmt.Fprintf(os.Stderr, "k8s: stand-in built and imported in %s\n", time.Since(start).Round(time.Second))
	if err := c.startUpstream(ctx, true); err != nil {
		return c, "", err
	}
	return c, "", nil
}

func readEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CHRONY_K8S_ENV: %w", err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"CHRONY_K8S_BIN", "KUBECONFIG", "CONTAINERD_ADDRESS", "CHRONY_K8S_POD_GATEWAY", "CHRONY_K8S_HOSTPATH"} {
		if env[k] == "" {
			return nil, fmt.Errorf("CHRONY_K8S_ENV %s: no %s", path, k)
		}
	}
	return env, nil
}

func (c *cluster) run(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// kubectl runs kubectl with a deadline and fails the test on error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	// Longer than any --timeout the tests pass (rollout status: 300s).
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out, err := k8s.run(ctx, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// getJSON decodes `kubectl get ... -o json` into v.
func getJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(kubectl(t, append(args, "-o", "json")...)), v); err != nil {
		t.Fatalf("kubectl get %v: %v", args, err)
	}
}

func (c *cluster) ctr(ctx context.Context, stdin []byte, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.containerd, "--namespace", "k8s.io"}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// importStandin builds the stand-in with docker (test/standin) and moves it into the
// cluster's containerd under the two test tags; the docker images are removed again.
func (c *cluster) importStandin(ctx context.Context) error {
	repo := repoRoot(nil)
	work, err := os.MkdirTemp("", "chrony-k8s")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tag := fmt.Sprintf("chrony-k8s-%d:standin", os.Getpid())
	defer exec.Command("docker", "rmi", "-f", tag, tag+"-rootfs").Run()
	if _, err := standin.Build(ctx, standin.Options{Repo: repo, Tag: tag, WorkDir: work}); err != nil {
		return err
	}
	saved, err := exec.CommandContext(ctx, "docker", "save", tag).Output()
	if err != nil {
		return fmt.Errorf("docker save %s: %w", tag, err)
	}
	if err := c.ctr(ctx, saved, "images", "import", "-"); err != nil {
		return err
	}
	for _, to := range []string{imageV1, imageV2} {
		if err := c.ctr(ctx, nil, "images", "tag", "--force", "docker.io/library/"+tag, to); err != nil {
			return err
		}
	}
	return c.ctr(ctx, nil, "images", "rm", "docker.io/library/"+tag)
}

// startUpstream runs the test's upstream on the node's network, serving only the pod network
// and loopback, on a port that was free.
// A fresh port is picked the first time; a restart keeps it (the servers' sources name it).
func (c *cluster) startUpstream(ctx context.Context, newPort bool) error {
	if newPort {
		l, err := net.ListenPacket("udp", "0.0.0.0:0")
		if err != nil {
			return err
		}
		upstreamPort = l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
	}
	if _, err := c.run(ctx, []byte(upstreamManifest()), "apply", "-f", "-"); err != nil {
		return err
	}
	_, err := c.run(ctx, nil, "-n", upstreamNS, "wait", "--for=condition=Ready", "pod/"+upstreamName, "--timeout=120s")
	return err
}

// upstreamManifest is the test's upstream: the stand-in with `local stratum 1`, no clock
// control, no capabilities.
func upstreamManifest() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
  namespace: %[1]s
  labels: {app: upstream}
spec:
  hostNetwork: true
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 5
  securityContext: {runAsUser: 100, runAsGroup: 101, runAsNonRoot: true}
  containers:
    - name: chrony
      image: %[3]s
      imagePullPolicy: Never
      env:
        - {name: NTP_SERVERS, value: "127.0.0.1 noselect"}
        - {name: LOCAL_STRATUM, value: "1"}
        - {name: READY_ALLOW_LOCAL, value: "true"}
        - {name: ALLOW, value: "10.244.0.0/24,127.0.0.0/8"}
        - {name: NTP_PORT, value: "%[4]d"}
        - {name: CLOCK_CONTROL, value: "off"}
        - {name: HTTP_ADDR, value: "off"}
        - {name: LOG_FORMAT, value: console}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
      readinessProbe:
        exec: {command: [/usr/local/bin/entrypoint, probe, ready]}
        periodSeconds: 2
      volumeMounts: [{name: run, mountPath: /run/chrony}]
  volumes: [{name: run, emptyDir: {medium: Memory}}]
`, upstreamNS, upstreamName, imageV1, upstreamPort)
}

// upstreamSource is the source line that points a pod at the test's upstream, polling every
// second so that losing it shows within seconds.
func upstreamSource() string {
	return fmt.Sprintf("%s port %d iburst minpoll 0 maxpoll 0", k8s.gateway, upstreamPort)
}

// teardown deletes what the tests created, so the next run (or k8s-down.sh) starts clean.
func teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"delete", "namespace", "chrony", upstreamNS, "--ignore-not-found", "--wait=true"},
		{"-n", "kube-system", "delete", "daemonset", "-l", "app.kubernetes.io/name=chrony", "--ignore-not-found", "--wait=true"},
	} {
		if out, err := k8s.run(ctx, nil, args...); err != nil {
			fmt.Fprintln(os.Stderr, "k8s teardown:", err, out)
		}
	}
}

// apply writes objs to dir/name and runs `kubectl apply -f` on it, as the README tells users.
func apply(t *testing.T, dir, name string, objs []object) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, encodeDocs(t, objs), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", p)
}

// waitFor polls cond every 500 ms until it holds or timeout passes; the last detail goes into
// the failure.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var detail string
	for {
		var ok bool
		ok, detail = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, detail)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// readmeApplyCommands returns the `kubectl apply -f kubernetes/...` commands of the README's
// Kubernetes section, in order.
func readmeApplyCommands(t *testing.T) [][]string {
	t.Helper()
	var cmds [][]string
	for _, f := range readmeKubernetesCommands(t) {
		if len(f) == 4 && f[0] == "kubectl" && f[1] == "apply" && f[2] == "-f" && strings.HasPrefix(f[3], "kubernetes/") {
			cmds = append(cmds, f)
		}
	}
	if len(cmds) == 0 {
		t.Fatal("README: no `kubectl apply -f kubernetes/...` in a Kubernetes section")
	}
	return cmds
}

// readmeHelmInstall returns the README's first `helm install` command (the chart with its
// defaults), split into words.
func readmeHelmInstall(t *testing.T) []string {
	t.Helper()
	for _, f := range readmeKubernetesCommands(t) {
		if len(f) > 2 && f[0] == "helm" && f[1] == "install" {
			return f
		}
	}
	t.Fatal("README: no `helm install` in a Kubernetes section")
	return nil
}

// readmeKubernetesCommands returns the kubectl and helm command lines of the README's
// Kubernetes sections, comments cut, split into words.
func readmeKubernetesCommands(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	inK8s := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			inK8s = strings.Contains(l, "Kubernetes")
		}
		if !inK8s {
			continue
		}
		cmd, _, _ := strings.Cut(l, "#")
		if f := strings.Fields(cmd); len(f) > 0 && (f[0] == "kubectl" || f[0] == "helm") {
			cmds = append(cmds, f)
		}
	}
	return cmds
}
