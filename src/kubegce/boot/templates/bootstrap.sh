#!/bin/bash
# shellcheck disable=SC2154  # KUBEGCE_* settings come from the hash-checked node config
# kubegce node bootstrap: takes a node from a fresh GCE image to a joined Kubernetes node.
# Rendered by kubegce; runs from startup-script, user-data (cloud-init) or an Ignition unit.
# It runs to the end once per node config: a lock and a done marker keyed by the config hash
# make a second channel, the every-boot startup-script and reboots harmless; a run that died
# half way resumes at the step that failed.
set -o errexit -o nounset -o pipefail -o errtrace
umask 022

# The line below is replaced by kubegce with the config pointer and its hash (no secrets).
# @@KUBEGCE_HEADER@@
: "${KUBEGCE_CONFIG_SHA256:?rendered header missing}" "${KUBEGCE_CONFIG_SOURCE:?rendered header missing}"

KUBEGCE_METADATA_URL="http://metadata.google.internal/computeMetadata/v1"
KUBEGCE_STATE_DIR="/var/lib/kubegce"
KUBEGCE_LAB_FAIL_AT=""
# The boot lab (and only the lab) points downloads and host changes at stand-ins here.
KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"
if [[ -r "$KUBEGCE_LAB_ENV" ]]; then
  # shellcheck source=/dev/null
  . "$KUBEGCE_LAB_ENV"
fi

BOOT_START=$(date +%s)
CURRENT_STEP="init"
RUN_DIR="$KUBEGCE_STATE_DIR/$KUBEGCE_CONFIG_SHA256"

log() {
  printf 'kubegce-boot: %s\n' "$*"
}

elapsed() {
  echo "$(($(date +%s) - BOOT_START))"
}

metadata_get() {
  # $1: path under computeMetadata/v1
  curl --silent --show-error --fail --max-time 10 --retry 5 --retry-delay 2 \
    -H 'Metadata-Flavor: Google' "$KUBEGCE_METADATA_URL/$1"
}

put_guest_attribute() {
  # $1: key under the kubegce namespace, $2: value
  curl --silent --fail --max-time 5 -X PUT -H 'Metadata-Flavor: Google' \
    --data-binary "$2" "$KUBEGCE_METADATA_URL/instance/guest-attributes/kubegce/$1" >/dev/null 2>&1 ||
    log "note: could not write guest attribute kubegce/$1 (is enable-guest-attributes set?)"
}

report_phase() {
  # $1: started|prepared|installed|joined|failed|done, $2: optional error text
  local phase=$1 error=${2:-}
  if [[ -n "$error" ]]; then
    log "phase=$phase elapsed=$(elapsed)s step=$CURRENT_STEP error=$error"
    put_guest_attribute error "$CURRENT_STEP: $error"
    touch "$RUN_DIR/error-reported" 2>/dev/null || true
  elif [[ "$phase" == joined && -e "$RUN_DIR/error-reported" ]]; then
    log "phase=$phase elapsed=$(elapsed)s (recovered from an earlier failure)"
    put_guest_attribute error ""
    rm -f "$RUN_DIR/error-reported"
  else
    log "phase=$phase elapsed=$(elapsed)s"
  fi
  put_guest_attribute phase "$phase"
}

on_error() {
  local code=$? line=$1 command=$2
  trap - ERR
  report_phase failed "exit $code at line $line: $command"
  exit "$code"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

step() {
  # Run function $1 unless its marker says it finished for this config.
  local name=$1
  CURRENT_STEP=$name
  if [[ -e "$RUN_DIR/$name.done" ]]; then
    log "step=$name already done"
    return 0
  fi
  log "step=$name"
  if [[ "$KUBEGCE_LAB_FAIL_AT" == "$name" ]]; then
    echo "injected failure at $name" >&2
    false
  fi
  "$name"
  touch "$RUN_DIR/$name.done"
}

# ---------------------------------------------------------------- config and distro
service_account_token() {
  metadata_get "instance/service-accounts/default/token" | sed -E 's/.*"access_token" *: *"([^"]+)".*/\1/'
}

fetch_config() {
  # From instance metadata, or from the state bucket with the instance's service-account token;
  # either way only a config whose sha256 matches the header is used.
  local tmp got
  tmp=$(mktemp)
  case "$KUBEGCE_CONFIG_SOURCE" in
    metadata:*) metadata_get "instance/attributes/${KUBEGCE_CONFIG_SOURCE#metadata:}" >"$tmp" ;;
    *)
      curl --silent --show-error --fail --retry 5 --retry-delay 2 --max-time 60 \
        -H "Authorization: Bearer $(service_account_token)" -o "$tmp" "$KUBEGCE_CONFIG_SOURCE"
      ;;
  esac
  got=$(sha256sum "$tmp" | cut -d' ' -f1)
  if [[ "$got" != "$KUBEGCE_CONFIG_SHA256" ]]; then
    rm -f "$tmp"
    echo "node config from $KUBEGCE_CONFIG_SOURCE has sha256 $got, expected $KUBEGCE_CONFIG_SHA256; refusing it" >&2
    return 1
  fi
  install -m 0600 "$tmp" "$RUN_DIR/node-config.env"
  rm -f "$tmp"
}

