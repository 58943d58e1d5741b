# shellcheck shell=bash
# A control plane's etcd data disk. It is mounted at its own mount point; etcd's data
# (/var/lib/etcd), /etc/kubernetes (certificates, static pods, kubelet.conf) and /var/lib/kubelet
# (the kubelet's config and client certificate) are bind-mounted from directories on it. The
# group's stateful policy keeps the disk, with the instance's name and internal IP, across
# recreateInstances, so a recreated control plane restores its member from it instead of running
# kubeadm init/join (docs/rolling-update.md, "Control planes").
#
# /var/lib/etcd is not the disk's root: a freshly formatted ext4 file system holds lost+found,
# and kubeadm's init and control-plane join preflight require the local etcd data directory to
# be absent or empty (DirAvailable--var-lib-etcd: cmd/kubeadm/app/preflight/checks.go, v1.35).

# The lab (and only the lab) may point these elsewhere through its lab.env.
KUBEGCE_ETCD_DEVICE=${KUBEGCE_ETCD_DEVICE:-/dev/disk/by-id/google-etcd}
KUBEGCE_ETCD_MOUNT=${KUBEGCE_ETCD_MOUNT:-/mnt/disks/kubegce-etcd}
KUBEGCE_ETCD_DIR=${KUBEGCE_ETCD_DIR:-/var/lib/etcd}
KUBEGCE_KUBELET_DIR=${KUBEGCE_KUBELET_DIR:-/var/lib/kubelet}

etcd_record() {
  # What this member wrote on its disk when it joined: its advertise address, the Kubernetes
  # version it runs and whether it initialised the cluster. Beside etcd's data, never in it.
  echo "$KUBEGCE_ETCD_MOUNT/kubegce/member.env"
}

bind_from_disk() {
  # $1: a directory on the etcd disk, $2: where it is seen. Created 0700 when new.
  mkdir -p "$2"
  if [[ ! -d "$1" ]]; then
    (umask 077 && mkdir -p "$1")
  fi
  if ! mountpoint -q "$2"; then
    mount --bind "$1" "$2"
  fi
}

mount_etcd_disk() {
  # Every boot of a control plane (mounts do not survive a reboot): the disk at its mount point,
  # formatted only when blank, then etcd's data, /etc/kubernetes and /var/lib/kubelet bound from
  # it. A disk written before etcd's data moved to data/ (member/ at its root) is bound as it is.
  # A control plane made before control planes had their own disk keeps all of it on the boot disk.
  local dev=$KUBEGCE_ETCD_DEVICE mnt=$KUBEGCE_ETCD_MOUNT fs data
  if [[ ! -b "$dev" ]]; then
    log "etcd-disk=none ($dev is not a block device): etcd data stays on the boot disk"
    if ! mkdir -p "$mnt/kubegce" 2>/dev/null; then
      # a read-only root (COS's /mnt): the member's record goes beside the bootstrap's state on
      # /var, writable on every image (the same choice on every boot)
      KUBEGCE_ETCD_MOUNT=$KUBEGCE_STATE_DIR/etcd
      mkdir -p "$KUBEGCE_ETCD_MOUNT/kubegce"
    fi
    return 0
  fi
  mkdir -p "$mnt"
  if ! mountpoint -q "$mnt"; then
    fs=$(blkid -o value -s TYPE "$dev" 2>/dev/null || true)
    if [[ -z "$fs" ]]; then
      log "etcd-disk=blank: formatting $dev (ext4)"
      mkfs.ext4 -q -F -L kubegce-etcd "$dev"
    fi
    mount -o defaults,discard "$dev" "$mnt"
  fi
  data="$mnt/data"
  if [[ -d "$mnt/member" && ! -d "$data" ]]; then
    data=$mnt  # the layout of kubegce before 2026-12: etcd's member/ at the disk's root
  fi
  mkdir -p "$mnt/kubegce"
  bind_from_disk "$data" "$KUBEGCE_ETCD_DIR"
  bind_from_disk "$mnt/kubegce/etc-kubernetes" /etc/kubernetes
  bind_from_disk "$mnt/kubegce/var-lib-kubelet" "$KUBEGCE_KUBELET_DIR"
  log "etcd-disk=$dev mounted at $mnt; $KUBEGCE_ETCD_DIR, /etc/kubernetes and $KUBEGCE_KUBELET_DIR kept on it"
}

etcd_member_on_disk() {
  [[ "$KUBEGCE_ROLE" == control-plane && -r "$(etcd_record)" ]]
}

record_etcd_member() {
  # $1: 1 when this member initialised the cluster. Written after kubeadm init/join succeeded.
  local address
  address=$(metadata_get "instance/network-interfaces/0/ip")
  mkdir -p "${KUBEGCE_ETCD_MOUNT}/kubegce"
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
  # certificates, its static pods and the kubelet's config and client certificate are there;
  # the kubelet is started here (kubeadm, which starts it otherwise, does not run).
  local version first missing=() f
  read_etcd_record
  version=$ETCD_VERSION first=$ETCD_FIRST
  for f in /etc/kubernetes/kubelet.conf /etc/kubernetes/manifests/etcd.yaml \
    /etc/kubernetes/manifests/kube-apiserver.yaml "$KUBEGCE_KUBELET_DIR/config.yaml"; do
    [[ -r "$f" ]] || missing+=("$f")
  done
  if ((${#missing[@]})); then
    fail "the etcd data disk holds a member but not ${missing[*]}: restore it from a backup"
  fi
  echo "$first" >"$RUN_DIR/first-control-plane"
  log "$KUBEGCE_ETCD_RESTORED address=$ETCD_ADDRESS: existing etcd member, no kubeadm init/join"
  # The kubelet runs the kept static pods (etcd rejoins its peers, the API server serves), which
  # `kubeadm upgrade` needs before it can read the cluster's configuration.
  systemctl daemon-reload
  systemctl enable kubelet
  systemctl restart kubelet
  if [[ "$version" != "$KUBEGCE_KUBERNETES_VERSION" ]]; then
    upgrade_control_plane "$version"
  fi
  record_etcd_member "$first"
}
