# shellcheck shell=bash
# Configuration files of the local cluster's daemons, written into $CONF_DIR. Source it.

write_containerd_config() {
  cat >"$CONF_DIR/containerd.toml" <<TOML
version = 2
root = "$STATE_DIR/containerd/root"
state = "$STATE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The sandbox lacks CAP_SYS_RESOURCE: negative OOM scores would make runc fail.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$DEB_ROOT/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$DEB_ROOT/usr/lib/cni"
    conf_dir = "$CONF_DIR/cni"
TOML
  mkdir -p "$CONF_DIR/cni"
  cat >"$CONF_DIR/cni/10-digits.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "digits-local",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "dataDir": "$STATE_DIR/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}

write_kubelet_config() {
  # Queries from pods go to CoreDNS; this resolv.conf names an address where nothing listens, so
  # nothing is ever forwarded out of the cluster.
  echo "nameserver $NO_DNS_IP" >"$CONF_DIR/resolv.conf"
  cat >"$CONF_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0  # inside the namespace: loopback (the API server dials "localhost") and the bridge
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI_DIR/kubelet.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $CONF_DIR/resolv.conf
# The host runs cgroup v1 without systemd, with swap.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# Negative OOM scores are refused here (no CAP_SYS_RESOURCE).
oomScoreAdj: 0
# Imported images cannot be pulled again: never garbage-collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
podLogsDir: $STATE_DIR/pod-logs
serializeImagePulls: false
maxPods: 40
YAML
}

write_kube_proxy_config() {
  # Every conntrack setting 0: kube-proxy leaves the host-wide conntrack sysctls alone.
  cat >"$CONF_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI_DIR/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
}

write_configs() {
  mkdir -p "$CONF_DIR"
  write_containerd_config
  write_kubelet_config
  write_kube_proxy_config
}
