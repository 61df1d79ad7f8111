#!/usr/bin/env bash
# k8s-up.sh: bring up a one-node Kubernetes cluster on this machine for the cluster tests
# (test/k8s), from binaries only: etcd and the CNI plugins from Debian (apt-get download, never
# installed), the Kubernetes binaries built from the Go module proxy (scripts/k8s-build.sh), a
# private containerd (its own config, root, state and socket; never docker's) with runc.
#
# Usage: scripts/k8s-up.sh          (as root; scripts/k8s-down.sh undoes everything)
# Prints the env file to source: KUBECONFIG, CONTAINERD_ADDRESS, CHRONY_K8S_STATE, ...
#
# What it changes on the machine, all undone by k8s-down.sh (which runs by itself when bring-up
# fails): kubelet's kernel sysctls (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops
# here; saved first), mounts under the state dir, the pods' network namespaces and veths, the
# bridge chrony-k8s0, the cgroup tree /chrony-k8s in each cgroup v1 hierarchy, the KUBE-*
# iptables chains kubelet adds, its symlinks in /var/log/containers and containerd's CNI cache
# entries in /var/lib/cni (each directory removed when bring-up created it and it is empty).
# Processes: each one is started here and recorded by PID in $STATE/pids; nothing else is
# stopped. The pod network 10.244.0.0/24 has no default route: pods reach only each other and
# this machine (10.244.0.1), never anything beyond it.
#
# Environment: CHRONY_K8S_STATE (default /tmp/chrony-k8s); KUBE_VERSION (scripts/k8s-build.sh).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=$repo/.cache/k8s
state=${CHRONY_K8S_STATE:-/tmp/chrony-k8s}
bin=$cache/bin
# Non-default ports: nothing else on this shared machine should collide with them.
etcd_port=23790
etcd_peer_port=23800
api_port=16443
kubelet_port=10250
bridge=chrony-k8s0
pod_cidr=10.244.0.0/24
pod_gw=10.244.0.1
service_cidr=10.96.0.0/24
cgroup_root=/chrony-k8s
pause_image=localhost/chrony-k8s/pause:1

