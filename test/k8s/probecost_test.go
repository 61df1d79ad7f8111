package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkProbeCost measures what a probe costs the node's kubelet and container runtime: the
// CPU time of kubelet, containerd and the cluster's runc shims (with the processes they reaped:
// runc and an exec probe's process) over a window in which one pod is probed every second, for
// a pod with an exec readiness probe (`entrypoint probe ready`), one with an httpGet probe
// (/readyz) and one with no probe (the baseline subtracted from both). It prints the cost per
// probe; the entrypoint's own CPU for answering a GET (about 0.5 ms, bench/execcost) is not in
// it. Run: CHRONY_K8S_ENV=... go test ./test/k8s -run '^$' -bench ProbeCost -benchtime 1x
func BenchmarkProbeCost(b *testing.B) {
	if skipWhy != "" {
		b.Skip(skipWhy)
	}
	const window = 30 * time.Second
	dir := b.TempDir()
	probes := map[string]string{
		"none":    "",
		"exec":    "exec: {command: [/usr/local/bin/entrypoint, probe, ready]}",
		"httpGet": "httpGet: {path: /readyz, port: metrics}",
	}
	cpu := map[string]float64{}
	for _, variant := range []string{"none", "exec", "httpGet", "none", "exec", "httpGet"} {
		name := "probe-cost-" + strings.ToLower(variant)
		probe := ""
		if p := probes[variant]; p != "" {
			probe = "      readinessProbe: {" + p + ", periodSeconds: 1, timeoutSeconds: 5}\n"
		}
		pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 5
  securityContext: {runAsUser: 100, runAsGroup: 101, runAsNonRoot: true}
  containers:
    - name: chrony
      image: %s
      imagePullPolicy: Never
      env:
        - {name: NTP_SERVERS, value: %q}
        - {name: CLOCK_CONTROL, value: "off"}
        - {name: ALLOW, value: none}
        - {name: HTTP_ADDR, value: ":9123"}
      ports: [{name: metrics, containerPort: 9123}]
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
%s      volumeMounts: [{name: run, mountPath: /run/chrony}]
  volumes: [{name: run, emptyDir: {medium: Memory}}]
`, name, upstreamNS, imageV1, upstreamSource(), probe)
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(pod), 0o644); err != nil {
			b.Fatal(err)
		}
		if out, err := k8sRun("apply", "-f", p); err != nil {
			b.Fatal(err, out)
		}
		if out, err := k8sRun("-n", upstreamNS, "wait", "--for=condition=Ready", "pod/"+name, "--timeout=120s"); err != nil {
			b.Fatal(err, out)
		}
		time.Sleep(5 * time.Second) // past the start's own work
		before := runtimeCPU(b)
		time.Sleep(window)
		used := runtimeCPU(b) - before
		cpu[variant] += used / 2
		b.Logf("%s: kubelet+containerd+shims %.0f ms CPU in %s", variant, used*1000, window)
		if out, err := k8sRun("-n", upstreamNS, "delete", "pod", name, "--wait=true"); err != nil {
			b.Fatal(err, out)
		}
	}
	n := window.Seconds() // one probe a second
	for _, v := range []string{"exec", "httpGet"} {
		perProbe := (cpu[v] - cpu["none"]) / n * 1000
		b.ReportMetric(perProbe, v+"-ms/probe")
		b.Logf("%s probe: %.2f ms of kubelet+containerd+shim CPU per probe (%.0f ms in %s, %.0f ms without a probe)",
			v, perProbe, cpu[v]*1000, window, cpu["none"]*1000)
	}
}

// runtimeCPU returns the CPU seconds (user+system, with reaped children) so far of the
// cluster's kubelet and containerd (by the PIDs k8s-up.sh recorded) and of every runc shim
// serving that containerd (by the socket on its command line).
func runtimeCPU(b *testing.B) float64 {
	b.Helper()
	var pids []int
	for _, name := range []string{"kubelet", "containerd"} {
		data, err := os.ReadFile(filepath.Join(k8s.state, "pids", name+".pid"))
		if err != nil {
			b.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range procs {
		cmd, err := os.ReadFile(c)
		if err != nil || !strings.Contains(string(cmd), "containerd-shim-runc-v2") || !strings.Contains(string(cmd), k8s.containerd) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		pids = append(pids, pid)
	}
	var ticks float64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // a shim that just ended
		}
		// Fields after the command's closing parenthesis: utime is the 14th field of the line,
		// stime, cutime, cstime the next three.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		for _, i := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseFloat(f[i], 64)
			ticks += v
		}
	}
	return ticks / 100 // USER_HZ
}
