#!/bin/sh
# Boot-lab stand-in for a downloaded binary (containerd, runc, kubelet, kubeadm, kubectl, CNI):
# served from the lab's assets mirror with a real sha256, installed by the bootstrap, and when
# run it records its call.
mkdir -p /var/log/kubegce-lab
printf '%s' "$(basename "$0")" >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
done
printf '\n' >>/var/log/kubegce-lab/calls.log
exit 0
