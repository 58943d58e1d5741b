#!/usr/bin/env bash
# Installs what the tests need beyond Python packages, from Debian's packages:
#  - shellcheck (rendered node scripts), mmdebstrap (boot-lab root filesystems),
#  - the real cloud-init (for `cloud-init schema`) and ignition-validate, unpacked into .tools/
#    with dpkg-deb -x: nothing of them is installed on (or run by) this machine's own boot,
#  - the real etcd and etcdctl (etcd-server, etcd-client 3.4), containerd (1.6) and runc, unpacked
#    the same way: the tests run them against what kubegce renders (docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
for pkg in python3-jinja2 python3-jsonschema python3-yaml python3-configobj python3-jsonpatch \
  python3-netifaces python3-requests python3-oauthlib; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
tools=.tools
mkdir -p "$tools/debs"
for pkg in cloud-init ignition etcd-server etcd-client containerd runc; do
  if [[ ! -e "$tools/$pkg.done" ]]; then
    (cd "$tools/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
      apt-get update -qq && (cd "$tools/debs" && apt-get download -q "$pkg" >/dev/null)
    }
    dpkg-deb -x "$tools"/debs/"$pkg"_*.deb "$tools/root"
    touch "$tools/$pkg.done"
  fi
done
echo "test tools ready in $tools"
