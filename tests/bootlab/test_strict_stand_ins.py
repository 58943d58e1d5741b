"""Lab boots against the strict kubeadm and kubelet stand-ins (lab/templates/*_stand_in.py): a
worker's join and a control plane's init pass kubeadm's preflight and the kubelet's flag checks
with what the bootstrap leaves on the node, and a worker whose disk already holds the CA file is
refused as real kubeadm refuses it."""

from __future__ import annotations

import pytest

from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import LabMachine, lab_bundle, render_node_metadata
from kubegce.spec.models import Role
from tests.bootlab.scenarios import IMAGES

pytestmark = pytest.mark.bootlab
CA = "/etc/kubernetes/pki/ca.crt"
CA_REFUSED = "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists"


def machine(role: Role) -> LabMachine:
    bundle = lab_bundle(IMAGES["agent-only"])
    metadata, _ = render_node_metadata(bundle, role=role)
    version = bundle.cluster.spec.kubernetes_version.lstrip("v")
    return LabMachine(PROFILES["agent-only"], metadata, kubernetes_version=version)


def test_a_worker_joins_past_the_strict_stand_ins() -> None:
    with machine(Role.NODE) as m:
        result = m.boot(read_files=["/etc/kubernetes/kubelet.conf", CA])
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    assert any(c.startswith("kubeadm join --config") for c in result.calls)
    kubelet = [c for c in result.calls if c.startswith("kubelet ")]
    assert len(kubelet) == 1 and "--kubeconfig=/etc/kubernetes/kubelet.conf" in kubelet[0], result.calls
    assert result.raw["files"]["/etc/kubernetes/kubelet.conf"]  # the kubelet's TLS bootstrap left it
    assert result.raw["files"][CA]  # written by kubeadm from discovery, not by the bundle


def test_a_control_plane_inits_past_the_strict_stand_ins() -> None:
    with machine(Role.CONTROL_PLANE) as m:
        result = m.boot(read_files=["/etc/kubernetes/kubelet.conf", "/etc/kubernetes/manifests/etcd.yaml"])
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    assert any(c.startswith("kubeadm init --config") for c in result.calls)
    assert any(c.startswith("kubelet ") for c in result.calls)
    assert result.raw["files"]["/etc/kubernetes/manifests/etcd.yaml"]


def test_a_worker_with_the_ca_file_on_its_disk_is_refused_like_real_kubeadm() -> None:
    with machine(Role.NODE) as m:
        result = m.boot(overrides={CA: "-----BEGIN CERTIFICATE-----\n"})
    assert result.guest_attributes["phase"] == "failed", result.runner_output[-3000:]
    assert CA_REFUSED in result.runner_output


def test_a_spot_worker_gets_its_kubelet_shutdown_settings_through_kubeadm_patches() -> None:
    """A Spot group's node: the bootstrap writes the kubeletconfiguration patch where the
    JoinConfiguration's patches.directory points, and kubeadm's kubelet-start writes the kubelet
    config with GCE's 30 s notice in it; the kubelet runs with the Spot label."""
    from kubegce.spec.models import ProvisioningModel

    bundle = lab_bundle(IMAGES["agent-only"])
    nodes = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    nodes.spec.provisioning_model = ProvisioningModel.SPOT
    metadata, _ = render_node_metadata(bundle, role=Role.NODE)
    version = bundle.cluster.spec.kubernetes_version.lstrip("v")
    with LabMachine(PROFILES["agent-only"], metadata, kubernetes_version=version) as m:
        result = m.boot(read_files=["/var/lib/kubelet/config.yaml", "/var/lib/kubelet/kubeadm-flags.env"])
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    config = result.raw["files"]["/var/lib/kubelet/config.yaml"]
    assert "shutdownGracePeriod: 30s" in config and "shutdownGracePeriodCriticalPods: 15s" in config, config
    assert "cloud.google.com/gke-spot=true" in result.raw["files"]["/var/lib/kubelet/kubeadm-flags.env"]
