# shellcheck shell=bash
# The secrets, kubeadm init/join and the cluster add-ons.

fetch_secrets() {
  # Secrets never travel in metadata: they come from the state store with the instance's
  # service-account token.
  if [[ -z "$KUBEGCE_SECRETS_URL" ]]; then
    echo "no secrets source: this cluster's state store cannot be read by nodes (file:// store); use a gs:// state store" >&2
    return 1
  fi
  mkdir -p /etc/kubegce
  download_private /etc/kubegce/secrets.tar --silent --show-error --fail --retry 5 --max-time 60 \
    -H "Authorization: Bearer $(service_account_token)" "$KUBEGCE_SECRETS_URL"
  (umask 077 && tar -C / -xf /etc/kubegce/secrets.tar)
}

write_kubeadm_config() {
  # The rendered config holds no secret (no certificate key: control planes have the shared CAs
  # from their bundle); it is written 0600 all the same, as kubeadm's own files are.
  local rendered
  rendered=$(printf '%s' "$KUBEGCE_KUBEADM_CONFIG_B64" | base64 -d)
  (umask 077 && printf '%s\n' "$rendered" >/etc/kubegce/kubeadm.yaml.partial)
  mv -f /etc/kubegce/kubeadm.yaml.partial /etc/kubegce/kubeadm.yaml
  if [[ -n "${KUBEGCE_KUBELET_PATCH_B64:-}" ]]; then
    # this node's kubelet settings over the cluster's (kubeadm's patches, target kubeletconfiguration):
    # a Spot node's graceful shutdown sized to GCE's preemption notice (boot/kubeadm.py)
    mkdir -p "$KUBEGCE_KUBELET_PATCH_DIR"
    printf '%s' "$KUBEGCE_KUBELET_PATCH_B64" | base64 -d >"$KUBEGCE_KUBELET_PATCH_DIR/kubeletconfiguration+merge.yaml.partial"
    mv -f "$KUBEGCE_KUBELET_PATCH_DIR/kubeletconfiguration+merge.yaml.partial" "$KUBEGCE_KUBELET_PATCH_DIR/kubeletconfiguration+merge.yaml"
  fi
}

kubeadm_join() {
  mkdir -p /etc/kubegce
  local restoring=0
  if etcd_member_on_disk; then
    check_etcd_address  # a recreated control plane: refuses a kept member that names another address
  elif restore_pending; then
    restoring=1  # `kubegce restore etcd`: one control plane restores the backup, the others join it (lib/restore.sh)
    elect_restore_leader
    echo "$KUBEGCE_FIRST_CONTROL_PLANE" >"$RUN_DIR/first-control-plane"
  fi
  if [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == 1 && "$KUBEGCE_API_LOAD_BALANCED" == 0 ]]; then
    publish_api_address
  elif [[ -n "$KUBEGCE_DISCOVERY_URL" ]]; then
    discover_api_address
  fi
  export PATH="$KUBEGCE_BIN_DIR:$PATH"
  if etcd_member_on_disk; then
    restore_etcd_member  # a recreated control plane on its kept etcd disk (lib/etcd.sh)
    return 0
  fi
  write_kubeadm_config
  if [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == auto ]]; then
    elect_first_control_plane
    echo "$KUBEGCE_FIRST_CONTROL_PLANE" >"$RUN_DIR/first-control-plane"
  fi
  # The control-plane bundle from the state store holds the join token and the shared CAs; the
  # token is an argument, in nothing kubegce rendered nor on the console. No certificates are
  # uploaded (kubeadm's uploaded copies expire after two hours; later control planes would fail).
  if [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == 1 && "$restoring" == 1 ]]; then
    restore_etcd_snapshot
    # kubeadm init on the restored member: the API's objects are the backup's; kubeadm writes this
    # instance's certificates and static pods and brings the cluster's own objects up to date.
    kubeadm init --config /etc/kubegce/kubeadm.yaml --skip-token-print --ignore-preflight-errors=DirAvailable--var-lib-etcd
    keep_join_token
  elif [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == 1 ]]; then
    kubeadm init --config /etc/kubegce/kubeadm.yaml --skip-token-print
    keep_join_token  # the store's token, with the lifetime it was made with (lib/token.sh)
  else
    kubeadm join --config /etc/kubegce/kubeadm.yaml
  fi
  if [[ "$KUBEGCE_ROLE" == control-plane ]]; then
    record_etcd_member "$KUBEGCE_FIRST_CONTROL_PLANE"
  fi
}

