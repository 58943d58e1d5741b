# shellcheck shell=bash
# Prepare the host: swap, kernel modules and sysctls, SELinux, firewalld, packages.

configure_kernel() {
  # Modules and sysctls Kubernetes needs, loaded now and on every later boot (by systemd from
  # /etc; where /etc does not survive a reboot (COS) the bootstrap re-runs this on every boot).
  mkdir -p /etc/modules-load.d /etc/sysctl.d
  printf 'overlay\nbr_netfilter\n' >/etc/modules-load.d/kubegce.conf
  modprobe overlay
  modprobe br_netfilter
  printf '%s\n' 'net.ipv4.ip_forward = 1' 'net.bridge.bridge-nf-call-iptables = 1' \
    'net.bridge.bridge-nf-call-ip6tables = 1' >/etc/sysctl.d/99-kubegce.conf
  sysctl --system >/dev/null
}

keep_etc_dirs() {
  # Where /etc is a tmpfs rebuilt on every boot (COS), what kubeadm and the bootstrap keep in
  # /etc/kubernetes and /etc/kubegce (kubelet.conf, certificates, static pods, the secrets that a
  # resumed join needs) lives under the state dir and is bind-mounted back on every boot.
  local dir
  if [[ "$KUBEGCE_VOLATILE_ETC" != 1 ]]; then return 0; fi
  for dir in /etc/kubernetes /etc/kubegce; do
    mkdir -p "$KUBEGCE_STATE_DIR/persist$dir" "$dir"
    if ! mountpoint -q "$dir"; then
      mount --bind "$KUBEGCE_STATE_DIR/persist$dir" "$dir"
    fi
  done
}

prepare_host() {
  swapoff -a
  if [[ -w /etc/fstab ]]; then
    sed -i -E 's@^([^#].*[[:space:]]swap[[:space:]].*)$@# kubegce: \1@' /etc/fstab
  fi
  configure_kernel
  if [[ "$PKG" == dnf && "$DISTRO_ID" != fedora ]]; then
    if command -v setenforce >/dev/null 2>&1; then setenforce 0 || true; fi
    if [[ -w /etc/selinux/config ]]; then
      sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' /etc/selinux/config
    fi
  fi
  if systemctl is-active --quiet firewalld 2>/dev/null; then
    systemctl disable --now firewalld
  fi
  if [[ "$PKG" == none ]]; then
    log "read-only root: using the image's own conntrack and iptables"
  elif ((${#KUBEGCE_HOST_PACKAGES[@]} > 0)); then
    install_packages "${KUBEGCE_HOST_PACKAGES[@]}"
  fi
}