load_config() {
  # The config file holds only KEY='value' lines written with shell quoting by kubegce,
  # and its hash was checked above.
  # shellcheck source=/dev/null
  . "$RUN_DIR/node-config.env"
}

detect_distro() {
  local id="" version_id="" id_like="" variant_id=""
  if [[ -r /etc/os-release ]]; then
    # shellcheck source=/dev/null
    id=$(. /etc/os-release && echo "${ID:-}")
    # shellcheck source=/dev/null
    version_id=$(. /etc/os-release && echo "${VERSION_ID:-}")
    # shellcheck source=/dev/null
    id_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
    # shellcheck source=/dev/null
    variant_id=$(. /etc/os-release && echo "${VARIANT_ID:-}")
  fi
  DISTRO_ID=$id
  DISTRO_VERSION=$version_id
  case "$id" in
    ubuntu | debian) PKG=apt ;;
    rhel | rocky | centos | almalinux | fedora | ol)
      PKG=dnf
      if [[ "$id" == fedora && "$variant_id" == coreos ]]; then PKG=none; fi
      ;;
    sles | sled | opensuse-leap | opensuse-tumbleweed) PKG=zypper ;;
    cos) PKG=none ;;
    *)
      case " $id_like " in
        *" debian "*) PKG=apt ;;
        *" rhel "* | *" fedora "*) PKG=dnf ;;
        *" suse "*) PKG=zypper ;;
        *)
          echo "unsupported distro: ID=${id:-none} VERSION_ID=${version_id:-none} ID_LIKE=${id_like:-none}" >&2
          return 1
          ;;
      esac
      ;;
  esac
  log "distro=$DISTRO_ID version=$DISTRO_VERSION package-manager=$PKG"
}

install_packages() {
  case "$PKG" in
    apt)
      DEBIAN_FRONTEND=noninteractive apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
      ;;
    dnf) dnf install -y -q "$@" ;;
    zypper) zypper --non-interactive install --no-recommends "$@" ;;
    none)
      echo "cannot install $* on $DISTRO_ID (no package manager)" >&2
      return 1
      ;;
  esac
}

# ---------------------------------------------------------------- prepare the host
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
  case "$PKG" in
    apt) install_packages conntrack socat ebtables iptables ca-certificates curl ;;
    dnf) install_packages conntrack-tools socat iptables ca-certificates curl tar ;;
    zypper) install_packages conntrack-tools socat iptables ca-certificates curl tar ;;
    none) log "read-only root: using the image's own conntrack and iptables" ;;
  esac
}

# ---------------------------------------------------------------- install binaries
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

