#!/bin/sh
# Boot-lab apt-get: package installs are recorded, except cloud-init, which is installed for real
# from the lab's local repository (the installCloudInit path must really work).
mkdir -p /var/log/kubegce-lab
printf 'apt-get' >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
done
printf '\n' >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  if [ "$arg" = cloud-init ]; then
    exec /usr/bin/apt-get "$@"
  fi
done
if [ "${1:-}" = update ]; then
  exec /usr/bin/apt-get update
fi
exit 0
