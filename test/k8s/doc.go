// Package k8s tests the Kubernetes manifests (kubernetes/) on a real one-node cluster that
// scripts/k8s-up.sh brings up on this machine: the stand-in image (test/standin) imported into
// the cluster's private containerd, the manifests applied with kubectl exactly as the README
// says, then readiness, probes, metrics, Services, EndpointSlices, Pod Security, rolling
// updates, clean stops, the tiered layout, the DaemonSet's clock-control variants and the NTS
// server with shared keys (nts.yaml) checked in the cluster. BenchmarkProbeCost measures what an
// exec probe and an httpGet probe cost the node's kubelet and container runtime.
//
// What is applied is a copy of each manifest with only these edits, and the tests check that
// nothing else differs (copies_test.go):
//   - the image reference (the stand-in) and imagePullPolicy: Never (no registry here);
//   - safety: the cluster runs on this machine's kernel, so no container keeps SYS_TIME and
//     CLOCK_CONTROL is off, except in the clock-control tests, where CHRONYD names the
//     capability-reporting stand-in (internal/testbin/capreport), never chronyd;
//   - the NTP sources: the pod network routes nowhere beyond this machine, so sources point at
//     the test's upstream (a `local stratum 1` pod on the node's network) with fast polling;
//   - on the host-network DaemonSet, the metrics port (this machine is shared) and the
//     hostPath of the drift file (the machine's own /var/lib/chrony is not the test's).
//
// The safety edits are checked on what the API server stored (workloads and pods), not only on
// what was sent.
//
// scripts/test.sh brings the cluster up, sets CHRONY_K8S_ENV and CHRONY_K8S_REQUIRED=1, and
// tears it down after; there a missing cluster fails the tests. A plain `go test ./...` without
// CHRONY_K8S_ENV skips them and says how to run them.
package k8s
