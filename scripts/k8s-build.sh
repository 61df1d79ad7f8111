#!/bin/sh
# Builds the Kubernetes binaries the cluster tests run (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kubectl, plus crictl and helm) from the Go module proxy into the
# ignored .cache/k8s/bin.
# `go install k8s.io/kubernetes/...@v` is refused because kubernetes' go.mod replaces its staging
# modules with local paths; a throwaway module that requires k8s.io/kubernetes and replaces each
# staging module with its published v0.x release builds them. Skips binaries already built for
# this version. About 9 minutes on 2 cores the first time; Go's build cache makes reruns fast.
set -eu

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${K8S_CACHE:-$root/.cache/k8s}
src=$cache/src
bin=$cache/bin
mkdir -p "$src" "$bin"

stamp=$bin/.version
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$KUBE_VERSION" ]; then
	missing=
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		[ -x "$bin/$b" ] || missing=1
	done
	[ -x "$bin/crictl" ] || missing=1
	[ -x "$bin/helm" ] || missing=1
	[ -z "$missing" ] && exit 0
fi

minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
staging=v0.${KUBE_VERSION#v1.}
modfile=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$modfile" ] || { echo "k8s-build: no go.mod for k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }

{
	echo "module k8sbuild"
	echo
	sed -n 's/^go \(.*\)/go \1/p' "$modfile"
	echo
	echo "require k8s.io/kubernetes $KUBE_VERSION"
	echo
	echo "replace ("
	sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*|\t\1 => \1 '"$staging"'|p' "$modfile"
	echo ")"
} >"$src/go.mod"
cat >"$src/tools.go" <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
cd "$src"
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
	[ -x "$bin/$b" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$KUBE_VERSION" ] && continue
	echo "k8s-build: building $b $KUBE_VERSION" >&2
	CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b"
	mv "$bin/$b.tmp" "$bin/$b"
done
echo "$KUBE_VERSION" >"$stamp"
# crictl: k8s-down.sh removes every pod sandbox through CRI with it.
if [ ! -x "$bin/crictl" ]; then
	echo "k8s-build: building crictl $CRICTL_VERSION" >&2
	CGO_ENABLED=0 GOBIN=$bin go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
fi
# helm: the chart tests (test/k8s) lint, render and install charts/chrony with it.
if [ ! -x "$bin/helm" ]; then
	echo "k8s-build: building helm $HELM_VERSION" >&2
	CGO_ENABLED=0 GOBIN=$bin go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
