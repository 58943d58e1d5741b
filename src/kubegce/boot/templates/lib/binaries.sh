# shellcheck shell=bash
# Install containerd, runc, the CNI plugins and the Kubernetes binaries, and their services.

fetch_asset() {
  # $1: URL, $2: destination, $3: URL of a checksum file (sha256 first field) or a sha256
  local url=$1 dest=$2 sum=$3 want got
  curl --silent --show-error --fail --location --retry 5 --retry-delay 3 --max-time 600 \
    -o "$dest" "$url"
  if [[ -z "$sum" ]]; then
    echo "no sha256 pinned for $url; set spec.assets.manifestSha256 in the cluster spec" >&2
    return 1
  elif [[ "$sum" =~ ^[0-9a-f]{64}$ ]]; then
    want=$sum
  else
    want=$(curl --silent --show-error --fail --location --retry 5 --max-time 60 "$sum" | cut -d' ' -f1)
  fi
  got=$(sha256sum "$dest" | cut -d' ' -f1)
  if [[ -z "$want" || "$got" != "$want" ]]; then
    echo "checksum mismatch for $url: got $got, want ${want:-nothing}" >&2
    return 1
  fi
}

make_bin_dirs() {
  mkdir -p "$KUBEGCE_BIN_DIR" "$KUBEGCE_CNI_BIN_DIR"
  if [[ "$KUBEGCE_READ_ONLY_ROOT" == 1 ]] && ! mountpoint -q "$KUBEGCE_BIN_DIR"; then
    # COS mounts its writable partitions noexec; make our bin dir executable (every boot).
    mount --bind "$KUBEGCE_BIN_DIR" "$KUBEGCE_BIN_DIR"
    mount -o remount,exec "$KUBEGCE_BIN_DIR"
  fi
}

