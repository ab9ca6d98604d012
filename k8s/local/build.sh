#!/usr/bin/env bash
# Builds (once) the parts of the local Kubernetes cluster and caches them outside the repo, keyed by
# version (k8s/local/versions.env):
#   $DIGITS_K8S_CACHE/kubernetes-<v>/bin/  kube-apiserver, kube-controller-manager, kube-scheduler,
#                                          kubelet, kube-proxy, kubectl (Go module k8s.io/kubernetes)
#   $DIGITS_K8S_CACHE/coredns-<v>/coredns  (Go module github.com/coredns/coredns)
#   $DIGITS_K8S_CACHE/debian-<hash>/       etcd, containerd, runc and the CNI plugins, unpacked from
#                                          Debian's packages with dpkg -x (nothing is installed or started)
# plus iptables and conntrack from Debian (installed: kube-proxy runs them from PATH).
# Usage: k8s/local/build.sh [--print-env]   (prints the paths as shell variables when asked)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=k8s/local/lib.sh
. "$HERE/lib.sh"

# k8s.io/kubernetes replaces its staging modules with ./staging/...; a wrapper module that points each
# one at its published version (v0.<minor>.<patch>) makes the commands buildable from the proxy.
write_wrapper_module() {
  local dir="$1" gomod staging
  mkdir -p "$dir"
  gomod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$gomod" ] || die "no go.mod for k8s.io/kubernetes@$KUBERNETES_VERSION"
  staging="v0.${KUBERNETES_VERSION#v1.}"
  {
    echo "module digits.local/kubernetes-build"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    # sample-* modules are examples and never published.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
      grep -v '^k8s.io/sample-c' | while read -r module; do echo "	$module => $module $staging"; done
    echo ")"
  } >"$dir/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "// Package tools names the commands this module builds, so go mod tidy keeps their dependencies."
    echo "package tools"
    echo
    echo "import ("
    for cmd in $KUBE_COMMANDS; do echo "	_ \"k8s.io/kubernetes/cmd/$cmd\""; done
    echo ")"
  } >"$dir/tools.go"
}

build_kubernetes() {
  local out="$KUBE_BIN" work="$K8S_CACHE/kubernetes-$KUBERNETES_VERSION/module" missing=0 cmd
  for cmd in $KUBE_COMMANDS; do [ -x "$out/$cmd" ] || missing=1; done
  if [ "$missing" -eq 0 ]; then log "kubernetes $KUBERNETES_VERSION: cached in $out"; return 0; fi
  log "kubernetes $KUBERNETES_VERSION: building $KUBE_COMMANDS (cold ~18 min on 2 cores, warm seconds)"
  write_wrapper_module "$work"
  with_progress "go mod tidy (kubernetes $KUBERNETES_VERSION)" bash -c "cd '$work' && go mod tidy"
  local minor="${KUBERNETES_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  mkdir -p "$out.partial"
  local pkgs=()
  for cmd in $KUBE_COMMANDS; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  with_progress "go build kubernetes $KUBERNETES_VERSION" bash -c \
    "cd '$work' && CGO_ENABLED=0 go build -trimpath -ldflags '$ldflags' -o '$out.partial/' ${pkgs[*]}"
  rm -rf "$out" && mv "$out.partial" "$out"
  log "kubernetes $KUBERNETES_VERSION: $(du -sh "$out" | cut -f1) of binaries in $out"
}

build_coredns() {
  if [ -x "$COREDNS_BIN" ]; then log "coredns $COREDNS_VERSION: cached"; return 0; fi
  local dir
  dir="$(dirname "$COREDNS_BIN")"
  mkdir -p "$dir"
  with_progress "go install coredns $COREDNS_VERSION (~3 min cold)" env CGO_ENABLED=0 GOBIN="$dir.partial" \
    go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$dir.partial/coredns" "$COREDNS_BIN" && rmdir "$dir.partial"
}

unpack_debian() {
  if [ -x "$DEB_ROOT/usr/bin/containerd" ] && [ -x "$DEB_ROOT/usr/bin/etcd" ]; then
    log "debian packages: cached in $DEB_ROOT"; return 0
  fi
  local tmp="$DEB_ROOT.partial"
  rm -rf "$tmp" && mkdir -p "$tmp/debs"
  log "debian packages: downloading $DEBIAN_PACKAGES"
  (cd "$tmp/debs" && apt-get download $DEBIAN_PACKAGES >/dev/null 2>&1) ||
    { apt-get update -qq && (cd "$tmp/debs" && apt-get download $DEBIAN_PACKAGES >/dev/null); }
  for deb in "$tmp"/debs/*.deb; do dpkg -x "$deb" "$tmp/root"; done
  ls "$tmp/debs" >"$tmp/root/PACKAGES"
  rm -rf "$DEB_ROOT" && mv "$tmp/root" "$DEB_ROOT" && rm -rf "$tmp"
  log "debian packages: $(tr '\n' ' ' <"$DEB_ROOT/PACKAGES")"
}

install_host_tools() {
  local missing=()
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v openssl >/dev/null || missing+=(openssl)
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]} from Debian (kube-proxy runs them)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

main() {
  command -v go >/dev/null || die "go is required (1.26 or newer)"
  install_host_tools
  unpack_debian
  build_coredns
  build_kubernetes
}

main "$@"
