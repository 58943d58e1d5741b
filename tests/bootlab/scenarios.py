"""Boot-lab scenarios that end in each diagnose cause. Shared by the fixture generator
(tests/fixtures/make_serial_fixtures.py) and the cross-check test."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubegce.boot import protocol
from kubegce.lab.assets import LAB_DIR
from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import LabMachine, lab_bundle, render_node_metadata
from kubegce.spec import releases
from kubegce.spec.models import BootChannel, Role, UserDataPart

IMAGES = {
    "cloud-init+agent": "ubuntu-os-cloud/ubuntu-2404-lts-amd64",
    "agent-only": "rocky-linux-cloud/rocky-linux-9",
    "cloud-init-only": "kubegce-lab/cloud-init-only",
    "fcos-like": "fedora-coreos-cloud/fedora-coreos-stable",
}
CLOUD_CFG = UserDataPart(name="extra.cfg", type="text/cloud-config", content="#cloud-config\nruncmd: [[touch, /x]]\n")
BAD_CFG = UserDataPart(name="bad.cfg", type="text/cloud-config", content="#cloud-config\nwrite_files: 5\n")
FAILING_RUNCMD = UserDataPart(name="fail.cfg", type="text/cloud-config",
                              content="#cloud-config\nruncmd:\n  - [sh, -c, 'exit 7']\n")  # fmt: skip


@dataclass
class Outcome:
    log: str
    metadata: dict[str, str]
    image: str
    guest_attributes: dict[str, str]


def run(profile: str, *, image: str | None = None, channel: str = "auto", parts: list[UserDataPart] | None = None,
        fail_at: str = "", overrides: dict[str, str] | None = None,
        edit_metadata: Callable[[dict[str, str]], dict[str, str]] | None = None, role: Role = Role.NODE) -> Outcome:  # fmt: skip
    image = image or IMAGES[profile]
    metadata, _ = render_node_metadata(lab_bundle(image, channel=BootChannel(channel), parts=parts), role=role)
    if edit_metadata:
        metadata = edit_metadata(dict(metadata))
    with LabMachine(PROFILES[profile], metadata) as m:
        result = m.boot(fail_at=fail_at, overrides=overrides)
        return Outcome(m.serial_log(result), metadata, image, result.guest_attributes)


ETCD_RECORD = "/mnt/disks/kubegce-etcd/kubegce/member.env"  # lib/etcd.sh's etcd_record (no block device: boot disk)
KEPT_FILES = {  # what kubeadm left on the disk that a restored member needs (lib/etcd.sh restore_etcd_member)
    "/etc/kubernetes/kubelet.conf": "# boot lab stand-in for the kubelet's kubeconfig\n",
    "/etc/kubernetes/manifests/etcd.yaml": "# boot lab stand-in: etcd's static pod\n",
    "/etc/kubernetes/manifests/kube-apiserver.yaml": "# boot lab stand-in: the API server's static pod\n",
    "/var/lib/kubelet/config.yaml": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
}


def kept_etcd_disk(address: str, version: str = releases.DEFAULT_VERSION) -> dict[str, str]:
    """What a recreated control plane finds on its kept etcd disk: the member's record (the
    address it advertised), its /etc/kubernetes and /var/lib/kubelet (lib/etcd.sh). The lab's
    instance is 10.0.16.2."""
    return {
        ETCD_RECORD: f"ADVERTISE_ADDRESS={address}\nKUBERNETES_VERSION={version}\nFIRST_CONTROL_PLANE=1\n",
        **KEPT_FILES,
    }


LAB_CLUSTER = "lab.example.com"
LAB_BACKUP = "20261206T120000Z-cp-old-1x2y"
LAB_SNAPSHOT = b"kubegce boot lab: a snapshot's bytes (the lab's etcdutl stand-in restores none of them)\n"


def restore_objects(*, sha256: str = "", etcd_version: str = "3.6.4") -> dict[str, bytes]:
    """A restore in progress as `kubegce restore etcd` marks it, and the backup's snapshot."""
    import hashlib

    from kubegce.state.backups import RESTORING, RestoreMarker
    from kubegce.state.layout import backup_key, restore_marker_key

    marker = RestoreMarker(LAB_BACKUP, sha256 or hashlib.sha256(LAB_SNAPSHOT).hexdigest(), etcd_version,
                           "0123456789abcdef", (), RESTORING, "2026-12-06T12:30:00Z", 4102444800)  # fmt: skip
    return {restore_marker_key(LAB_CLUSTER): marker.to_json(),
            backup_key(LAB_CLUSTER, LAB_BACKUP, "snapshot.db"): LAB_SNAPSHOT}  # fmt: skip


