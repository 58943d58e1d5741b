#!/usr/bin/env bash
# Compares src/kubegce/spec/releases.py with upstream (needs internet; nothing here runs it in CI):
# upstream's newest patch of each minor kubegce knows, and the sha256 the pinned containerd, runc
# and CNI plugin releases publish. Run before a release of kubegce; update releases.py and its
# CHECKED date from what it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh ""
python - <<'PY'
import urllib.request

from kubegce.spec import releases


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - fixed https URLs
        return r.read().decode().strip()


print(f"releases.py checked {releases.CHECKED}")
for m in releases.MINORS:
    try:
        newest = get(f"https://dl.k8s.io/release/stable-1.{m.minor}.txt").lstrip("v")
    except OSError as exc:
        newest = f"? ({exc})"
    flag = "" if newest == m.latest else "   <- differs"
    print(f"1.{m.minor}: pinned {m.latest}, upstream {newest}, end of life {m.end_of_life}{flag}")
gh = "https://github.com"
for version in sorted({m.containerd for m in releases.MINORS}):
    name = f"containerd-{version}-linux-amd64.tar.gz"
    print(name, get(f"{gh}/containerd/containerd/releases/download/v{version}/{name}.sha256sum").split()[0])
for version in sorted({m.runc for m in releases.MINORS}):
    print(f"runc {version}:", get(f"{gh}/opencontainers/runc/releases/download/v{version}/runc.sha256sum"))
for version in sorted({m.cni_plugins for m in releases.MINORS}):
    name = f"cni-plugins-linux-amd64-v{version}.tgz"
    print(name, get(f"{gh}/containernetworking/plugins/releases/download/v{version}/{name}.sha256").split()[0])
PY
