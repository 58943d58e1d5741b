"""Container-Optimized OS's file system in the boot lab (profile ``cos-like``): a read-only root,
/etc rebuilt from the image on every boot, /var/lib/cloud a tmpfs (cloud-init re-runs user-data
on every boot), /var and /home noexec. The bootstrap must install into an exec bind mount, keep
what kubeadm writes to /etc/kubernetes, and re-apply /etc after every reboot."""

from __future__ import annotations

import pytest
import yaml

from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import BootResult, LabMachine, lab_bundle, render_node_metadata
from kubegce.spec.models import BootChannel, Role

pytestmark = pytest.mark.bootlab
COS = "cos-cloud/cos-stable"
AFTER_REBOOT = [
    "/etc/kubernetes/kubelet.conf",
    "/etc/kubegce/bootstrap.kubeconfig",
    "/etc/sysctl.d/99-kubegce.conf",
    "/etc/modules-load.d/kubegce.conf",
    "/etc/systemd/system/kubelet.service",
    "/etc/containerd/config.toml",
]


def cos_machine(channel: str = "auto") -> LabMachine:
    metadata, _ = render_node_metadata(lab_bundle(COS, channel=BootChannel(channel)))
    return LabMachine(PROFILES["cos-like"], metadata)


def assert_cos_mounts(result: BootResult) -> None:
    mounts = result.raw["mounts"]
    assert mounts["/"].split(",")[0] == "ro"
    assert "noexec" in mounts["/home"].split(",") and "noexec" in mounts["/var"].split(",")
    # the bootstrap's bin dir is its own mount, executable, on every boot
    assert "noexec" not in mounts["/home/kubernetes/bin"].split(","), mounts
    assert {"/etc/kubernetes", "/etc/kubegce"} <= set(mounts)


@pytest.mark.parametrize("channel", ["auto", "both"])
def test_cos_boot_then_reboot_keeps_the_node_initialized(channel: str) -> None:
    with cos_machine(channel) as m:
        first = m.boot(read_files=AFTER_REBOOT)
        second = m.boot(read_files=AFTER_REBOOT)
    assert first.guest_attributes["phase"] == "joined", first.runner_output[-3000:]
    assert len(first.runs) == 1 and first.runs[0] in ("startup-script", "user-data")
    assert_cos_mounts(first)
    assert any(c.startswith("kubeadm join") for c in first.calls)
    # the reboot: started again (by both channels with `both`: cloud-init re-runs user-data on
    # COS), found the done marker, and put back what /etc lost
    assert second.runs == [], second.invocations
    assert len(second.invocations) == (2 if channel == "both" else 1)
    assert second.guest_attributes["phase"] == "joined"
    files = second.raw["files"]
    assert files["/etc/kubernetes/kubelet.conf"], "kubeadm's kubelet.conf did not survive the reboot"
    assert files["/etc/kubegce/bootstrap.kubeconfig"]
    assert "net.ipv4.ip_forward = 1" in files["/etc/sysctl.d/99-kubegce.conf"]
    assert "br_netfilter" in files["/etc/modules-load.d/kubegce.conf"]
    assert "/home/kubernetes/bin/kubelet" in files["/etc/systemd/system/kubelet.service"]
    assert "/home/kubernetes/bin/runc" in files["/etc/containerd/config.toml"]
    assert 'bin_dirs = ["/home/kubernetes/bin/cni"]' in files["/etc/containerd/config.toml"]  # /opt is read-only
    assert "modprobe br_netfilter" in second.calls and "sysctl --system" in second.calls
    assert not any(c.startswith("kubeadm") for c in second.calls)  # nothing initialized twice
    assert_cos_mounts(second)
    assert "volatile /etc: kernel settings, services" in second.runner_output + second.raw["cloud_init_output"]


def test_etc_really_is_volatile_in_the_cos_like_profile() -> None:
    """The lab's own check: a file written to /etc on one boot is gone on the next, one under /var stays."""
    with cos_machine() as m:
        m.boot(overrides={"/etc/kubegce-lab-probe": "first boot\n", "/var/lib/kubegce-lab-probe": "kept\n"})
        second = m.boot(read_files=["/etc/kubegce-lab-probe", "/var/lib/kubegce-lab-probe"])
    assert second.raw["files"]["/etc/kubegce-lab-probe"] == ""
    assert second.raw["files"]["/var/lib/kubegce-lab-probe"] == "kept\n"


@pytest.mark.parametrize("step", ["configure_services", "kubeadm_join"])
def test_cos_failure_resumes_after_a_reboot(step: str) -> None:
    with cos_machine() as m:
        first = m.boot(fail_at=step)
        second = m.boot(read_files=["/etc/kubegce/bootstrap.kubeconfig", "/etc/kubernetes/kubelet.conf"])
    assert first.guest_attributes["phase"] == "failed"
    assert second.runs and second.guest_attributes["phase"] == "joined", second.runner_output[-3000:]
    # the binaries installed before the reboot are executable again: their exec mount is redone
    assert_cos_mounts(second)
    if step == "kubeadm_join":
        # fetch_secrets had finished before the reboot and is not run again; what it wrote survived
        assert "step=fetch_secrets already done" in second.runner_output + second.raw["cloud_init_output"]
    assert second.raw["files"]["/etc/kubegce/bootstrap.kubeconfig"]
    assert sum(1 for c in second.calls if c.startswith("kubeadm join")) == 1


def test_cos_control_plane_points_the_network_daemonset_at_the_cni_dir_containerd_uses() -> None:
    metadata, _ = render_node_metadata(lab_bundle(COS), role=Role.CONTROL_PLANE)
    with LabMachine(PROFILES["cos-like"], metadata) as m:
        result = m.boot(read_files=["/etc/containerd/config.toml"])
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    assert any(c.startswith("kubeadm init") for c in result.calls)
    network = result.raw["applied_manifests"][0]  # the first apply is the pod network
    assert "path: /home/kubernetes/bin/cni" in network and "/opt/cni/bin" not in network
    assert 'bin_dirs = ["/home/kubernetes/bin/cni"]' in result.raw["files"]["/etc/containerd/config.toml"]
    # then the PD CSI driver kubegce rendered (no fetch, no key Secret to patch off), then its classes
    docs = [d for text in result.raw["applied_manifests"] for d in yaml.safe_load_all(text) if d]
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "CSIDriver"] == ["pd.csi.storage.gke.io"]
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "StorageClass"] == ["standard-rwo", "premium-rwo"]
    kinds = [d["kind"] for d in docs]
    assert kinds.index("DaemonSet") < kinds.index("StorageClass")  # the driver before its classes
    assert not any("patch deployment csi-gce-pd-controller" in c for c in result.calls)
    assert not any("gcp-compute-persistent-disk-csi-driver.yaml" in c for c in result.calls)
