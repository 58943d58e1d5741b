"""Boot-lab scenarios that end in each diagnose cause. Shared by the fixture generator
(tests/fixtures/make_serial_fixtures.py) and the cross-check test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