install_addons() {
  if [[ -r "$RUN_DIR/first-control-plane" ]]; then
    KUBEGCE_FIRST_CONTROL_PLANE=$(<"$RUN_DIR/first-control-plane")
  fi
  if [[ "$KUBEGCE_ROLE" != control-plane || "$KUBEGCE_FIRST_CONTROL_PLANE" != 1 ]]; then
    return 0
  fi
  local manifest
  manifest=$(mktemp)
  install_cluster_autoscaler "$manifest"
  if [[ -z "$KUBEGCE_NETWORK_MANIFEST_URL" ]]; then
    # networking.plugin: none: the cluster's owner installs the pod network (nodes stay NotReady until then)
    log "pod network: none installed (networking.plugin: none); nodes stay NotReady until you install one"
  else
    install_network_manifest "$manifest"
  fi
  if [[ "$KUBEGCE_CLOUD_CONTROLLER_MANAGER" == 1 ]]; then
    fetch_asset "$KUBEGCE_CCM_MANIFEST_URL" "$manifest" "$KUBEGCE_CCM_MANIFEST_SHA256"
    "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf apply -f "$manifest"
  fi
  install_storage "$manifest"
  install_device_plugin "$manifest"
  rm -f "$manifest"
}

install_device_plugin() {
  # spec.gpu.devicePlugin: the NVIDIA device plugin's DaemonSets (boot/gpu.py), in every cluster: they
  # run only on nodes labelled nvidia.com/gpu.present, so a GPU group added later needs nothing more.
  local manifest=$1
  if [[ -z "${KUBEGCE_DEVICE_PLUGIN_B64:-}" ]]; then return 0; fi
  printf '%s' "$KUBEGCE_DEVICE_PLUGIN_B64" | base64 -d >"$manifest"
  "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf apply -f "$manifest"
  log "gpu: NVIDIA device plugin ${KUBEGCE_DEVICE_PLUGIN_VERSION:-} applied"
}

install_storage() {
  # spec.storage: the GCE PD CSI driver and its StorageClasses, both rendered by kubegce
  # (boot/storage.py from boot/templates/pd-csi-driver.yaml) and base64 in the node config: nothing is
  # fetched, no value of theirs is shell text. The driver has no key Secret: it authenticates as the
  # VM's service account through the metadata server (docs/storage.md).
  local manifest=$1
  local kubectl=("$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf)
  if [[ "${KUBEGCE_PD_CSI_DRIVER:-0}" != 1 ]]; then
    return 0
  fi
  if [[ -z "${KUBEGCE_PD_CSI_MANIFEST_B64:-}" ]]; then
    log "storage: PD CSI driver not installed: this node config carries no driver manifest; PVCs stay Pending"
    return 0
  fi
  printf '%s' "$KUBEGCE_PD_CSI_MANIFEST_B64" | base64 -d >"$manifest"
  "${kubectl[@]}" apply -f "$manifest"
  if [[ -n "${KUBEGCE_STORAGE_CLASSES_B64:-}" ]]; then
    printf '%s' "$KUBEGCE_STORAGE_CLASSES_B64" | base64 -d >"$manifest"
    "${kubectl[@]}" apply -f "$manifest"
  fi
  log "storage: PD CSI driver ${KUBEGCE_PD_CSI_DRIVER_VERSION:-} applied"
}

install_network_manifest() {
  local manifest=$1
  fetch_asset "$KUBEGCE_NETWORK_MANIFEST_URL" "$manifest" "$KUBEGCE_NETWORK_MANIFEST_SHA256"
  if [[ "$KUBEGCE_CNI_BIN_DIR" != /opt/cni/bin ]]; then
    # The cluster's CNI plugin dir is not /opt/cni/bin (a COS image's /opt is read-only): the
    # network DaemonSet installs its plugins by hostPath where containerd looks for them.
    local dir
    dir=$(sed_replacement "$KUBEGCE_CNI_BIN_DIR")
    sed -i -E "s@^([[:space:]]*path:[[:space:]]*)/opt/cni/bin/?[[:space:]]*\$@\1$dir@" "$manifest"
    log "network manifest: CNI plugin hostPath /opt/cni/bin -> $KUBEGCE_CNI_BIN_DIR"
  fi
  "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf apply -f "$manifest"
}

install_cluster_autoscaler() {
  # spec.clusterAutoscaler: the manifest kubegce rendered (boot/autoscaler.py), base64 in the node config
  local manifest=$1
  if [[ -z "${KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64:-}" ]]; then
    return 0
  fi
  printf '%s' "$KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64" | base64 -d >"$manifest"
  "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf apply -f "$manifest"
  log "cluster autoscaler: applied"
}
