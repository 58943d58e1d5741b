#!/bin/sh
# Boot-lab stand-in: records the call instead of changing the machine (swapoff, modprobe, sysctl,
# systemctl, mount, setenforce, firewall-cmd). It is also what the lab's assets mirror serves as
# containerd, runc, the CNI plugins, kubelet, kubeadm and kubectl (with real sha256 files), so the
# bootstrap downloads, verifies and installs it, and running it records the call instead of
# reaching the internet. It exits 0 so the bootstrap goes on; the lab checks what was called.
mkdir -p /var/log/kubegce-lab
printf '%s' "$(basename "$0")" >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
done
printf '\n' >>/var/log/kubegce-lab/calls.log
exit 0