configure_services() {
  # Runs on every boot where /etc does not survive (COS); otherwise once.
  mkdir -p /etc/containerd /etc/systemd/system/kubelet.service.d /etc/kubernetes/manifests
  cat >/etc/containerd/config.toml <<EOF
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
  BinaryName = "$KUBEGCE_BIN_DIR/runc"
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$KUBEGCE_CNI_BIN_DIR"
EOF
  cat >/etc/systemd/system/containerd.service <<EOF
[Unit]
Description=containerd (installed by kubegce)
After=network-online.target
[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=$KUBEGCE_BIN_DIR/containerd
Delegate=yes
KillMode=process
Restart=always
LimitNOFILE=infinity
[Install]
WantedBy=multi-user.target
EOF
  cat >/etc/systemd/system/kubelet.service <<EOF
[Unit]
Description=kubelet (installed by kubegce)
After=containerd.service
[Service]
ExecStart=$KUBEGCE_BIN_DIR/kubelet
Restart=always
RestartSec=5
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

# ---------------------------------------------------------------- join
fetch_secrets() {
  # Secrets never travel in metadata: they come from the state store with the instance's
  # service-account token.
  if [[ -z "$KUBEGCE_SECRETS_URL" ]]; then
    echo "no secrets source: this cluster's state store cannot be read by nodes (file:// store); use a gs:// state store" >&2
    return 1
  fi
  mkdir -p /etc/kubegce
  curl --silent --show-error --fail --retry 5 --max-time 60 -H "Authorization: Bearer $(service_account_token)" \
    -o /etc/kubegce/secrets.tar "$KUBEGCE_SECRETS_URL"
  chmod 0600 /etc/kubegce/secrets.tar
  tar -C / -xf /etc/kubegce/secrets.tar
}

# ---------------------------------------------------------------- API address discovery
set_api_host() {
  # $1: IP of the API endpoint name. Our own line in /etc/hosts, replaced, nothing else touched.
  local hosts=/etc/hosts tmp
  tmp=$(mktemp)
  grep -v ' # kubegce-api$' "$hosts" >"$tmp" || true
  printf '%s %s # kubegce-api\n' "$1" "$KUBEGCE_API_ENDPOINT" >>"$tmp"
  cat "$tmp" >"$hosts"
  rm -f "$tmp"
  echo "$1" >"$RUN_DIR/api-address"
}

discover_api_address() {
  # Wait until the first control plane (or kubegce, for a load-balanced API) has published the
  # API address in the state bucket.
  local address="" deadline=$((SECONDS + ${KUBEGCE_DISCOVERY_TIMEOUT:-1200}))
  while ((SECONDS < deadline)); do
    address=$(curl --silent --fail --max-time 10 -H "Authorization: Bearer $(service_account_token)" \
      "$KUBEGCE_DISCOVERY_URL" 2>/dev/null || true)
    if [[ "$address" =~ ^[0-9a-fA-F.:]+$ ]]; then
      set_api_host "$address"
      log "api-address=$address"
      return 0
    fi
    sleep "${KUBEGCE_DISCOVERY_INTERVAL:-10}"
  done
  echo "no API address was published at $KUBEGCE_DISCOVERY_URL" >&2
  return 1
}

publish_api_address() {
  # The first control plane of a cluster without a load balancer announces its own address.
  local address
  address=$(metadata_get "instance/network-interfaces/0/ip")
  set_api_host "$address"
  if [[ -n "$KUBEGCE_DISCOVERY_UPLOAD_URL" ]]; then
    curl --silent --show-error --fail --retry 5 --max-time 30 -X POST \
      -H "Authorization: Bearer $(service_account_token)" -H 'Content-Type: text/plain' \
      --data-binary "$address" "$KUBEGCE_DISCOVERY_UPLOAD_URL" >/dev/null
  fi
  log "api-address=$address published"
}

api_answers() {
  # $1: how many retries. Any answer from the API endpoint's /healthz counts.
  curl --silent --insecure --max-time 5 --retry "$1" --retry-delay 10 --retry-all-errors \
    "https://$KUBEGCE_API_ENDPOINT:443/healthz" >/dev/null 2>&1
}

elect_first_control_plane() {
  # HA: exactly one control plane runs `kubeadm init`. It is the one whose create-only write
  # (ifGenerationMatch=0) of the election object in the state bucket succeeds; the object holds
  # its instance name, so a rerun on the winner (after a failed init) knows it won. A winner whose
  # disk was recreated finds the API already answering and joins instead.
  local me code holder deadline=$((SECONDS + ${KUBEGCE_ELECTION_TIMEOUT:-600}))
  if [[ -z "$KUBEGCE_ELECTION_UPLOAD_URL" ]]; then
    log "init-election=none (no state bucket): the first control plane is the one that finds no API"
    if api_answers 6; then KUBEGCE_FIRST_CONTROL_PLANE=0; else KUBEGCE_FIRST_CONTROL_PLANE=1; fi
    return 0
  fi
  me=$(metadata_get "instance/name")
  while ((SECONDS < deadline)); do
    # A multipart upload: its ifGenerationMatch=0 is honoured by GCS and by fake-gcs-server alike.
    code=$(printf -- '--kubegce\r\nContent-Type: application/json\r\n\r\n{}\r\n--kubegce\r\nContent-Type: text/plain\r\n\r\n%s\r\n--kubegce--\r\n' "$me" |
      curl --silent --output /dev/null --write-out '%{http_code}' --max-time 30 -X POST \
        -H "Authorization: Bearer $(service_account_token)" \
        -H 'Content-Type: multipart/related; boundary=kubegce' \
        --data-binary @- "$KUBEGCE_ELECTION_UPLOAD_URL" || true)
    if [[ "$code" == 200 ]]; then
      KUBEGCE_FIRST_CONTROL_PLANE=1
      log "init-election=won holder=$me"
      return 0
    elif [[ "$code" == 412 ]]; then
      holder=$(curl --silent --fail --max-time 10 -H "Authorization: Bearer $(service_account_token)" \
        "$KUBEGCE_ELECTION_URL" 2>/dev/null || true)
      if [[ "$holder" == "$me" ]] && ! api_answers 0; then
        KUBEGCE_FIRST_CONTROL_PLANE=1
        log "init-election=won holder=$me (earlier run)"
        return 0
      elif [[ -n "$holder" ]]; then
        KUBEGCE_FIRST_CONTROL_PLANE=0
        log "init-election=lost holder=$holder"
        return 0
      fi
    fi
    log "init-election: state bucket answered ${code:-nothing}; retrying"
    sleep "${KUBEGCE_ELECTION_INTERVAL:-5}"
  done
  echo "could not write or read the election object at $KUBEGCE_ELECTION_URL" >&2
  return 1
}

write_kubeadm_config() {
  # kubeadm takes no --certificate-key beside --config: a control plane's rendered config holds a
  # placeholder where the key from its secrets bundle goes, written here into a 0600 file.
  local rendered key=""
  rendered=$(printf '%s' "$KUBEGCE_KUBEADM_CONFIG_B64" | base64 -d)
  if [[ "$rendered" == *@KUBEGCE_CERTIFICATE_KEY@* ]]; then
    if [[ -r /etc/kubegce/certificate-key ]]; then key=$(</etc/kubegce/certificate-key); fi
    if [[ ! "$key" =~ ^[0-9a-f]{64}$ ]]; then
      echo "no certificate key in this control plane's secrets bundle (/etc/kubegce/certificate-key)" >&2
      return 1
    fi
    rendered=${rendered//@KUBEGCE_CERTIFICATE_KEY@/$key}
  fi
  install -m 0600 /dev/null /etc/kubegce/kubeadm.yaml
  printf '%s\n' "$rendered" >/etc/kubegce/kubeadm.yaml
}

kubeadm_join() {
  mkdir -p /etc/kubegce
  if [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == 1 && "$KUBEGCE_API_LOAD_BALANCED" == 0 ]]; then
    publish_api_address
  elif [[ -n "$KUBEGCE_DISCOVERY_URL" ]]; then
    discover_api_address
  fi
  write_kubeadm_config
  export PATH="$KUBEGCE_BIN_DIR:$PATH"
  if [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == auto ]]; then
    elect_first_control_plane
    echo "$KUBEGCE_FIRST_CONTROL_PLANE" >"$RUN_DIR/first-control-plane"
  fi
  # The control-plane bundle from the state store holds the join token and the certificate key:
  # the key is in the 0600 kubeadm.yaml (a control plane's join finds it there too), the token
  # an argument; neither is in anything kubegce rendered nor on the console.
  if [[ "$KUBEGCE_ROLE" == control-plane && "$KUBEGCE_FIRST_CONTROL_PLANE" == 1 ]]; then
    kubeadm init --config /etc/kubegce/kubeadm.yaml --upload-certs --skip-token-print --skip-certificate-key-print
    kubeadm token create "$(</etc/kubegce/join-token)" --ttl 24h --kubeconfig /etc/kubernetes/admin.conf ||
      log "join token already present"
  else
    kubeadm join --config /etc/kubegce/kubeadm.yaml
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
  fetch_asset "$KUBEGCE_NETWORK_MANIFEST_URL" "$manifest" "$KUBEGCE_NETWORK_MANIFEST_SHA256"
  if [[ "$KUBEGCE_CNI_BIN_DIR" != /opt/cni/bin ]]; then
    # The cluster's CNI plugin dir is not /opt/cni/bin (a COS image's /opt is read-only): the
    # network DaemonSet installs its plugins by hostPath where containerd looks for them.
    sed -i -E "s@^([[:space:]]*path:[[:space:]]*)/opt/cni/bin/?[[:space:]]*\$@\1$KUBEGCE_CNI_BIN_DIR@" "$manifest"
    log "network manifest: CNI plugin hostPath /opt/cni/bin -> $KUBEGCE_CNI_BIN_DIR"
  fi
  "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf apply -f "$manifest"
  if [[ "$KUBEGCE_CLOUD_CONTROLLER_MANAGER" == 1 ]]; then
    fetch_asset "$KUBEGCE_CCM_MANIFEST_URL" "$manifest" "$KUBEGCE_CCM_MANIFEST_SHA256"
    "$KUBEGCE_BIN_DIR/kubectl" --kubeconfig /etc/kubernetes/admin.conf apply -f "$manifest"
  fi
  rm -f "$manifest"
}

# ---------------------------------------------------------------- user extras
run_user_parts() {
  local i
  mkdir -p "$RUN_DIR/parts"
  for i in "${!KUBEGCE_USER_PART_NAMES[@]}"; do
    local file="$RUN_DIR/parts/$i"
    if [[ -e "$file.done" ]]; then continue; fi
    printf '%s' "${KUBEGCE_USER_PART_B64[$i]}" | base64 -d >"$file"
    chmod 0700 "$file"
    log "user-part=$i name=${KUBEGCE_USER_PART_NAMES[$i]@Q}"
    "$file"
    touch "$file.done"
  done
}

install_cloud_init() {
  if ! command -v cloud-init >/dev/null 2>&1; then
    install_packages cloud-init
  fi
  # Run the stages now, on this boot; cloud-init's per-instance records keep the next boots
  # from repeating them.
  cloud-init init --local
  cloud-init init
  cloud-init modules --mode=config
  cloud-init modules --mode=final
}

# ---------------------------------------------------------------- main
record_invocation() {
  # One line per time a channel started the bootstrap: $1 channel, $2 run|already-done.
  echo "$(date -u +%FT%TZ) pid=$$ channel=${1:-unknown} result=$2 config=$KUBEGCE_CONFIG_SHA256" \
    >>"$KUBEGCE_STATE_DIR/invocations.log"
}

install_resume_hook() {
  # cloud-init runs user-data once per instance; a per-boot copy lets a run that failed resume on
  # the next boot (it exits at once when it finds its done marker). Not needed where the guest
  # agent runs our startup-script on every boot anyway.
  local hook=/var/lib/cloud/scripts/per-boot/kubegce-bootstrap.sh
  if [[ "$KUBEGCE_CHANNEL" != user-data || ! -d "${hook%/*}" || ! -r "${BASH_SOURCE[0]}" ]]; then
    return 0
  fi
  if [[ "$KUBEGCE_PLAN_CHANNEL" != user-data ]] && command -v google_metadata_script_runner >/dev/null 2>&1; then
    return 0
  fi
  if [[ ! "${BASH_SOURCE[0]}" -ef "$hook" ]]; then
    install -m 0700 "${BASH_SOURCE[0]}" "$hook"
  fi
}

reapply_volatile_etc() {
  # A boot whose /etc is fresh (COS): put back what the steps finished on earlier boots left
  # there (all of them once the node is initialized), and the exec mount of the bin dir.
  keep_etc_dirs
  if [[ -e "$RUN_DIR/prepare_host.done" ]]; then configure_kernel; fi
  if [[ -e "$RUN_DIR/install_binaries.done" ]]; then make_bin_dirs; fi
  if [[ -e "$RUN_DIR/configure_services.done" ]]; then configure_services; fi
  if [[ -r "$RUN_DIR/api-address" ]]; then set_api_host "$(<"$RUN_DIR/api-address")"; fi
}

main() {
  mkdir -p "$KUBEGCE_STATE_DIR"
  exec 9>"$KUBEGCE_STATE_DIR/boot.lock"
  if ! flock -n 9; then
    log "another bootstrap run holds the lock; waiting for it"
    flock 9
  fi
  if [[ -e "$KUBEGCE_STATE_DIR/done-$KUBEGCE_CONFIG_SHA256" ]]; then
    record_invocation "$1" already-done
    log "phase=done config=$KUBEGCE_CONFIG_SHA256 already initialized; nothing to do"
    if [[ -e "$RUN_DIR/volatile-etc" ]]; then
      CURRENT_STEP=reapply_volatile_etc
      load_config
      reapply_volatile_etc
      log "volatile /etc: kernel settings, services, /etc/kubernetes and the API address re-applied"
    fi
    return 0
  fi
  mkdir -p "$RUN_DIR"
  record_invocation "$1" run
  report_phase started
  step fetch_config
  load_config
  install_resume_hook
  CURRENT_STEP=detect_distro
  detect_distro
  if [[ "$KUBEGCE_VOLATILE_ETC" == 1 ]]; then
    touch "$RUN_DIR/volatile-etc"
    reapply_volatile_etc  # a resumed run: what earlier boots' finished steps left in /etc
  fi
  step prepare_host
  report_phase prepared
  step install_binaries
  step configure_services
  report_phase installed
  step fetch_secrets
  step kubeadm_join
  step install_addons
  report_phase joined
  step run_user_parts
  if [[ "$KUBEGCE_INSTALL_CLOUD_INIT" == 1 ]]; then
    step install_cloud_init
  fi
  touch "$KUBEGCE_STATE_DIR/done-$KUBEGCE_CONFIG_SHA256"
  log "done elapsed=$(elapsed)s config=$KUBEGCE_CONFIG_SHA256"
}

main "${KUBEGCE_CHANNEL:-}"
