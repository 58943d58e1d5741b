#!/bin/sh
# Boot-lab stand-in: records the call instead of changing the machine (swapoff, modprobe, sysctl,
# systemctl, mount, setenforce, firewall-cmd, etcdutl, and the host tools iptables, conntrack, ebtables,
# ethtool, socat). It is also what the lab's assets mirror serves as
# containerd, runc, the CNI plugins and kubectl (with real sha256 files), so the
# bootstrap downloads, verifies and installs it, and running it records the call instead of
# reaching the internet. It exits 0 so the bootstrap goes on; the lab checks what was called.
# kubeadm and the kubelet are strict stand-ins of their own (kubeadm_stand_in.py, kubelet_stand_in.py).
mkdir -p /var/log/kubegce-lab
printf '%s' "$(basename "$0")" >>/var/log/kubegce-lab/calls.log
for arg in "$@"; do
  printf ' %s' "$arg" >>/var/log/kubegce-lab/calls.log
done
printf '\n' >>/var/log/kubegce-lab/calls.log
case "$(basename "$0") $1" in
  "swapoff -a")
    # what `swapoff -a` leaves for this boot; the strict kubeadm and kubelet stand-ins read it
    # beside /proc/swaps (the lab's /proc/swaps is the host's)
    mkdir -p /run/kubegce-lab && : >/run/kubegce-lab/swapoff
    ;;
  "sysctl --system")
    # IP forwarding is per network namespace, so the lab applies it for real in its own: kubeadm's
    # preflight reads /proc/sys/net/ipv4/ip_forward (FileContent--proc-sys-net-ipv4-ip_forward)
    if cat /etc/sysctl.d/*.conf /etc/sysctl.conf 2>/dev/null | tr -d ' \t' | grep -qx 'net.ipv4.ip_forward=1'; then
      echo 1 >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    fi
    ;;
  "kubectl --kubeconfig")
    # keep what `kubectl apply -f FILE` was given, for the lab to read; a bootstrap token's Secret
    # exists once the kubeadm stand-in created it (`get secret bootstrap-token-ID` is NotFound before)
    previous=""
    verb=""
    for arg in "$@"; do
      case "$arg" in
        get | patch | apply) verb=$arg ;;
        bootstrap-token-*)
          if [ "$verb" = get ] && [ ! -e "/var/lib/kubegce-lab/tokens/$arg" ]; then
            echo "Error from server (NotFound): secrets \"$arg\" not found" >&2
            exit 1
          fi
          ;;
      esac
      if [ "$previous" = "-f" ] && [ -f "$arg" ]; then
        mkdir -p /var/log/kubegce-lab/applied
        cp "$arg" "/var/log/kubegce-lab/applied/$(date +%s%N).yaml"
      fi
      previous=$arg
    done
    ;;
  "etcdutl version")
    # what a restoring control plane asks first (lib/restore.sh): the lab's stand-in is etcd 3.6,
    # as kubeadm's etcd image for the lab's Kubernetes versions
    echo "etcdutl version: 3.6.4"
    echo "API version: 3.6"
    ;;
  "etcdutl snapshot")
    # `snapshot restore FILE --data-dir DIR ...`: the member directory etcdutl leaves (0700), no data
    previous=""
    for arg in "$@"; do
      if [ "$previous" = "--data-dir" ]; then
        mkdir -p "$arg/member/snap" "$arg/member/wal" && chmod 0700 "$arg" "$arg/member"
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
