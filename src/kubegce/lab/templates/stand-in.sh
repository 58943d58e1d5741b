#!/bin/sh
# Boot-lab stand-in: records the call instead of changing the machine (swapoff, modprobe, sysctl,
# systemctl, mount, setenforce, firewall-cmd). It is also what the lab's assets mirror serves as
# containerd, runc, the CNI plugins, kubelet, kubeadm and kubectl (with real sha256 files), so the
# bootstrap downloads, verifies and installs it, and running it records the call instead of
# reaching the internet. It exits 0 so the bootstrap goes on; the lab checks what was called.
# Flags kubeadm accepts beside --config besides --skip-* (kubegce.boot.kubeadm's
# FLAGS_ALLOWED_WITH_CONFIG, written in by the lab when it installs this file).
allowed_with_config="@KUBEADM_FLAGS_ALLOWED_WITH_CONFIG@"
mkdir -p /var/log/kubegce-lab
printf '%s' "$(basename "$0")" >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
done
printf '\n' >>/var/log/kubegce-lab/calls.log
case "$(basename "$0") $1" in
  "kubeadm init" | "kubeadm join")
    # kubeadm's own checks that the lab can make without a cluster: flags it refuses beside
    # --config (its ValidateMixedArguments), and the certificate key's format.
    config="" mixed="" previous=""
    for arg in "$@"; do
      case "$arg" in
        --config=*) config=${arg#--config=} ;;
        --*)
          name=${arg#--}
          name=${name%%=*}
          case "$name" in
            skip-*) ;;
            *) case " $allowed_with_config " in *" $name "*) ;; *) mixed="$mixed $name" ;; esac ;;
          esac
          ;;
        *) if [ "$previous" = "--config" ]; then config=$arg; fi ;;
      esac
      previous=$arg
    done
    if [ -n "$config" ] && [ -n "$mixed" ]; then
      echo "can not mix '--config' with arguments [${mixed# }]" >&2
      exit 1
    fi
    if [ -n "$config" ] && grep -q 'certificateKey:' "$config" &&
      grep 'certificateKey:' "$config" | grep -qvE "certificateKey: '?[0-9a-f]{64}'?$"; then
      echo "certificateKey: Invalid value: the certificate key must be a hex encoded AES key" >&2
      exit 1
    fi
    # what kubeadm leaves in /etc/kubernetes, so that the lab sees whether it survives a reboot
    mkdir -p /etc/kubernetes
    echo "# boot lab stand-in for the kubelet's kubeconfig" >/etc/kubernetes/kubelet.conf
    ;;
  "kubectl --kubeconfig")
    # keep what `kubectl apply -f FILE` was given, for the lab to read
    previous=""
    for arg in "$@"; do
      if [ "$previous" = "-f" ] && [ -f "$arg" ]; then
        mkdir -p /var/log/kubegce-lab/applied
        cp "$arg" "/var/log/kubegce-lab/applied/$(date +%s%N).yaml"
      fi
      previous=$arg
    done
    ;;
  mount\ *)
    # a COS-like boot mounts for real (inside the boot's own mount namespace)
    if [ -e /opt/kubegce-lab/real-mount ]; then exec /bin/mount "$@"; fi
    ;;
esac
exit 0
