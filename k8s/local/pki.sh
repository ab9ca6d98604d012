# shellcheck shell=bash
# Certificates and kubeconfigs of the local cluster, made once with openssl into $PKI_DIR. Source it.

# issue NAME CN ORG [SUBJECT_ALT_NAMES]: a key and a certificate signed by the cluster CA.
issue() {
  local name="$1" cn="$2" org="$3" sans="${4:-}" ext="$PKI_DIR/$1.ext"
  [ -f "$PKI_DIR/$name.crt" ] && return 0
  openssl genrsa -out "$PKI_DIR/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI_DIR/$name.key" -out "$PKI_DIR/$name.csr" \
    -subj "/CN=$cn${org:+/O=$org}" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
    -CAcreateserial -out "$PKI_DIR/$name.crt" -days 365 -extfile "$ext" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$ext"
}

# kubeconfig NAME: a kubeconfig for the client certificate NAME, talking to the API server.
kubeconfig() {
  local name="$1"
  cat >"$PKI_DIR/$name.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: digits-local
    cluster:
      server: https://$NODE_IP:6443
      certificate-authority: $PKI_DIR/ca.crt
users:
  - name: $name
    user:
      client-certificate: $PKI_DIR/$name.crt
      client-key: $PKI_DIR/$name.key
contexts:
  - name: $name@digits-local
    context: {cluster: digits-local, user: $name}
current-context: $name@digits-local
KUBECONFIG
}

make_pki() {
  mkdir -p "$PKI_DIR" && chmod 700 "$PKI_DIR"
  if [ ! -f "$PKI_DIR/ca.crt" ]; then
    log "pki: a new cluster CA and component certificates in ${PKI_DIR#"$ROOT"/}"
    openssl genrsa -out "$PKI_DIR/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI_DIR/ca.key" -days 365 -subj "/CN=digits-local-ca" \
      -out "$PKI_DIR/ca.crt" 2>/dev/null
  fi
  issue apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  issue kubelet "system:node:$NODE_NAME" system:nodes "DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1"
  issue controller-manager system:kube-controller-manager ""
  issue scheduler system:kube-scheduler ""
  issue kube-proxy system:kube-proxy ""
  issue admin digits-local-admin system:masters
  [ -f "$PKI_DIR/service-accounts.key" ] || {
    openssl genrsa -out "$PKI_DIR/service-accounts.key" 2048 2>/dev/null
    openssl rsa -in "$PKI_DIR/service-accounts.key" -pubout -out "$PKI_DIR/service-accounts.pub" 2>/dev/null
  }
  for name in kubelet controller-manager scheduler kube-proxy admin; do kubeconfig "$name"; done
}
