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
if [ "$tool" = apt-get ] && [ "${1:-}" = update ]; then
  exec /usr/bin/apt-get update
fi
exit 0