install_binaries() {
  local work arch
  work=$(mktemp -d)
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *)
      echo "unsupported architecture $(uname -m)" >&2
      return 1
      ;;
  esac
  make_bin_dirs

  local ctd="containerd-${KUBEGCE_CONTAINERD_VERSION}-linux-${arch}.tar.gz"
  fetch_asset "$KUBEGCE_CONTAINERD_URL/v${KUBEGCE_CONTAINERD_VERSION}/$ctd" "$work/$ctd" \
    "$KUBEGCE_CONTAINERD_URL/v${KUBEGCE_CONTAINERD_VERSION}/$ctd.sha256sum"
  tar -C "$work" -xzf "$work/$ctd"
  install -m 0755 "$work"/bin/* "$KUBEGCE_BIN_DIR/"

  fetch_asset "$KUBEGCE_RUNC_URL/v${KUBEGCE_RUNC_VERSION}/runc.${arch}" "$work/runc" \
    "$(runc_sha256 "$arch")"
  install -m 0755 "$work/runc" "$KUBEGCE_BIN_DIR/runc"

  local cni="cni-plugins-linux-${arch}-v${KUBEGCE_CNI_VERSION}.tgz"
  fetch_asset "$KUBEGCE_CNI_URL/v${KUBEGCE_CNI_VERSION}/$cni" "$work/$cni" \
    "$KUBEGCE_CNI_URL/v${KUBEGCE_CNI_VERSION}/$cni.sha256"
  tar -C "$KUBEGCE_CNI_BIN_DIR" -xzf "$work/$cni"

  local bin
  for bin in kubelet kubeadm kubectl; do
    fetch_asset "$KUBEGCE_KUBERNETES_URL/v${KUBEGCE_KUBERNETES_VERSION}/bin/linux/${arch}/$bin" \
      "$work/$bin" "$KUBEGCE_KUBERNETES_URL/v${KUBEGCE_KUBERNETES_VERSION}/bin/linux/${arch}/$bin.sha256"
    install -m 0755 "$work/$bin" "$KUBEGCE_BIN_DIR/$bin"
  done
  rm -rf "$work"
}

runc_sha256() {
  # runc publishes one runc.sha256sum for all architectures; pick our line.
  curl --silent --show-error --fail --location --retry 5 --max-time 60 \
    "$KUBEGCE_RUNC_URL/v${KUBEGCE_RUNC_VERSION}/runc.sha256sum" | awk -v f="runc.$1" '$2 == f {print $1}'
}

containerd_config() {
  # containerd 1.x reads config version 2 (the CRI plugin is io.containerd.grpc.v1.cri); 2.x
  # reads version 3, where the CRI plugin is split into io.containerd.cri.v1.images and
  # io.containerd.cri.v1.runtime (containerd's docs/cri/config.md, v1.7 and v2.2). The sandbox
  # image is the pause image kubeadm expects for this Kubernetes version, from the cluster's registry.
  # A GPU node (lib/gpu.sh) adds the NVIDIA runtime as the default, as `nvidia-ctk runtime configure
  # --runtime=containerd --set-as-default` would, or, where the toolkit is CDI, turns CDI on.
  local cri=io.containerd.grpc.v1.cri
  if [[ "$KUBEGCE_CONTAINERD_CONFIG_VERSION" == 3 ]]; then
    cri=io.containerd.cri.v1.runtime
    cat <<EOF
version = 3
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "$KUBEGCE_SANDBOX_IMAGE"
EOF
    containerd_gpu_config "$cri"
    cat <<EOF
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = true
  BinaryName = "$KUBEGCE_BIN_DIR/runc"
[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["$KUBEGCE_CNI_BIN_DIR"]
EOF
  else
    cat <<EOF
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$KUBEGCE_SANDBOX_IMAGE"
EOF
    containerd_gpu_config "$cri"
    cat <<EOF
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
  BinaryName = "$KUBEGCE_BIN_DIR/runc"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$KUBEGCE_CNI_BIN_DIR"
EOF
  fi
}

containerd_gpu_config() {
  # $1: the CRI runtime plugin's name. Version 2 has its table open already (sandbox_image), so its
  # keys go there; version 3 opens it.
  if [[ "${KUBEGCE_GPU:-0}" != 1 ]]; then return 0; fi
  if [[ "$1" == io.containerd.cri.v1.runtime ]]; then echo "[plugins.\"$1\"]"; fi
  if [[ "$KUBEGCE_GPU_TOOLKIT" == cdi ]]; then
    printf '  enable_cdi = true\n  cdi_spec_dirs = ["/etc/cdi", "/var/run/cdi"]\n'
    return 0
  fi
  cat <<EOF
[plugins."$1".containerd]
  default_runtime_name = "nvidia"
[plugins."$1".containerd.runtimes.nvidia]
  runtime_type = "io.containerd.runc.v2"
[plugins."$1".containerd.runtimes.nvidia.options]
  SystemdCgroup = true
  BinaryName = "$KUBEGCE_GPU_RUNTIME"
EOF
}

configure_services() {
  # Runs on every boot where /etc does not survive (COS); otherwise once. The units follow
  # upstream's: containerd's containerd.service (v1.7 and v2.2: Type=notify, so units ordered
  # after it start once its socket serves) and kubeadm's kubelet.service and 10-kubeadm.conf
  # (kubernetes/release, cmd/krel/templates/latest/kubelet and kubeadm).
  mkdir -p /etc/containerd /etc/systemd/system/kubelet.service.d /etc/kubernetes/manifests
  containerd_config >/etc/containerd/config.toml
  cat >/etc/systemd/system/containerd.service <<EOF
[Unit]
Description=containerd container runtime (installed by kubegce)
Documentation=https://containerd.io
After=network.target network-online.target local-fs.target dbus.service
Wants=network-online.target
[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=$KUBEGCE_BIN_DIR/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=infinity
TasksMax=infinity
OOMScoreAdjust=-999
[Install]
WantedBy=multi-user.target
EOF
  cat >/etc/systemd/system/kubelet.service <<EOF
[Unit]
Description=kubelet: the Kubernetes node agent (installed by kubegce)
Documentation=https://kubernetes.io/docs/
Wants=network-online.target containerd.service
After=network-online.target containerd.service
[Service]
ExecStart=$KUBEGCE_BIN_DIR/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10
[Install]
WantedBy=multi-user.target
EOF
  cat >/etc/systemd/system/kubelet.service.d/10-kubeadm.conf <<EOF
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStart=
ExecStart=$KUBEGCE_BIN_DIR/kubelet \$KUBELET_KUBECONFIG_ARGS \$KUBELET_CONFIG_ARGS \$KUBELET_KUBEADM_ARGS
EOF
  systemctl daemon-reload
  systemctl enable --now containerd
  systemctl enable kubelet
}
