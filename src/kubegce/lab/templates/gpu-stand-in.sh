#!/bin/sh
# Boot-lab GPU stand-in (installed as cos-extensions, nvidia-smi, nvidia-ctk, apt-cache, rpm, curl): records
# the call, then answers as the real tool would on a VM with the lab's fake NVIDIA PCI devices.
#   cos-extensions install gpu ...  "loads" COS's driver for this boot (/run) into /var/lib/nvidia;
#                                   fails when lab.env's KUBEGCE_LAB_FAIL_PACKAGES names gpu
#   nvidia-smi                      the driver's version per GPU once a driver is installed (the
#                                   package stand-in's marker) or loaded (cos-extensions), else NVIDIA's error
#   apt-cache show / rpm -q         a package is available unless lab.env's KUBEGCE_LAB_MISSING_PACKAGES names it
#   curl https://<NVIDIA's or EPEL's host>/...  writes a placeholder to -o (the lab has no network);
#                                   any other URL goes to the real curl untouched
tool=$(basename "$0")
LAB_DRIVER_VERSION=580.95.05
set -f  # package names may be globs (nvidia-open-580*)
KUBEGCE_LAB_MISSING_PACKAGES=""
KUBEGCE_LAB_FAIL_PACKAGES=""  # "gpu": cos-extensions install gpu fails (no build for the milestone)
KUBEGCE_LAB_DRIVER_LOADS=1  # 0: the driver installs but nvidia-smi cannot reach it (a module that does not load)
# shellcheck disable=SC1091
[ -r /opt/kubegce-lab/lab.env ] && . /opt/kubegce-lab/lab.env
record() {
  mkdir -p /var/log/kubegce-lab
  printf '%s' "$tool" >>/var/log/kubegce-lab/calls.log
  for arg in "$@"; do
    printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
  done
  printf '\n' >>/var/log/kubegce-lab/calls.log
}
missing() {
  for m in $KUBEGCE_LAB_MISSING_PACKAGES; do
    [ "$m" = "$1" ] && return 0
  done
  return 1
}
case "$tool" in
  curl)
    url="" out="" previous=""
    for arg in "$@"; do
      case "$arg" in
        https://developer.download.nvidia.com/* | https://nvidia.github.io/* | https://dl.fedoraproject.org/*) url=$arg ;;
      esac
      [ "$previous" = "-o" ] && out=$arg
      previous=$arg
    done
    if [ -z "$url" ]; then exec /usr/bin/curl "$@"; fi
    record "$@"
    if [ -n "$out" ]; then echo "# boot lab stand-in for $url" >"$out"; else echo "# boot lab stand-in for $url"; fi
    exit 0
    ;;
esac
record "$@"
case "$tool $1" in
  "cos-extensions install")
    case " $KUBEGCE_LAB_FAIL_PACKAGES " in
      *" gpu "*)
        echo "E: no GPU driver version R580 for this COS milestone" >&2
        exit 1
        ;;
    esac
    mkdir -p /var/lib/nvidia/bin /var/lib/nvidia/lib64 /run/kubegce-lab
    : >/run/kubegce-lab/nvidia-loaded
    echo "Installing GPU driver version ${LAB_DRIVER_VERSION}"
    ;;
  "cos-extensions list")
    echo "Available GPU driver versions: R580 (default) ${LAB_DRIVER_VERSION}"
    ;;
  nvidia-smi*)
    if [ "$KUBEGCE_LAB_DRIVER_LOADS" != 1 ] ||
      { [ ! -e /run/kubegce-lab/nvidia-loaded ] && [ ! -e /var/lib/kubegce-lab/nvidia-installed ]; }; then
      echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
      exit 9
    fi
    set +f
    for dev in /sys/bus/pci/devices/*; do
      [ "$(cat "$dev/vendor" 2>/dev/null)" = 0x10de ] && echo "$LAB_DRIVER_VERSION"
    done
    ;;
  "apt-cache show")
    shift
    for p in "$@"; do
      if missing "$p"; then
        echo "E: No packages found" >&2
        exit 100
      fi
      printf 'Package: %s\nVersion: %s-lab\n\n' "$p" "$LAB_DRIVER_VERSION"
    done
    ;;
  "rpm -q")
    shift
    for p in "$@"; do
      if missing "$p"; then
        echo "package $p is not installed"
        exit 1
      fi
      echo "$p-$LAB_DRIVER_VERSION-1.lab.x86_64"
    done
    ;;
esac
exit 0
