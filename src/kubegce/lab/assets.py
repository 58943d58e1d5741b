"""What the lab adds to a rootfs before a boot: the assets mirror the bootstrap downloads from
(stand-in binaries with real sha256 files), stand-ins for commands that would change the host,
the lab secrets bundle, the cloud-init datasource config, and /etc/kubegce/lab.env.

Everything is written into the boot's upper (overlay) layer; the cached rootfs is never changed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import tarfile
from importlib import resources
from pathlib import Path

from kubegce.boot.versions import components

LAB_DIR = "/opt/kubegce-lab"
MIRROR_URL = f"file://{LAB_DIR}/mirror"
SECRETS_URL = f"file://{LAB_DIR}/secrets.tar"
STAND_INS = ("swapoff", "modprobe", "sysctl", "systemctl", "mount", "setenforce", "firewall-cmd", "etcdutl")
# The host tools kubeadm's preflight looks for on PATH (checks_linux.go addExecChecks) that the lab's
# Debian minbase root lacks; the images have them or the bootstrap installs them (host_packages), and
# the lab's package manager stand-in installs nothing: record-only stand-ins (docs/boot-lab.md).
HOST_TOOL_STAND_INS = ("iptables", "conntrack", "ebtables", "ethtool", "socat")
# The strict stand-ins the mirror serves as these binaries (templates/*_stand_in.py, run with the
# root's python3 and python3-yaml, which cloud-init's package brings in every lab profile).
PYTHON_STAND_INS = {"kubeadm": "kubeadm_stand_in.py", "kubelet": "kubelet_stand_in.py"}
PACKAGE_MANAGER_STAND_INS = ("apt-get", "dnf", "zypper")  # templates/apt-get-stand-in.sh
# A GPU node's tools (templates/gpu-stand-in.sh): COS's driver installer, nvidia-smi, the package
# queries lib/gpu.sh asks, and curl for NVIDIA's and EPEL's repositories (other URLs: the real curl)
GPU_STAND_INS = ("cos-extensions", "nvidia-smi", "nvidia-ctk", "apt-cache", "rpm", "curl")
FAKE_MANIFEST = (
    b"# kubegce boot lab: stand-in pod network manifest, with the CNI hostPath of calico's and cilium's\n"
    b"apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: lab-network\n  namespace: kube-system\n"
    b"spec:\n  template:\n    spec:\n      volumes:\n        - name: cni-bin-dir\n          hostPath:\n"
    b"            path: /opt/cni/bin\n"
)


def lab_template(name: str) -> bytes:
    return resources.files("kubegce.lab").joinpath("templates", name).read_bytes()


def manifest_sha256() -> str:
    return hashlib.sha256(FAKE_MANIFEST).hexdigest()


def _write(root: Path, path: str, data: bytes, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.chmod(target, mode)


def _tar(members: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if not name.endswith((".conf", ".kubeconfig")) else 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stand_in_script() -> bytes:
    """The record-only stand-in (see templates/stand-in.sh)."""
    return lab_template("stand-in.sh")


def strict_stand_in(binary: str, kubernetes_version: str) -> bytes:
    """The strict stand-in for ``binary`` (kubeadm or kubelet) of this Kubernetes version."""
    version = kubernetes_version.lstrip("v").encode()
    return lab_template(PYTHON_STAND_INS[binary]).replace(b"@KUBERNETES_VERSION@", version)


def write_mirror(root: Path, kubernetes_version: str, arch: str) -> None:
    fake = stand_in_script()
    m = f"{LAB_DIR}/mirror"
    parts = components(kubernetes_version)  # the versions the rendered config names for this version
    CONTAINERD_VERSION, RUNC_VERSION, CNI_PLUGINS_VERSION = parts.containerd, parts.runc, parts.cni_plugins  # noqa: N806
    ctd = f"containerd-{CONTAINERD_VERSION}-linux-{arch}.tar.gz"
    ctd_data = _tar({f"bin/{b}": fake for b in ("containerd", "containerd-shim-runc-v2", "ctr")})
    base = f"{m}/containerd/releases/download/v{CONTAINERD_VERSION}"
    _write(root, f"{base}/{ctd}", ctd_data)
    _write(root, f"{base}/{ctd}.sha256sum", f"{_sha(ctd_data)}  {ctd}\n".encode())
    base = f"{m}/runc/releases/download/v{RUNC_VERSION}"
    _write(root, f"{base}/runc.{arch}", fake, 0o755)
    _write(root, f"{base}/runc.sha256sum", f"{_sha(fake)}  runc.{arch}\n".encode())
    cni = f"cni-plugins-linux-{arch}-v{CNI_PLUGINS_VERSION}.tgz"
    cni_data = _tar({f"./{b}": fake for b in ("bridge", "loopback", "host-local", "portmap")})
    base = f"{m}/cni-plugins/releases/download/v{CNI_PLUGINS_VERSION}"
    _write(root, f"{base}/{cni}", cni_data)
    _write(root, f"{base}/{cni}.sha256", f"{_sha(cni_data)}  {cni}\n".encode())
    base = f"{m}/kubernetes/release/v{kubernetes_version}/bin/linux/{arch}"
    for b in ("kubelet", "kubeadm", "kubectl"):
        data = strict_stand_in(b, kubernetes_version) if b in PYTHON_STAND_INS else fake
        _write(root, f"{base}/{b}", data, 0o755)
        _write(root, f"{base}/{b}.sha256", _sha(data).encode())
    for name in ("calico", "cilium", "gcp-cloud-controller-manager"):
        _write(root, f"{m}/manifests/{name}.yaml", FAKE_MANIFEST)


def write_lab_files(root: Path, *, metadata_url: str, kubernetes_version: str, arch: str, fail_at: str,
                    extra_env: dict[str, str] | None = None) -> None:  # fmt: skip
    """Everything a boot needs beside the rendered metadata; idempotent (a reboot rewrites lab.env)."""
    if not (root / LAB_DIR.lstrip("/") / "mirror").exists():
        write_mirror(root, kubernetes_version, arch)
        stand_in = stand_in_script()
        for cmd in STAND_INS + HOST_TOOL_STAND_INS:
            _write(root, f"{LAB_DIR}/stand-ins/{cmd}", stand_in, 0o755)
        for cmd in PACKAGE_MANAGER_STAND_INS:
            _write(root, f"{LAB_DIR}/stand-ins/{cmd}", lab_template("apt-get-stand-in.sh"), 0o755)
        for cmd in GPU_STAND_INS:
            _write(root, f"{LAB_DIR}/stand-ins/{cmd}", lab_template("gpu-stand-in.sh"), 0o755)
        secrets = _tar({
            "etc/kubegce/bootstrap.kubeconfig": b"# boot lab stand-in: no real credentials\n",
            # what a control plane's bundle carries (lab values, not secrets of any cluster)
            "etc/kubegce/certificate-key": hashlib.sha256(b"kubegce boot lab").hexdigest().encode(),
            "etc/kubegce/join-token": b"abcdef.0123456789abcdef",
        }, gz=False)  # fmt: skip
        _write(root, f"{LAB_DIR}/secrets.tar", secrets)
    cloud_cfg = (
        "# kubegce boot lab: read the lab metadata server, touch nothing of the host\n"
        "datasource_list: [GCE]\n"
        f"datasource:\n  GCE:\n    metadata_url: {metadata_url}/\n"
        "network: {config: disabled}\n"
        "disable_network_activation: true\n"
        "resize_rootfs: false\n"
        "growpart: {mode: 'off'}\n"
        "apt: {preserve_sources_list: true}\n"
        "manage_etc_hosts: false\n"
        "preserve_hostname: true\n"
    )
    _write(root, "/etc/cloud/cloud.cfg.d/99-kubegce-lab.cfg", cloud_cfg.encode())
    # kmod's directory, which every image has and the lab's minbase root lacks (lib/gpu.sh writes there)
    (root / "etc/modprobe.d").mkdir(parents=True, exist_ok=True)
    lines = [
        "# kubegce boot lab settings: read by the bootstrap; never present on a real node",
        f'export PATH={shlex.quote(LAB_DIR + "/stand-ins")}:"$PATH"',
        f"KUBEGCE_METADATA_URL={shlex.quote(metadata_url)}",
        f"KUBEGCE_LAB_FAIL_AT={shlex.quote(fail_at)}",
        *(f"{k}={shlex.quote(v)}" for k, v in sorted((extra_env or {}).items())),
    ]
    _write(root, "/etc/kubegce/lab.env", ("\n".join(lines) + "\n").encode())
    # the stand-ins' copy: on COS the bootstrap bind-mounts its persisted /etc/kubegce over the above
    _write(root, f"{LAB_DIR}/lab.env", ("\n".join(lines) + "\n").encode())
