# shellcheck shell=bash
# Shared settings and helpers of the local cluster's scripts (k8s/local/). Source it.

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"
VAR_DIR="${VAR_DIR:-$ROOT/var/k8s}"
# shellcheck source=docker/lib.sh
. "$ROOT/docker/lib.sh"
# shellcheck source=k8s/local/versions.env
. "$LOCAL_DIR/versions.env"

K8S_CACHE="${DIGITS_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digits-k8s}"
KUBE_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
KUBE_BIN="$K8S_CACHE/kubernetes-$KUBERNETES_VERSION/bin"
COREDNS_BIN="$K8S_CACHE/coredns-$COREDNS_VERSION/coredns"
DEB_ROOT="$K8S_CACHE/debian-$(printf '%s' "$DEBIAN_PACKAGES" | sha256sum | cut -c1-12)"
