# shellcheck shell=bash
# A GPU node's NVIDIA driver and container toolkit, the way the image's GPU profile says
# (images/catalog.yaml gpu_profiles, rendered by boot/gpu.py into KUBEGCE_GPU_*; docs/gpus.md). The
# profile's method picks the installer, its data the packages: no distribution is named here. The
# gpu guest attribute carries the driver's phase: installing, ready VERSION, or CAUSE: why; a failed
# install stops the bootstrap with that cause (a GPU node without its driver would join and idle).

gpu_fail() {
  # $1: a GPU cause of kubegce.boot.protocol, $2: why
  put_guest_attribute "$KUBEGCE_ATTR_GPU" "$1: $2"
  fail "$1: $2"
}

gpu_words() {
  # The catalog's words with the node's facts in place: @KERNEL@ (the running kernel), @MAJOR@
  # (the release's major version), @ARCH@ (NVIDIA's repository name of the machine), @DEBARCH@,
  # @FLAVOUR@ (the kernel's flavour, whose meta packages follow kernel updates: 6.8.0-1015-gcp: gcp,
  # 6.1.0-18-cloud-amd64: cloud-amd64).
  local word kernel major arch debarch
  kernel=$(uname -r)
  major=${DISTRO_VERSION%%.*}
  arch=$(uname -m)
  case "$arch" in
    x86_64) debarch=amd64 ;;
    aarch64) debarch=arm64 arch=sbsa ;;
    *) debarch=$arch ;;
  esac
  for word in "$@"; do
    word=${word//@KERNEL@/$kernel}
    word=${word//@MAJOR@/$major}
    word=${word//@ARCH@/$arch}
    word=${word//@FLAVOUR@/${kernel#*-*-}}
    printf '%s\n' "${word//@DEBARCH@/$debarch}"
  done
}

nvidia_pci_devices() {
  # How many NVIDIA GPUs the PCI bus shows (vendor 0x10de, class 0x03: display or 3D controller).
  local dev count=0 vendor class
  for dev in /sys/bus/pci/devices/*; do
    [[ -r "$dev/vendor" && -r "$dev/class" ]] || continue
    vendor=$(<"$dev/vendor")
    class=$(<"$dev/class")
    if [[ "$vendor" == 0x10de && "$class" == 0x03* ]]; then count=$((count + 1)); fi
  done
  echo "$count"
}

secure_boot_on() {
  # UEFI's SecureBoot variable: four attribute bytes, then 1 when secure boot is on.
  local var=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  [[ -r "$var" && "$(od -An -t u1 -j 4 -N 1 "$var" | tr -d ' ')" == 1 ]]
}

gpu_package_available() {
  case "$PKG" in
    apt) apt-cache show "$1" >/dev/null 2>&1 ;;
    dnf) dnf list -q --available "$1" >/dev/null 2>&1 || rpm -q "$1" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

apt_add_components() {
  # Components (contrib, non-free ...) added to the Debian archive's entries of the image's sources,
  # deb822 (a stanza whose URIs are the archive) or one-line (a line naming it), each entry on its
  # own; other repositories (Google's) are left as they are. awk gets the names as data.
  local file tmp
  for file in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [[ -w "$file" ]] || continue
    tmp=$(mktemp)
    awk -v want="$*" '
      function add(line,   n, i, c, have) {
        n = split(want, c, " ")
        for (i = 1; i <= n; i++) { have = " " line " "; if (index(have, " " c[i] " ") == 0) line = line " " c[i] }
        return line
      }
      /^[[:space:]]*$/ { archive = 0; print; next }
      /^URIs:/ { archive = ($0 ~ /debian\.org\/debian/) }
      /^Components:/ && archive { print add($0); next }
      /^deb[[:space:]]/ && /debian\.org\/debian/ && !/^deb[[:space:]].*#/ { print add($0); next }
      { print }
    ' "$file" >"$tmp"
    cat "$tmp" >"$file"
    rm -f "$tmp"
  done
}

gpu_add_repos() {
  local repo name
  local -a repos
  mapfile -t repos < <(gpu_words "${KUBEGCE_GPU_REPOS[@]}")
  for repo in "${repos[@]}"; do
    case "$PKG:$repo" in
      apt:+*) apt_add_components "${repo#+}" || return 1 ;;
      apt:https://*)
        if ! grep -qxF "deb $repo" /etc/apt/sources.list.d/kubegce-gpu.list 2>/dev/null; then
          echo "deb $repo" >>/etc/apt/sources.list.d/kubegce-gpu.list || return 1
        fi
        ;;
      dnf:*.rpm) dnf install -y -q "$repo" || return 1 ;;
      dnf:*.repo)
        name=${repo##*/}
        curl --silent --show-error --fail --location --retry 5 --max-time 60 -o "/etc/yum.repos.d/$name" "$repo" ||
          return 1
        ;;
    esac
  done
}

gpu_install_packages() {
  # The profile's headers, then its driver; a package named for the running kernel that the
  # repositories do not have is the kernel-headers cause (no headers or prebuilt modules for it).
  local pkg
  local -a headers driver
  mapfile -t headers < <(gpu_words "${KUBEGCE_GPU_HEADER_PACKAGES[@]}")
  mapfile -t driver < <(gpu_words "${KUBEGCE_GPU_DRIVER_PACKAGES[@]}")
  if ! gpu_add_repos; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_DRIVER_INSTALL" "could not add the driver's package repositories (${KUBEGCE_GPU_REPOS[*]})"
  fi
  if [[ "$PKG" == apt ]]; then DEBIAN_FRONTEND=noninteractive apt-get update -q; fi
  for pkg in "${headers[@]}" "${driver[@]}"; do
    if [[ "$pkg" == *"$(uname -r)"* ]] && ! gpu_package_available "$pkg"; then
      gpu_fail "$KUBEGCE_CAUSE_GPU_KERNEL_HEADERS" "no $pkg for the running kernel $(uname -r) in the image's repositories; boot a newer image of the family (the archive has the headers or modules for its kernel)"
    fi
  done
  if ((${#headers[@]} > 0)) && ! install_packages "${headers[@]}"; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_KERNEL_HEADERS" "could not install ${headers[*]} for the running kernel $(uname -r)"
  fi
  if ! install_packages "${driver[@]}"; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_DRIVER_INSTALL" "could not install ${driver[*]} (profile $KUBEGCE_GPU_PROFILE)"
  fi
  if [[ -n "$KUBEGCE_GPU_LOCK" ]]; then
    # keep later dnf updates on the version (NVIDIA's driver guide, "Version locking")
    if ! { install_packages python3-dnf-plugin-versionlock && dnf versionlock add "$KUBEGCE_GPU_LOCK"; }; then
      warn "gpu: could not versionlock $KUBEGCE_GPU_LOCK; a later dnf update may change the driver"
    fi
  fi
}

gpu_install_cos() {
  # COS's prebuilt, signed driver for the image's milestone, into /var/lib/nvidia; its files
  # must be executable there (COS mounts /var noexec).
  if ! cos-extensions install gpu -- "${KUBEGCE_GPU_DRIVER_PACKAGES[@]}"; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_DRIVER_INSTALL" "cos-extensions install gpu ${KUBEGCE_GPU_DRIVER_PACKAGES[*]} failed (is that version built for this COS milestone? \`cos-extensions list\` on the node)"
  fi
  gpu_exec_mount
}

gpu_exec_mount() {
  if ! mountpoint -q "$KUBEGCE_GPU_DRIVER_ROOT"; then
    mount --bind "$KUBEGCE_GPU_DRIVER_ROOT" "$KUBEGCE_GPU_DRIVER_ROOT"
  fi
  mount -o remount,exec "$KUBEGCE_GPU_DRIVER_ROOT"
}

reload_gpu_driver() {
  # A reboot of an image whose driver does not come back by itself (COS: the modules are loaded by
  # the installer): run it again, from its cache.
  if [[ "${KUBEGCE_GPU:-0}" == 1 && "$KUBEGCE_GPU_METHOD" == cos-extensions ]]; then
    if ! cos-extensions install gpu -- "${KUBEGCE_GPU_DRIVER_PACKAGES[@]}"; then
      # the gpu attribute still says ready from the first boot: say why the driver is not back
      gpu_fail "$KUBEGCE_CAUSE_GPU_DRIVER_INSTALL" "after a reboot, cos-extensions install gpu -- ${KUBEGCE_GPU_DRIVER_PACKAGES[*]} failed"
    fi
    gpu_exec_mount
  fi
}

gpu_smi() {
  # nvidia-smi's driver version, one line per GPU (its error output on failure)
  local smi
  smi=$(command -v nvidia-smi || echo "${KUBEGCE_GPU_DRIVER_ROOT%/}/bin/nvidia-smi")
  "$smi" --query-gpu=driver_version --format=csv,noheader 2>&1
}

check_gpu_driver() {
  # Every later boot of an initialized GPU node: the driver still answers (a kernel update whose
  # modules did not come with it leaves it out). The gpu attribute says which; the node stays joined.
  local out
  if out=$(gpu_smi); then
    put_guest_attribute "$KUBEGCE_ATTR_GPU" "$KUBEGCE_GPU_STATE_READY ${out%%$'\n'*}"
  else
    put_guest_attribute "$KUBEGCE_ATTR_GPU" "$KUBEGCE_CAUSE_GPU_DRIVER_LOAD: after a reboot (kernel $(uname -r)): ${out##*$'\n'}"
    warn "gpu: the NVIDIA driver does not answer after this boot (kernel $(uname -r)); the node has no usable GPU"
  fi
}

gpu_unload_nouveau() {
  # The kernel's own nouveau driver binds NVIDIA GPUs at boot (the RHEL family builds it into the
  # initramfs), and NVIDIA's modules cannot load beside it: blacklist it, rebuild the initramfs and
  # boot again; the bootstrap resumes at this step on the next boot (startup-script, or the
  # per-boot hook under cloud-init).
  if [[ ! -d /sys/module/nouveau ]]; then return 0; fi
  if [[ -e "$RUN_DIR/nouveau-blacklisted" ]]; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_DRIVER_LOAD" "nouveau is still loaded after the reboot that blacklisted it (/etc/modprobe.d/kubegce-nouveau.conf)"
  fi
  printf 'blacklist nouveau\noptions nouveau modeset=0\n' >/etc/modprobe.d/kubegce-nouveau.conf
  if command -v dracut >/dev/null 2>&1; then
    dracut --force
  elif command -v update-initramfs >/dev/null 2>&1; then
    update-initramfs -u
  else
    warn "gpu: no dracut or update-initramfs to rebuild the initramfs without nouveau; rebooting with the blacklist only"
  fi
  touch "$RUN_DIR/nouveau-blacklisted"
  put_guest_attribute "$KUBEGCE_ATTR_GPU" "$KUBEGCE_GPU_STATE_INSTALLING ${KUBEGCE_GPU_DRIVER_VERSION:-image} (rebooting: nouveau blacklisted)"
  log "gpu: nouveau holds the GPUs; blacklisted it and rebuilt the initramfs; rebooting"
  systemctl reboot
  exit 0
}

gpu_check_driver() {
  # The driver talks to the GPUs: nvidia-smi answers with its version, one line per GPU.
  local out version
  if ! out=$(gpu_smi) || [[ -z "${out//[[:space:]]/}" ]]; then
    if secure_boot_on; then
      # a signed profile's modules the kernel still refused (a key the firmware does not hold)
      gpu_fail "$KUBEGCE_CAUSE_GPU_SECURE_BOOT" "secure boot is on and the NVIDIA modules did not load: ${out##*$'\n'}"
    fi
    gpu_fail "$KUBEGCE_CAUSE_GPU_DRIVER_LOAD" "nvidia-smi cannot reach the GPUs: ${out##*$'\n'}"
  fi
  version=${out%%$'\n'*}
  if [[ -n "$KUBEGCE_GPU_DRIVER_VERSION" && "$version" != "$KUBEGCE_GPU_DRIVER_VERSION" && "$version" != "$KUBEGCE_GPU_DRIVER_VERSION".* ]]; then
    warn "gpu: driver $version is loaded, spec.gpu.driverVersion asks for $KUBEGCE_GPU_DRIVER_VERSION"
  fi
  log "gpu: driver $version ready ($KUBEGCE_GPU_COUNT $KUBEGCE_GPU_MODEL)"
  put_guest_attribute "$KUBEGCE_ATTR_GPU" "$KUBEGCE_GPU_STATE_READY $version"
}

install_gpu_driver() {
  local found
  if [[ "${KUBEGCE_GPU:-0}" != 1 ]]; then return 0; fi
  put_guest_attribute "$KUBEGCE_ATTR_GPU" "$KUBEGCE_GPU_STATE_INSTALLING ${KUBEGCE_GPU_DRIVER_VERSION:-image}"
  found=$(nvidia_pci_devices)
  if ((found == 0)); then
    gpu_fail "$KUBEGCE_CAUSE_GPU_NO_DEVICE" "no NVIDIA PCI device (vendor 0x10de): the instance has no GPU attached, its template asks for $KUBEGCE_GPU_COUNT $KUBEGCE_GPU_MODEL"
  fi
  if ((found != KUBEGCE_GPU_COUNT)); then
    warn "gpu: $found NVIDIA devices on the PCI bus, the group asks for $KUBEGCE_GPU_COUNT $KUBEGCE_GPU_MODEL"
  fi
  if [[ "$KUBEGCE_GPU_SECURE_BOOT_OK" != 1 ]] && secure_boot_on; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_SECURE_BOOT" "secure boot is on, and this image's NVIDIA modules (profile ${KUBEGCE_GPU_PROFILE:-none}) are unsigned DKMS builds the kernel will refuse: turn secure boot off for the group's VMs, or use an image with signed modules (Ubuntu, COS)"
  fi
  log "gpu: $found NVIDIA device(s); driver method=$KUBEGCE_GPU_METHOD version=${KUBEGCE_GPU_DRIVER_VERSION:-image} modules=${KUBEGCE_GPU_MODULES:-}"
  case "$KUBEGCE_GPU_METHOD" in
    cos-extensions) gpu_install_cos ;;
    apt | dnf-nvidia)
      gpu_unload_nouveau
      gpu_install_packages
      ;;
    image) log "gpu: the image brings its NVIDIA driver (the catalog cannot place it)" ;;
  esac
  gpu_check_driver
}

install_gpu_toolkit() {
  # The NVIDIA container toolkit (its nvidia runtime is containerd's default on GPU nodes,
  # lib/binaries.sh); a cdi profile installs nothing: the device plugin writes CDI specs.
  local key=/etc/apt/keyrings/nvidia-container-toolkit.asc source
  if [[ "${KUBEGCE_GPU:-0}" != 1 || "$KUBEGCE_GPU_TOOLKIT" != packages ]]; then return 0; fi
  if [[ -x "$KUBEGCE_GPU_RUNTIME" ]]; then
    log "gpu: the NVIDIA container toolkit is in the image"
    gpu_harden_toolkit
    return 0
  fi
  case "$PKG" in
    apt)
      source=$(gpu_words "$KUBEGCE_GPU_TOOLKIT_APT_SOURCE")
      mkdir -p /etc/apt/keyrings
      if ! curl --silent --show-error --fail --location --retry 5 --max-time 60 -o "$key" "$KUBEGCE_GPU_TOOLKIT_APT_KEY"; then
        gpu_fail "$KUBEGCE_CAUSE_GPU_TOOLKIT" "could not fetch the toolkit repository's key $KUBEGCE_GPU_TOOLKIT_APT_KEY"
      fi
      echo "deb [signed-by=$key] $source" >/etc/apt/sources.list.d/nvidia-container-toolkit.list
      ;;
    dnf)
      if ! curl --silent --show-error --fail --location --retry 5 --max-time 60 \
        -o /etc/yum.repos.d/nvidia-container-toolkit.repo "$KUBEGCE_GPU_TOOLKIT_DNF_REPO"; then
        gpu_fail "$KUBEGCE_CAUSE_GPU_TOOLKIT" "could not fetch the toolkit repository $KUBEGCE_GPU_TOOLKIT_DNF_REPO"
      fi
      ;;
    *) gpu_fail "$KUBEGCE_CAUSE_GPU_TOOLKIT" "no NVIDIA container toolkit for package manager $PKG: install it in the image" ;;
  esac
  if ! install_packages "${KUBEGCE_GPU_TOOLKIT_PACKAGES[@]}"; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_TOOLKIT" "could not install ${KUBEGCE_GPU_TOOLKIT_PACKAGES[*]}"
  fi
  gpu_harden_toolkit
  log "gpu: NVIDIA container toolkit installed; containerd's default runtime is $KUBEGCE_GPU_RUNTIME"
}

gpu_harden_toolkit() {
  # The nvidia runtime is the default on this node: only devices the device plugin allocated (as
  # volume mounts) reach a container, never NVIDIA_VISIBLE_DEVICES from an unprivileged pod's image
  # (NVIDIA's documented hardening; the device plugin runs with DEVICE_LIST_STRATEGY=volume-mounts).
  if ! nvidia-ctk config --in-place --set accept-nvidia-visible-devices-as-volume-mounts=true \
    --set accept-nvidia-visible-devices-envvar-when-unprivileged=false; then
    gpu_fail "$KUBEGCE_CAUSE_GPU_TOOLKIT" "nvidia-ctk could not set the runtime to take devices as volume mounts only"
  fi
}