log() { printf 'k8s-up: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (kubelet and containerd need it)"
for c in containerd runc containerd-shim-runc-v2 ctr openssl ip docker go apt-get dpkg-deb; do
	command -v "$c" >/dev/null 2>&1 || die "$c not found (.ci/run installs it: containerd, runc, openssl, iproute2, docker.io)"
done

# One cluster per machine (fixed ports, bridge and subnet). A running one belongs to someone
# else's run: refuse rather than tear it down. Leftovers of a dead one are cleaned up.
if [ -e "$state" ]; then
	for f in "$state"/pids/*.pid; do
		if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
			die "a cluster is running from $state (another test run?): wait for it, or stop it with scripts/k8s-down.sh"
		fi
	done
	log "state $state of a stopped cluster exists: cleaning it up first"
	"$repo/scripts/k8s-down.sh"
fi

# From here on a failure tears down what was started.
trap 'rc=$?; if [ $rc != 0 ]; then log "bring-up failed (exit $rc); logs in $state/log, tearing down"; "$repo/scripts/k8s-down.sh" || true; fi' EXIT

mkdir -p "$state"/{pids,log,pki,etcd,containerd/root,containerd/state,cni/net.d,cni/ipam,kubelet,pod-logs,hostpath}
chmod 700 "$state"

# --- What bring-up changes, saved before anything starts --------------------------------------
# kubelet sets these (pkg/kubelet/cm: setupKernelTunables) and the bridge plugin turns on
# forwarding; found by diffing /proc/sys before and after a bring-up.
sysctls="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward"
for s in $sysctls; do
	printf '%s=%s\n' "$s" "$(sysctl -n "$s")"
done >"$state/sysctl.saved"
for d in /var/log/containers /var/lib/cni /run/netns; do
	[ -e "$d" ] || echo "$d"
done >"$state/created-dirs"
if command -v iptables-save >/dev/null 2>&1; then
	{ iptables-save 2>/dev/null || true; } | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p' | sort -u >"$state/iptables-chains.before"
	{ ip6tables-save 2>/dev/null || true; } | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p' | sort -u >"$state/ip6tables-chains.before"
fi

# --- Binaries -------------------------------------------------------------------------------------
"$repo/scripts/k8s-build.sh"
fetch_deb() { # package dir: extract a Debian package into dir without installing it
	local pkg=$1 dir=$2 work
	[ -e "$dir/.done" ] && return 0
	work=$(mktemp -d)
	(cd "$work" && { apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download "$pkg" >/dev/null; }; })
	rm -rf "$dir"
	dpkg-deb -x "$work"/"$pkg"_*.deb "$dir"
	rm -rf "$work"
	touch "$dir/.done"
}
fetch_deb etcd-server "$cache/etcd"
fetch_deb containernetworking-plugins "$cache/cni"
etcd=$cache/etcd/usr/bin/etcd
cni_bin=$cache/cni/usr/lib/cni

# --- Certificates -----------------------------------------------------------------------------
pki=$state/pki
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=chrony-k8s-ca \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
cert() { # name CN O [SANs]
	local name=$1 cn=$2 o=$3 san=${4:-}
	local subj="/CN=$cn"
	[ -n "$o" ] && subj="/O=$o$subj"
	openssl req -new -newkey rsa:2048 -nodes -subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=digitalSignature,keyEncipherment"
		if [ -n "$san" ]; then
			echo "extendedKeyUsage=serverAuth,clientAuth"
			echo "subjectAltName=$san"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 2 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}
cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
cert admin admin system:masters
cert kubelet system:node:localhost system:nodes
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

kubeconfig() { # name user
	cat >"$state/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chrony-k8s
  cluster:
    certificate-authority: $pki/ca.crt
    server: https://127.0.0.1:$api_port
users:
- name: $1
  user:
    client-certificate: $pki/$1.crt
    client-key: $pki/$1.key
contexts:
- name: chrony-k8s
  context: {cluster: chrony-k8s, user: $1}
current-context: chrony-k8s
EOF
}
for u in admin kubelet controller-manager scheduler; do kubeconfig $u; done

start() { # name command...: start in its own session, record the PID
	local name=$1
	shift
	setsid "$@" >"$state/log/$name.log" 2>&1 </dev/null &
	echo $! >"$state/pids/$name.pid"
	log "started $name (pid $!)"
}
alive() { kill -0 "$(cat "$state/pids/$1.pid")" 2>/dev/null; }
wait_for() { # name seconds command...: bounded wait; fails with the component's log tail
	local name=$1 secs=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ! alive "$name"; then
			tail -30 "$state/log/$name.log" >&2
			die "$name exited"
		fi
		if [ $SECONDS -ge $end ]; then
			tail -30 "$state/log/$name.log" >&2
			die "$name not ready within ${secs}s"
		fi
		sleep 1
	done
}

# --- etcd, apiserver, controller-manager, scheduler -----------------------------------------------
start etcd "$etcd" --name chrony-k8s --data-dir "$state/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
	--initial-cluster "chrony-k8s=http://127.0.0.1:$etcd_peer_port"
wait_for etcd 60 curl -fsS "http://127.0.0.1:$etcd_port/health"

start kube-apiserver "$bin/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 --secure-port "$api_port" --advertise-address 127.0.0.1 \
	--service-cluster-ip-range "$service_cidr" \
	--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--client-ca-file "$pki/ca.crt" \
	--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
	--service-account-issuer https://kubernetes.default.svc \
	--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types Hostname,InternalIP \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,PodSecurity \
	--allow-privileged=true --profiling=false --endpoint-reconciler-type=none
kubectl() { "$bin/kubectl" --kubeconfig "$state/admin.kubeconfig" "$@"; }
wait_for kube-apiserver 120 kubectl get --raw /readyz

start kube-controller-manager "$bin/kube-controller-manager" \
	--kubeconfig "$state/controller-manager.kubeconfig" \
	--authentication-kubeconfig "$state/controller-manager.kubeconfig" \
	--authorization-kubeconfig "$state/controller-manager.kubeconfig" \
	--bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
	--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
	--use-service-account-credentials --service-cluster-ip-range "$service_cidr"
start kube-scheduler "$bin/kube-scheduler" \
	--kubeconfig "$state/scheduler.kubeconfig" \
	--authentication-kubeconfig "$state/scheduler.kubeconfig" \
	--authorization-kubeconfig "$state/scheduler.kubeconfig" \
	--bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

# --- containerd, private ------------------------------------------------------------------------
cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$state/containerd/containerd.sock"
[ttrpc]
  address = "$state/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # No CAP_SYS_RESOURCE on these machines: runc cannot lower a sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$state/cni/net.d"
EOF
cat >"$state/cni/net.d/10-chrony-k8s.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "chrony-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gw"}]]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
start containerd containerd --config "$state/containerd/config.toml"
ctr() { command ctr --address "$state/containerd/containerd.sock" --namespace k8s.io "$@"; }
wait_for containerd 60 ctr version

# The sandbox image: test/k8s/pause, FROM scratch, through docker (import, save) into containerd.
work=$(mktemp -d)
mkdir -p "$work/rootfs"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/rootfs/pause" ./test/k8s/pause)
docker_tag=chrony-k8s-pause-$$:1
tar -C "$work/rootfs" -cf - . | docker import --change 'ENTRYPOINT ["/pause"]' - "$docker_tag" >/dev/null
docker save "$docker_tag" >"$work/pause.tar"
docker rmi "$docker_tag" >/dev/null
ctr images import "$work/pause.tar" >/dev/null
ctr images tag --force "docker.io/library/$docker_tag" "$pause_image" >/dev/null
ctr images rm "docker.io/library/$docker_tag" >/dev/null
rm -rf "$work"

# --- kubelet --------------------------------------------------------------------------------------
cat >"$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: AlwaysAllow
# cgroup v1, no systemd: kubelet 1.37 refuses cgroup v1 unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
failSwapOn: false
podLogsDir: $state/pod-logs
resolvConf: /etc/resolv.conf
hairpinMode: none
serializeImagePulls: true
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
EOF
# kubelet's cgroupRoot must exist in every cgroup v1 hierarchy; k8s-down.sh removes the tree.
for h in /sys/fs/cgroup/*/; do
	[ -f "${h}cgroup.procs" ] && mkdir -p "$h${cgroup_root#/}"
done
start kubelet "$bin/kubelet" --config "$state/kubelet/config.yaml" \
	--kubeconfig "$state/kubelet.kubeconfig" --hostname-override localhost \
	--root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" --v 1
node_ready() { kubectl get node localhost -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
wait_for kubelet 120 node_ready
# Pods get the default ServiceAccount from the controller-manager.
sa_ready() { kubectl -n default get serviceaccount default; }
wait_for kube-controller-manager 60 sa_ready

cat >"$state/env" <<EOF
export CHRONY_K8S_STATE=$state
export KUBECONFIG=$state/admin.kubeconfig
export CHRONY_K8S_BIN=$bin
export CONTAINERD_ADDRESS=$state/containerd/containerd.sock
export CHRONY_K8S_POD_GATEWAY=$pod_gw
export CHRONY_K8S_HOSTPATH=$state/hostpath
EOF
log "cluster up: node localhost Ready; source $state/env"
echo "$state/env"
