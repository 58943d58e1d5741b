#!/bin/sh
# Boot-lab package manager (installed as apt-get, dnf and zypper): package installs are recorded,
# except cloud-init, which is installed for real from the lab's local repository with the lab
# rootfs's own apt (the installCloudInit path must really work, whatever the image's manager).
tool=$(basename "$0")
mkdir -p /var/log/kubegce-lab
printf '%s' "$tool" >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
done
printf '\n' >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  if [ "$arg" = cloud-init ]; then
    if [ "$tool" = apt-get ]; then
      exec /usr/bin/apt-get "$@"
    fi
    DEBIAN_FRONTEND=noninteractive /usr/bin/apt-get update -q || exit 1
    DEBIAN_FRONTEND=noninteractive exec /usr/bin/apt-get install -y -q --no-install-recommends cloud-init
  fi
done
# lab.env may stand in a repository without a package (KUBEGCE_LAB_MISSING_PACKAGES: `dnf list` finds
# nothing, an install fails) or a package whose install fails (KUBEGCE_LAB_FAIL_PACKAGES); installing
# an NVIDIA driver package leaves the marker the nvidia-smi stand-in reads (templates/gpu-stand-in.sh)
set -f  # package names may be globs (nvidia-open-580*)
KUBEGCE_LAB_MISSING_PACKAGES=""
KUBEGCE_LAB_FAIL_PACKAGES=""
# shellcheck disable=SC1091
[ -r /opt/kubegce-lab/lab.env ] && . /opt/kubegce-lab/lab.env
for arg in "$@"; do
  for p in $KUBEGCE_LAB_MISSING_PACKAGES $KUBEGCE_LAB_FAIL_PACKAGES; do
    if [ "$p" = "$arg" ]; then
      case " $KUBEGCE_LAB_MISSING_PACKAGES " in
        *" $p "*) echo "E: Unable to locate package $p" >&2 ;;
        *) echo "E: Sub-process /usr/bin/dpkg returned an error code (1) installing $p" >&2 ;;
      esac
      exit 100
    fi
  done
done
if [ "${1:-}" = install ] || [ "${2:-}" = install ] || [ "${3:-}" = install ]; then
  for arg in "$@"; do
    case "$arg" in
      nvidia-headless-* | nvidia-open* | nvidia-kernel-dkms | cuda-drivers* | nvidia-driver*)
        mkdir -p /var/lib/kubegce-lab && : >/var/lib/kubegce-lab/nvidia-installed
        ;;
    esac
  done
fi
if [ "$tool" = apt-get ] && [ "${1:-}" = update ]; then
  # the lab's repository only (sources.list): what the bootstrap adds under sources.list.d (NVIDIA's,
  # the image's own Debian sources a lab boot writes) is for the lab to read, not to fetch offline
  exec /usr/bin/apt-get -o Dir::Etc::sourceparts=/nonexistent update
fi
exit 0