def run_restoring_control_plane(profile: str, objects: dict[str, bytes]) -> Outcome:
    """A control plane booting on a fresh etcd disk while a restore is marked in its state bucket."""
    from tests.bootlab.bucket import prepare

    image = IMAGES[profile]
    with tempfile.TemporaryDirectory(prefix="kubegce-lab-restore-") as tmp:
        metadata, gcs = prepare(Path(tmp), role=Role.CONTROL_PLANE, api_address=None, extra=objects, image=image)
        with LabMachine(PROFILES[profile], metadata) as m:
            result = m.boot(gcs=gcs, lab_env={"KUBEGCE_ETCDUTL": "etcdutl"})
            return Outcome(m.serial_log(result), metadata, image, result.guest_attributes)


@functools.cache
def backup_job_attribute(*, healthy: bool) -> str:
    """What the real backup job (lib/backup.sh run_etcd_backup) writes to the backup guest attribute
    when its member is not healthy, or when it is the healthy leader of a real etcd (Debian's, in
    .tools/) and the state store does not answer."""
    from kubegce.boot.render import template
    from tests.bootlab.test_real_etcd_backup import BIN, Etcd, free_port

    with tempfile.TemporaryDirectory(prefix="kubegce-lab-backup-") as tmp:
        etcd = Etcd(Path(tmp) / "data")
        endpoint = f"http://127.0.0.1:{free_port()}"
        if healthy:
            etcd.start()
            endpoint = etcd.endpoint
        closed = f"http://127.0.0.1:{free_port()}/storage"  # a store that does not answer
        common = template("lib/common.sh").replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', 'KUBEGCE_LAB_ENV="/none"')
        script = "\n".join([
            "set -o errexit -o nounset -o pipefail", protocol.shell_constants(), common, template("lib/backup.sh"),
            "service_account_token() { echo lab-token; }", 'put_guest_attribute() { printf "%s=%s\\n" "$1" "$2"; }',
            f"KUBEGCE_ETCDCTL={BIN / 'etcdctl'}", "KUBEGCE_ETCD_INSECURE=1", f"KUBEGCE_ETCD_ENDPOINT={endpoint}",
            f"KUBEGCE_BACKUP_WORK={tmp}/work", f"KUBEGCE_CLUSTER_NAME={LAB_CLUSTER}", "KUBEGCE_BACKUP_INTERVAL=900",
            *(f"KUBEGCE_BACKUP_{k}_URL={closed}/{k.lower()}" for k in ("LIST", "OBJECT", "UPLOAD", "REQUEST",
                                                                         "REQUEST_OBJECT")),
            "run_etcd_backup || true",
        ])  # fmt: skip
        try:
            env = {"PATH": "/usr/bin:/bin", "KUBEGCE_CONFIG_SHA256": "x", "KUBEGCE_CONFIG_SOURCE": "metadata:x"}
            out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120).stdout
        finally:
            etcd.stop()
    values = [line.split("=", 1)[1] for line in out.splitlines() if line.startswith("backup=")]
    assert values, out
    return values[-1]


def joined_control_plane_with_backup(profile: str, *, healthy: bool) -> Outcome:
    """A control plane that booted and joined (a real lab boot), whose backup job then failed: its
    guest attributes carry what the real job wrote (backup_job_attribute)."""
    outcome = run(profile, role=Role.CONTROL_PLANE)
    outcome.guest_attributes["backup"] = backup_job_attribute(healthy=healthy)
    return outcome


def mime_in_startup_script(md: dict[str, str]) -> dict[str, str]:
    """What kOps did with gceUseStartupScript and additional user data."""
    md["startup-script"] = md.pop("user-data")
    return md


def user_data(value: str) -> Callable[[dict[str, str]], dict[str, str]]:
    """Another user-data than kubegce rendered (a hand edit, another tool's template)."""
    return lambda md: {**md, "user-data": value}


def strip_boot_keys(md: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in md.items() if k not in ("startup-script", "user-data")}


MIRROR = f"{LAB_DIR}/mirror/kubernetes/release/v{releases.DEFAULT_VERSION}/bin/linux/amd64/kubelet.sha256"
GPU_SOURCES = {"/etc/apt/sources.list.d/debian.sources":
               "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"}  # fmt: skip
