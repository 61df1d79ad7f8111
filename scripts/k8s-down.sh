#!/usr/bin/env bash
# k8s-down.sh: tear down the cluster of scripts/k8s-up.sh and restore what it changed on this
# machine: pod sandboxes (their network namespaces and veths), kubelet's and containerd's
# mounts, the bridge, the cgroup tree, the KUBE-* iptables chains kubelet added, the sysctls
# saved before start, the directories bring-up created. Stops only the processes k8s-up.sh
# recorded by PID (and the containerd shims serving this cluster's own socket). Safe to run
# twice, and on a half-started cluster. Keeps the logs in .cache/k8s/last-run.
#
# Environment: CHRONY_K8S_STATE (default /tmp/chrony-k8s).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${CHRONY_K8S_STATE:-/tmp/chrony-k8s}
bin=$repo/.cache/k8s/bin
bridge=chrony-k8s0
cgroup_root=chrony-k8s
sock=$state/containerd/containerd.sock

log() { printf 'k8s-down: %s\n' "$*" >&2; }

[ -d "$state" ] || {
	log "no cluster state at $state: nothing to do"
	exit 0
}
case "$state" in /tmp/* | /run/* | /var/tmp/* | "$repo"/.cache/*) ;; *)
	log "refusing to clean up $state (not under /tmp, /run, /var/tmp or .cache)"
	exit 1
	;;
esac

# stop NAME: SIGTERM to the recorded PID, bounded wait, then SIGKILL. Checks that the PID still
# runs the program it was started as, so a recycled PID is never signalled.
stop() {
	local name=$1 pidfile=$state/pids/$1.pid pid exe
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || {
		rm -f "$pidfile"
		return 0
	}
	case "$exe" in */etcd | */kube-* | */kubelet | */containerd) ;; *)
		log "pid $pid of $name now runs $exe: not ours, leaving it"
		rm -f "$pidfile"
		return 0
		;;
	esac
	kill -TERM "$pid" 2>/dev/null
	# kube-apiserver drains its requests for a while on SIGTERM: 30 s before SIGKILL.
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name (pid $pid) ignored SIGTERM for 30s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$pidfile"
	log "stopped $name (pid $pid)"
}

# kubelet first, so it recreates nothing; then every pod sandbox through CRI while containerd
# still runs (stops containers, deletes the pod network: veths, IPs, netns).
stop kubelet
if [ -S "$sock" ] && [ -f "$state/pids/containerd.pid" ]; then
	ctr() { timeout 60 ctr --address "$sock" --namespace k8s.io "$@"; }
	crictl=$bin/crictl
	if [ -x "$crictl" ]; then
		timeout 120 "$crictl" --runtime-endpoint "unix://$sock" rmp --all --force >/dev/null 2>&1 ||
			log "crictl rmp failed; removing tasks with ctr"
	fi
	for c in $(ctr containers list --quiet 2>/dev/null); do
		ctr tasks kill --signal SIGKILL "$c" >/dev/null 2>&1
		ctr tasks delete --force "$c" >/dev/null 2>&1
		ctr containers delete "$c" >/dev/null 2>&1
	done
fi
stop containerd
# Shims of this cluster outlive containerd by design; they are ours when their command line
# names this cluster's socket. Found by PID, stopped by PID.
for p in /proc/[0-9]*; do
	cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
	case "$cmd" in *containerd-shim*"-address $sock "*)
		pid=${p#/proc/}
		log "stopping leftover shim pid $pid"
		kill -KILL "$pid" 2>/dev/null
		;;
	esac
done
# Containers left after a SIGKILLed shim: runc's state lives under containerd's state dir.
for c in "$state"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/; do
	[ -d "$c" ] || continue
	id=$(basename "$c")
	runc --root "$state/containerd/state/runc/k8s.io" delete --force "$id" >/dev/null 2>&1
done
for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done

# Mounts: everything under the state dir (kubelet's volumes, containerd's rootfs and shm), and
# the network namespaces this cluster's pods had (cni-* under /run/netns), deepest first.
umount_under() {
	awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || log "cannot unmount $m"; done
}
umount_under "$state"

if ip link show "$bridge" >/dev/null 2>&1; then
	ip link delete "$bridge" && log "deleted bridge $bridge"
fi

# cgroups, deepest first (a cgroup directory is removed with rmdir, empty or not of files).
for h in /sys/fs/cgroup/*/; do
	[ -d "$h$cgroup_root" ] || continue
	find "$h$cgroup_root" -depth -type d -exec rmdir {} \; 2>/dev/null
	[ -d "$h$cgroup_root" ] && log "cgroup $h$cgroup_root still busy"
done

# iptables chains kubelet added (KUBE-* that did not exist before bring-up).
restore_chains() { # save-cmd binary before-file
	local save=$1 ipt=$2 before=$3 table chain
	command -v "$save" >/dev/null 2>&1 && [ -f "$before" ] || return 0
	"$save" 2>/dev/null | awk '/^\*/ { t = substr($1, 2) } /^:KUBE-/ { print t, substr($1, 2) }' |
		while read -r table chain; do
			grep -qx "$chain" "$before" && continue
			# Drop the jumps into it first, then flush and delete it.
			"$save" -t "$table" 2>/dev/null | grep -- "-j $chain\b" | sed 's/^-A/-D/' |
				while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
			"$ipt" -t "$table" -F "$chain" 2>/dev/null
			"$ipt" -t "$table" -X "$chain" 2>/dev/null && log "deleted $ipt $table chain $chain"
		done
}
restore_chains iptables-save iptables "$state/iptables-chains.before"
restore_chains ip6tables-save ip6tables "$state/ip6tables-chains.before"

if [ -f "$state/sysctl.saved" ]; then
	while IFS== read -r key val; do
		[ -n "$key" ] || continue
		now=$(sysctl -n "$key" 2>/dev/null)
		if [ "$now" != "$val" ]; then
			sysctl -qw "$key=$val" && log "restored $key=$val (was $now)"
		fi
	done <"$state/sysctl.saved"
fi

# Files of this cluster outside the state dir: kubelet's log symlinks, containerd's CNI result
# cache (named after this cluster's network). Other runtimes on this machine (podman, another
# containerd) may use the same directories: only this cluster's entries go, and a directory
# only when bring-up created it and it is empty now. Pod network namespaces went with the
# sandboxes above (crictl rmp).
find /var/log/containers -maxdepth 1 -type l -lname "$state/*" -delete 2>/dev/null
find /var/lib/cni/results -maxdepth 1 -name 'chrony-k8s-*' -delete 2>/dev/null
if [ -f "$state/created-dirs" ]; then
	while read -r d; do
		[ "$d" = /var/lib/cni ] && rmdir /var/lib/cni/results 2>/dev/null
		rmdir "$d" 2>/dev/null
	done <"$state/created-dirs"
fi
true

mkdir -p "$repo/.cache/k8s"
rm -rf "$repo/.cache/k8s/last-run"
cp -r "$state/log" "$repo/.cache/k8s/last-run" 2>/dev/null
left=$(awk -v p="$state" 'index($5, p) == 1' /proc/self/mountinfo | wc -l)
if [ "$left" != 0 ]; then
	log "$left mounts remain under $state; leaving it"
	exit 1
fi
rm -rf "$state"
log "done"
