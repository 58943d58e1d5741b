"""A control plane's "existing etcd disk" branch (lib/etcd.sh) with the lab's stand-ins: a first
boot initialises and records its address; a recreated boot (a fresh boot disk, the kept etcd disk)
with the same address restores the member without kubeadm init/join; with another address it
fails with the mismatch and `diagnose` names it; a version change upgrades through kubeadm."""

from __future__ import annotations

import pytest

from kubegce.boot import protocol
from kubegce.diagnose.analyze import Context, analyze
from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import LabMachine, lab_bundle, lab_catalog, render_node_metadata
from kubegce.spec import releases
from kubegce.spec.models import Role
from tests.bootlab.scenarios import ETCD_RECORD, IMAGES, KEPT_FILES, kept_etcd_disk

pytestmark = pytest.mark.bootlab
RECORD = ETCD_RECORD
V = releases.DEFAULT_VERSION  # 1.36.4
PREVIOUS = f"1.{releases.DEFAULT.minor - 1}.8"
TWO_BACK = f"1.{releases.DEFAULT.minor - 2}.0"
LAB_IP = "10.0.16.2"  # the lab metadata server's instance address


def control_plane_metadata(version: str = releases.DEFAULT_VERSION) -> dict[str, str]:
    bundle = lab_bundle(IMAGES["agent-only"])
    bundle.cluster.spec.kubernetes_version = version
    metadata, _ = render_node_metadata(bundle, role=Role.CONTROL_PLANE)
    return metadata


def kubeadm_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("kubeadm ")]


def test_first_boot_inits_and_records_then_a_recreated_boot_restores() -> None:
    metadata = control_plane_metadata()
    with LabMachine(PROFILES["agent-only"], metadata) as first:
        result = first.boot(read_files=[RECORD, "/etc/kubernetes/kubelet.conf"])
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    assert any(c.startswith("kubeadm init") for c in result.calls)
    record = result.raw["files"][RECORD]
    assert f"ADVERTISE_ADDRESS={LAB_IP}\n" in record and f"KUBERNETES_VERSION={V}\n" in record
    assert "FIRST_CONTROL_PLANE=1\n" in record
    assert "etcd-disk=none" in result.runner_output  # the lab has no block device: no mkfs, no mount
    assert not any(c.startswith("mount") for c in result.calls)

    # recreated: a fresh boot disk with the kept etcd disk's content
    kept = {
        **KEPT_FILES,
        RECORD: record,
        "/etc/kubernetes/kubelet.conf": result.raw["files"]["/etc/kubernetes/kubelet.conf"],
    }
    with LabMachine(PROFILES["agent-only"], metadata) as again:
        second = again.boot(overrides=kept, read_files=[RECORD])
    assert second.guest_attributes["phase"] == "joined", second.runner_output[-3000:]
    assert kubeadm_calls(second.calls) == []  # neither init nor join, nor an upgrade
    assert protocol.etcd_restored_line(LAB_IP) in second.runner_output
    assert second.raw["files"][RECORD] == record
    assert any(c.startswith("kubectl --kubeconfig /etc/kubernetes/admin.conf apply") for c in second.calls)
    # kubeadm, which starts the kubelet otherwise, did not run: the restore starts it (issue 25 item 7)
    assert "systemctl restart kubelet" in second.calls


def test_a_kept_disk_without_the_kubelets_files_is_refused_by_name() -> None:
    kept = kept_etcd_disk(LAB_IP)
    del kept["/var/lib/kubelet/config.yaml"]
    with LabMachine(PROFILES["agent-only"], control_plane_metadata()) as m:
        result = m.boot(overrides=kept)
    assert result.guest_attributes["phase"] == "failed"
    assert "/var/lib/kubelet/config.yaml" in result.guest_attributes["error"]
    assert kubeadm_calls(result.calls) == []


def test_recreated_with_another_address_fails_with_the_mismatch() -> None:
    metadata = control_plane_metadata()
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(overrides=kept_etcd_disk("10.0.16.77"))
        log = m.serial_log(result)
    assert result.guest_attributes["phase"] == "failed"
    assert result.guest_attributes["error"] == "kubeadm_join: " + protocol.etcd_mismatch_error("10.0.16.77", LAB_IP)
    assert kubeadm_calls(result.calls) == []
    d = analyze(log, Context(metadata=metadata, image=lab_catalog().resolve(IMAGES["agent-only"]).profile,
                             guest_attributes=result.guest_attributes))  # fmt: skip
    assert d.cause == protocol.ETCD_ADDRESS_MISMATCH and "10.0.16.77" in d.error
    assert analyze(log).cause == protocol.ETCD_ADDRESS_MISMATCH  # the serial console alone says it too


@pytest.mark.parametrize(("recorded", "upgrade"), [(PREVIOUS, f"kubeadm upgrade apply --yes v{V}"), (TWO_BACK, "")])
def test_a_version_change_upgrades_one_minor_version(recorded: str, upgrade: str) -> None:
    metadata = control_plane_metadata()
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(overrides=kept_etcd_disk(LAB_IP, recorded), read_files=[RECORD])
    if upgrade:
        assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
        assert kubeadm_calls(result.calls) == [upgrade]
        assert f"KUBERNETES_VERSION={V}\n" in result.raw["files"][RECORD]
    else:  # two minor versions at once: kubeadm cannot, so the bootstrap refuses before touching etcd
        assert result.guest_attributes["phase"] == "failed"
        assert "kubernetes-version-skew" in result.guest_attributes["error"]
        assert kubeadm_calls(result.calls) == []