ROCKY_RELEASE = {"/etc/os-release": 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.6"\n'}


def run_gpu(profile: str, image: str, *, gpus: int = 1, secure_boot: bool = False, channel: str = "auto",
            lab_env: dict[str, str] | None = None, group: dict[str, Any] | None = None) -> Outcome:  # fmt: skip
    """A GPU group's node (lib/gpu.sh) on the lab's fake PCI bus and UEFI variable (tests/bootlab/test_gpu.py)."""
    bundle = lab_bundle(image, channel=BootChannel(channel), **(group or {"machine_type": "g2-standard-8"}))
    metadata, _ = render_node_metadata(bundle)
    overrides = {**GPU_SOURCES, **(ROCKY_RELEASE if image.startswith("rocky") else {})}
    with LabMachine(PROFILES[profile], metadata, gpus=gpus, secure_boot=secure_boot) as m:
        result = m.boot(overrides=overrides, lab_env=lab_env)
        return Outcome(m.serial_log(result), metadata, image, result.guest_attributes)


ROCKY = "rocky-linux-cloud/rocky-linux-9"
DEBIAN = "debian-cloud/debian-12"
UBUNTU = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
V100 = {"machine_type": "n1-standard-8", "accelerators": [("nvidia-tesla-v100", 1)]}
KERNEL = __import__("os").uname().release
GPU_SCENARIOS: dict[str, tuple[str, Callable[[], Outcome]]] = {
    "gpu-no-device-agent": (protocol.GPU_NO_DEVICE, lambda: run_gpu("agent-only", ROCKY, gpus=0)),
    "gpu-no-device-cloud-init": (
        protocol.GPU_NO_DEVICE, lambda: run_gpu("cloud-init+agent", UBUNTU, gpus=0, channel="user-data")),
    "gpu-secure-boot-agent": (protocol.GPU_SECURE_BOOT, lambda: run_gpu("agent-only", ROCKY, secure_boot=True)),
    "gpu-secure-boot-debian": (protocol.GPU_SECURE_BOOT, lambda: run_gpu("agent-only", DEBIAN, secure_boot=True)),
    "gpu-kernel-headers-debian": (protocol.GPU_KERNEL_HEADERS, lambda: run_gpu(
        "agent-only", DEBIAN, lab_env={"KUBEGCE_LAB_MISSING_PACKAGES": f"linux-headers-{KERNEL}"})),
    "gpu-kernel-headers-cloud-init": (protocol.GPU_KERNEL_HEADERS, lambda: run_gpu(
        "cloud-init+agent", UBUNTU, channel="user-data", group=V100,
        lab_env={"KUBEGCE_LAB_MISSING_PACKAGES": f"linux-modules-nvidia-580-server-{KERNEL}"})),
    "gpu-driver-install-agent": (protocol.GPU_DRIVER_INSTALL, lambda: run_gpu(
        "agent-only", ROCKY, lab_env={"KUBEGCE_LAB_FAIL_PACKAGES": "nvidia-open-580*"})),
    "gpu-driver-install-cos": (protocol.GPU_DRIVER_INSTALL, lambda: run_gpu(
        "cos-like", "cos-cloud/cos-stable", lab_env={"KUBEGCE_LAB_FAIL_PACKAGES": "gpu"})),
    "gpu-driver-load-agent": (protocol.GPU_DRIVER_LOAD, lambda: run_gpu(
        "agent-only", ROCKY, lab_env={"KUBEGCE_LAB_DRIVER_LOADS": "0"})),
    "gpu-driver-load-cloud-init": (protocol.GPU_DRIVER_LOAD, lambda: run_gpu(
        "cloud-init+agent", UBUNTU, channel="user-data", lab_env={"KUBEGCE_LAB_DRIVER_LOADS": "0"})),
    "gpu-toolkit-agent": (protocol.GPU_TOOLKIT, lambda: run_gpu(
        "agent-only", ROCKY, lab_env={"KUBEGCE_LAB_FAIL_PACKAGES": "nvidia-container-toolkit"})),
    "gpu-toolkit-cloud-init": (protocol.GPU_TOOLKIT, lambda: run_gpu(
        "cloud-init+agent", UBUNTU, channel="user-data",
        lab_env={"KUBEGCE_LAB_FAIL_PACKAGES": "nvidia-container-toolkit"})),
}  # fmt: skip

SCENARIOS: dict[str, tuple[str, Callable[[], Outcome]]] = {
    "ok-agent-only": ("ok", lambda: run("agent-only")),
    "ok-cloud-init-user-data": ("ok", lambda: run("cloud-init+agent", channel="user-data")),
    "ok-fcos-ignition": ("ok", lambda: run("fcos-like")),
    "no-init-channel-rocky": ("no-init-channel", lambda: run("agent-only", channel="user-data")),
    "ignition-failed-cloud-config": (
        "ignition-failed",
        lambda: run("fcos-like", edit_metadata=user_data("#cloud-config\nruncmd: [[touch, /x]]\n")),
    ),
    "ignition-failed-version": (
        "ignition-failed",
        lambda: run("fcos-like", edit_metadata=user_data('{"ignition": {"version": "9.9.0"}}')),
    ),
    "no-init-channel-debian": (
        "no-init-channel",
        lambda: run("agent-only", image="debian-cloud/debian-12", channel="user-data", parts=[CLOUD_CFG]),
    ),  # fmt: skip
    "mime-agent-only": (
        "mime-in-startup-script",
        lambda: run(
            "agent-only", image=IMAGES["cloud-init+agent"], parts=[CLOUD_CFG], edit_metadata=mime_in_startup_script
        ),
    ),
    "mime-cloud-init-agent": (
        "mime-in-startup-script",
        lambda: run("cloud-init+agent", parts=[CLOUD_CFG], edit_metadata=mime_in_startup_script),
    ),
    "cloud-init-error-schema": ("cloud-init-error", lambda: run("cloud-init+agent", parts=[BAD_CFG])),
    "cloud-init-error-runcmd": ("cloud-init-error", lambda: run("cloud-init-only", parts=[FAILING_RUNCMD])),
    "bootstrap-failed-prepare": ("bootstrap-failed", lambda: run("agent-only", fail_at="prepare_host")),
    "bootstrap-failed-configure": ("bootstrap-failed", lambda: run("cloud-init-only", fail_at="configure_services")),
    "download-failed-checksum": ("download-failed", lambda: run("agent-only", overrides={MIRROR: "0" * 64})),
    "download-failed-install": ("download-failed", lambda: run("cloud-init+agent", fail_at="install_binaries")),
    "join-failed-kubeadm": ("join-failed", lambda: run("agent-only", fail_at="kubeadm_join")),
    "join-failed-secrets": ("join-failed", lambda: run("cloud-init-only", fail_at="fetch_secrets")),
    "unsupported-distro-plan9": (
        "unsupported-distro",
        lambda: run(
            "agent-only", image="my-project/plan9-golden", overrides={"/etc/os-release": 'ID=plan9\nVERSION_ID="4"\n'}
        ),
    ),
    "unsupported-distro-gentoo": (
        "unsupported-distro",
        lambda: run(
            "cloud-init+agent",
            image="my-project/gentoo-golden",
            channel="user-data",
            overrides={"/etc/os-release": "ID=gentoo\nID_LIKE=\n"},
        ),
    ),
    "not-started-no-agent": (
        "bootstrap-not-started",
        lambda: run("cloud-init-only", channel="startup-script", edit_metadata=strip_boot_keys),
    ),  # fmt: skip
    "etcd-address-mismatch-agent": (
        "etcd-address-mismatch",
        lambda: run("agent-only", role=Role.CONTROL_PLANE, overrides=kept_etcd_disk("10.0.16.77")),
    ),
    "etcd-address-mismatch-cloud-init": (
        "etcd-address-mismatch",
        lambda: run("cloud-init-only", role=Role.CONTROL_PLANE, overrides=kept_etcd_disk("10.0.9.4")),
    ),
    "not-started-no-keys": ("bootstrap-not-started", lambda: run("agent-only", edit_metadata=strip_boot_keys)),
    "restore-checksum-mismatch-agent": (
        "restore-checksum-mismatch",
        lambda: run_restoring_control_plane("agent-only", restore_objects(sha256="0" * 64)),
    ),
    "restore-checksum-mismatch-cloud-init": (
        "restore-checksum-mismatch",
        lambda: run_restoring_control_plane("cloud-init-only", restore_objects(sha256="f" * 64)),
    ),
    "restore-etcd-version-major": (
        "restore-etcd-version",
        lambda: run_restoring_control_plane("agent-only", restore_objects(etcd_version="4.0.1")),
    ),
    "restore-etcd-version-old-minor": (
        "restore-etcd-version",
        lambda: run_restoring_control_plane("cloud-init-only", restore_objects(etcd_version="3.4.23")),
    ),
    **{  # a joined control plane whose backup job fails: its member unhealthy, or the store unreachable
        f"{cause}-{short}": (cause, functools.partial(joined_control_plane_with_backup, profile, healthy=healthy))
        for cause, healthy in (("backup-etcd-unhealthy", False), ("backup-store-unwritable", True))
        for short, profile in (("agent", "agent-only"), ("cloud-init", "cloud-init-only"))
    },
    **GPU_SCENARIOS,
}


def require_ignition() -> None:
    """Skip (fail in CI) where the real Ignition is not installed."""
    from kubegce.errors import UserError
    from kubegce.lab.run import ignition_binary
    from tests.conftest import need_tool

    try:
        ignition_binary()
    except UserError:
        need_tool(None, "ignition (the unpacked Debian package)")


def small_metadata(md: dict[str, str]) -> dict[str, Any]:
    """The metadata a fixture keeps: every key, long values cut (diagnose reads keys and small values)."""
    return {k: (v if len(v) <= 200 else v[:200] + "...") for k, v in md.items()}
