#!/usr/bin/env bash
# Builds the control plane (etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kubectl),
# kwok and helm from the Go module proxy, and takes promtool out of Debian's prometheus package, into
# a per-machine cache outside the clone, because setup-envtest's binaries cannot be downloaded here.
# Binaries already in the cache are kept, so only the first run on a machine pays (about 12 minutes on
# 2 cores). Prints the cache folder.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
KUSTOMIZE_VERSION=v5.8.0

here=$(cd "$(dirname "$0")" && pwd)
cache=${RESIDENCY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/residency-operator/k8s-${K8S_VERSION}}
mkdir -p "$cache"

log() { printf '[tools] %s\n' "$*" >&2; }

# build NAME CMD...: runs CMD only when $cache/NAME is missing; writes to a temporary name first so
# an interrupted build never leaves a half-written binary that a later run would trust.
build() {
  local name=$1; shift
  if [ -x "$cache/$name" ]; then return 0; fi
  local start=$SECONDS
  log "building $name (first run on this machine only)"
  "$@"
  mv "$cache/.$name.tmp" "$cache/$name"
  log "built $name in $((SECONDS - start))s"
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} \
-X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"

k8s() { (cd "$here/k8s" && go build -trimpath -ldflags "$k8s_ldflags" -o "$cache/.$1.tmp" "k8s.io/kubernetes/cmd/$1"); }
gobin() { # gobin NAME MODULE@VERSION: go install into a scratch GOBIN, then move into the cache.
  local tmp; tmp=$(mktemp -d)
  GOBIN=$tmp GOFLAGS=-trimpath go install -ldflags "-s -w" "$2"
  mv "$tmp/$1" "$cache/.$1.tmp"; rm -rf "$tmp"
}

# Linters are not needed by `make test`: `build.sh golangci-lint` builds only that one, for
# `make lint`, so a cold test run does not pay for it.
GOLANGCI_LINT_VERSION=v2.15.0
if [ "${1:-}" = golangci-lint ]; then
  build golangci-lint gobin golangci-lint "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}"
  exit 0
fi

# The multi-cluster engines (Karmada, Open Cluster Management) for test/multicluster and
# `make demo-multicluster`: their own modules, so their k8s.io versions never meet the operator's.
karmada() { (cd "$here/multicluster" && go build -trimpath -ldflags "-s -w" -o "$cache/.$1.tmp" "github.com/karmada-io/karmada/cmd/$2"); }
ocm() { (cd "$here/multicluster" && go build -trimpath -ldflags "-s -w" -o "$cache/.$1.tmp" "open-cluster-management.io/ocm/cmd/$2"); }
multicluster() {
  build karmada-scheduler karmada karmada-scheduler scheduler
  build karmada-controller-manager karmada karmada-controller-manager controller-manager
  build karmada-webhook karmada karmada-webhook webhook
  build karmada-aggregated-apiserver karmada karmada-aggregated-apiserver aggregated-apiserver
  build ocm-placement ocm ocm-placement placement
  # The CRDs ship in the modules; copy them beside the binaries so tests need no module lookups.
  if [ ! -d "$cache/multicluster-crds" ]; then
    local tmp="$cache/.multicluster-crds.tmp" dir
    rm -rf "$tmp"; mkdir -p "$tmp/karmada" "$tmp/ocm"
    dir=$(cd "$here/multicluster" && go list -m -f '{{.Dir}}' github.com/karmada-io/karmada)
    find "$dir/charts/karmada/_crds/bases" -name '*.yaml' -exec cp {} "$tmp/karmada/" \;
    dir=$(cd "$here/multicluster" && go list -m -f '{{.Dir}}' open-cluster-management.io/api)
    find "$dir/cluster" -name '*.crd.yaml' -exec cp {} "$tmp/ocm/" \;
    chmod -R u+w "$tmp"; mv "$tmp" "$cache/multicluster-crds"
  fi
}
if [ "${1:-}" = multicluster ]; then
  multicluster
  echo "$cache"
  exit 0
fi

build etcd bash -c "cd '$here/etcd' && go build -trimpath -ldflags '-s -w' -o '$cache/.etcd.tmp' ."
build kube-apiserver k8s kube-apiserver
build kube-scheduler k8s kube-scheduler
build kube-controller-manager k8s kube-controller-manager
build kubectl k8s kubectl
build kwok gobin kwok "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
build helm gobin helm "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
build kustomize gobin kustomize "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"

# promtool (test/deploy checks the chart's PrometheusRule with it) comes out of Debian's prometheus
# package: downloaded, not installed, so no Prometheus service, user or dependencies land on the
# machine. apt needs its package lists; a fresh machine may have none yet.
debpromtool() {
  local tmp; tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root prometheus >/dev/null 2>&1); then
    apt-get update -q >/dev/null
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root prometheus >/dev/null)
  fi
  (cd "$tmp" && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool)
  mv "$tmp/usr/bin/promtool" "$cache/.promtool.tmp"; rm -rf "$tmp"
}
build promtool debpromtool

# kwok refuses to start without stages; they ship inside its module.
if [ ! -f "$cache/kwok-stages.yaml" ]; then
  dir=$(go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  {
    cat "$dir/kustomize/stage/node/fast/node-initialize.yaml"; echo "---"
    cat "$dir/kustomize/stage/pod/fast/pod-ready.yaml"; echo "---"
    cat "$dir/kustomize/stage/pod/fast/pod-complete.yaml"; echo "---"
    cat "$dir/kustomize/stage/pod/fast/pod-delete.yaml"
  } > "$cache/.kwok-stages.tmp"
  mv "$cache/.kwok-stages.tmp" "$cache/kwok-stages.yaml"
fi

echo "$cache"
