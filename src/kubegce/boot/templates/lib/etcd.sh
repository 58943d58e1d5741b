# shellcheck shell=bash
# A control plane's etcd data disk. etcd's data and /etc/kubernetes (certificates, static pods,
# kubelet.conf) live on it; the group's stateful policy keeps it, with the instance's name and
# internal IP, across recreateInstances, so a recreated control plane restores its member from it
# instead of running kubeadm init/join (docs/rolling-update.md, "Control planes").

# The lab (and only the lab) may point these elsewhere through its lab.env.
KUBEGCE_ETCD_DEVICE=${KUBEGCE_ETCD_DEVICE:-/dev/disk/by-id/google-etcd}
KUBEGCE_ETCD_DIR=${KUBEGCE_ETCD_DIR:-/var/lib/etcd}

etcd_record() {
  # What this member wrote on its disk when it joined: its advertise address, the Kubernetes
  # version it runs and whether it initialised the cluster.
  echo "$KUBEGCE_ETCD_DIR/kubegce/member.env"
}

mount_etcd_disk() {
  # Every boot of a control plane (mounts do not survive a reboot): the disk at /var/lib/etcd,
  # formatted only when blank, and /etc/kubernetes bind-mounted from it. A control plane made
  # before control planes had their own disk keeps its etcd data on the boot disk.
  local dev=$KUBEGCE_ETCD_DEVICE dir=$KUBEGCE_ETCD_DIR kept fs
  kept="$KUBEGCE_ETCD_DIR/kubegce/etc-kubernetes"
  if [[ ! -b "$dev" ]]; then
    log "etcd-disk=none ($dev is not a block device): etcd data stays on the boot disk"
    return 0
  fi
  mkdir -p "$dir"
  if ! mountpoint -q "$dir"; then
    fs=$(blkid -o value -s TYPE "$dev" 2>/dev/null || true)
    if [[ -z "$fs" ]]; then
      log "etcd-disk=blank: formatting $dev (ext4)"
      mkfs.ext4 -q -F -L kubegce-etcd "$dev"
    fi
    mount -o defaults,discard "$dev" "$dir"
  fi
  mkdir -p "$kept" /etc/kubernetes
  if ! mountpoint -q /etc/kubernetes; then
    mount --bind "$kept" /etc/kubernetes
  fi
  log "etcd-disk=$dev mounted at $dir; /etc/kubernetes kept on it"
}

etcd_member_on_disk() {
  [[ "$KUBEGCE_ROLE" == control-plane && -r "$(etcd_record)" ]]
}

record_etcd_member() {
  # $1: 1 when this member initialised the cluster. Written after kubeadm init/join succeeded.
  local address
  address=$(metadata_get "instance/network-interfaces/0/ip")
  mkdir -p "$KUBEGCE_ETCD_DIR/kubegce"
  printf 'ADVERTISE_ADDRESS=%s\nKUBERNETES_VERSION=%s\nFIRST_CONTROL_PLANE=%s\n' \
    "$address" "$KUBEGCE_KUBERNETES_VERSION" "$1" >"$(etcd_record).partial"
  mv -f "$(etcd_record).partial" "$(etcd_record)"
}

minor_of() {
  # $1: a version like 1.33.2; its minor number (33), or nothing when it is not one
  if [[ "$1" =~ ^v?1\.([0-9]+)\. ]]; then echo "${BASH_REMATCH[1]}"; fi
}

upgrade_control_plane() {
  # $1: the version the member on the disk ran. kubeadm upgrades one minor version at a time and
  # never down: the first control plane to boot the new version runs `kubeadm upgrade apply`
  # (the cluster's kubeadm-config still names the old version), every later one `upgrade node`.
  local from=$1 want=$KUBEGCE_KUBERNETES_VERSION old new cluster_version
  old=$(minor_of "$from")
  new=$(minor_of "$want")
  if [[ -z "$old" || -z "$new" ]] || ((new < old || new - old > 1)); then
    fail "kubernetes-version-skew: the etcd disk's member runs $from and this boot wants $want;" \
      "kubeadm upgrades control planes one minor version at a time and never down: roll through each minor version"
  fi
  cluster_version=$(kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get configmap kubeadm-config \
    -o jsonpath='{.data.ClusterConfiguration}' 2>/dev/null | sed -n -E 's/^kubernetesVersion: *v?//p' || true)
  if [[ "$cluster_version" == "$want" ]]; then
    log "kubernetes-upgrade=node from=$from to=$want"
    kubeadm upgrade node
  else
    log "kubernetes-upgrade=apply from=$from to=$want"
    kubeadm upgrade apply --yes "v$want"
  fi
}

read_etcd_record() {
  # Sets ETCD_ADDRESS, ETCD_VERSION and ETCD_FIRST from the record (parsed, never sourced).
  local key value
  ETCD_ADDRESS="" ETCD_VERSION="" ETCD_FIRST=0
  while IFS='=' read -r key value; do
    case "$key" in
      ADVERTISE_ADDRESS) ETCD_ADDRESS=$value ;;
      KUBERNETES_VERSION) ETCD_VERSION=$value ;;
      FIRST_CONTROL_PLANE) ETCD_FIRST=$value ;;
    esac
  done <"$(etcd_record)"
}

check_etcd_address() {
  # The member on the disk, its peers' view of it and its certificates name the address it
  # advertised when it joined; an instance with another address would bring up a member its peers
  # do not know, so it refuses (before it publishes or changes anything) instead of risking quorum.
  local current
  read_etcd_record
  current=$(metadata_get "instance/network-interfaces/0/ip")
  if [[ "$ETCD_ADDRESS" != "$current" ]]; then
    fail "$KUBEGCE_ETCD_ADDRESS_MISMATCH: the etcd data disk records advertise address $ETCD_ADDRESS," \
      "this instance has $current"
  fi
}

restore_etcd_member() {
  # A recreated control plane on its kept disk (its address checked): the member, its
  # certificates and its static pods are there, and the kubelet starts them.
  local version first
  read_etcd_record
  version=$ETCD_VERSION first=$ETCD_FIRST
  if [[ ! -r /etc/kubernetes/kubelet.conf ]]; then
    fail "the etcd data disk holds a member but no /etc/kubernetes/kubelet.conf: restore it from a backup"
  fi
  echo "$first" >"$RUN_DIR/first-control-plane"
  log "$KUBEGCE_ETCD_RESTORED address=$ETCD_ADDRESS: existing etcd member, no kubeadm init/join"
  if [[ "$version" != "$KUBEGCE_KUBERNETES_VERSION" ]]; then
    upgrade_control_plane "$version"
  fi
  record_etcd_member "$first"
}
