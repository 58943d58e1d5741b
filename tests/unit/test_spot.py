"""Spot node groups: the template's scheduling (Compute body and Terraform, against the google
provider's schema), the kubelet's label and graceful shutdown, validation, kOps import, and the
emulator's checks of a Spot template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegce.boot.kubeadm import (
    KUBELET_PATCH_DIR,
    SPOT_KUBELET_PATCH,
    kubelet_args,
    kubelet_patch,
    render_kubeadm_config,
)
from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.model import build_graph, scheduling
from kubegce.cloud.terraform.render import write_terraform
from kubegce.emulator.compute.errors import ApiError
from kubegce.emulator.compute.handlers import check_scheduling
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from kubegce.spec.loader import load_bundles
from kubegce.spec.models import SPOT_NODE_LABEL, ClusterBundle, InstanceGroup, ProvisioningModel, Role
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

# The attributes of google_compute_instance_template's scheduling block in the google provider
# (hashicorp/terraform-provider-google, google/services/compute/resource_compute_instance_template.go:
# schedulingInstTemplateKeys and the block's schema), with their types.
PROVIDER_SCHEDULING = {
    "on_host_maintenance": str, "automatic_restart": bool, "preemptible": bool, "node_affinities": list,
    "min_node_cpus": int, "provisioning_model": str, "instance_termination_action": str,
    "max_run_duration": list, "on_instance_stop_action": list, "local_ssd_recovery_timeout": list,
}  # fmt: skip


def spot_bundle(**spec: Any) -> ClusterBundle:
    bundle = make_bundle()
    nodes = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    nodes.spec.provisioning_model = ProvisioningModel.SPOT
    for k, v in spec.items():
        setattr(nodes.spec, k, v)
    return bundle


def group(bundle: ClusterBundle, role: Role) -> InstanceGroup:
    return next(g for g in bundle.instance_groups if g.spec.role == role)


def test_spot_scheduling_is_what_gce_requires() -> None:
    b = spot_bundle()
    assert scheduling(group(b, Role.NODE)) == {"provisioningModel": "SPOT", "automaticRestart": False,
                                               "onHostMaintenance": "TERMINATE", "instanceTerminationAction": "DELETE"}  # fmt: skip
    assert scheduling(group(spot_bundle(instance_termination_action="STOP"), Role.NODE))[
        "instanceTerminationAction"] == "STOP"  # fmt: skip
    # a standard group's template is as it was (its hash, so no roll of existing clusters)
    assert scheduling(group(b, Role.CONTROL_PLANE)) == {"automaticRestart": True, "onHostMaintenance": "MIGRATE"}
    graph = build_graph(render_cluster_boot(b, Catalog.load()))
    templates = {r.name: r.body for r in graph.resources.values() if r.kind == "instance_template"}
    assert any(t["properties"]["scheduling"].get("provisioningModel") == "SPOT" for t in templates.values())
    for t in templates.values():
        check_scheduling(t["properties"]["scheduling"], "resource.properties.scheduling")  # the emulator's GCE rules


def test_terraform_scheduling_uses_the_providers_attributes(tmp_path: Path) -> None:
    write_terraform(build_graph(render_cluster_boot(spot_bundle(), Catalog.load())), "us-central1", tmp_path)
    doc = json.loads((tmp_path / "kubernetes.tf.json").read_text())
    blocks = {name: t["scheduling"] for name, t in doc["resource"]["google_compute_instance_template"].items()}
    for name, block in blocks.items():
        assert len(block) == 1
        for attr, value in block[0].items():
            assert attr in PROVIDER_SCHEDULING, (name, attr)
            assert isinstance(value, PROVIDER_SCHEDULING[attr]), (name, attr, value)
    spot = [b[0] for n, b in blocks.items() if n.startswith("nodes")]
    assert spot and all(b == {"automatic_restart": False, "on_host_maintenance": "TERMINATE",
                              "provisioning_model": "SPOT", "preemptible": True,
                              "instance_termination_action": "DELETE"} for b in spot)  # fmt: skip
    cp = [b[0] for n, b in blocks.items() if n.startswith("control")]
    assert cp == [{"automatic_restart": True, "on_host_maintenance": "MIGRATE"}]


def test_spot_nodes_carry_the_label_and_shut_down_within_gces_notice() -> None:
    b = spot_bundle()
    spot, cp = group(b, Role.NODE), group(b, Role.CONTROL_PLANE)
    labels = kubelet_args(b, spot)["node-labels"].split(",")
    assert f"{SPOT_NODE_LABEL}=true" in labels
    assert "node-labels" not in kubelet_args(b, cp)
    # the Spot group's own kubelet settings: a kubeadm patch its JoinConfiguration points at
    join = list(yaml.safe_load_all(render_kubeadm_config(b, spot, "api.internal")))
    assert [d["kind"] for d in join] == ["JoinConfiguration"]
    assert join[0]["patches"] == {"directory": KUBELET_PATCH_DIR}
    patch = yaml.safe_load(kubelet_patch(spot))
    assert patch == SPOT_KUBELET_PATCH and patch["kind"] == "KubeletConfiguration"
    total = int(patch["shutdownGracePeriod"].removesuffix("s"))
    critical = int(patch["shutdownGracePeriodCriticalPods"].removesuffix("s"))
    assert total == 30 and 0 < critical <= total  # GCE's notice; the kubelet refuses critical > total
    text = render_cluster_boot(b, Catalog.load()).groups
    configs = {gb.group.name: gb.metadata.get("kubegce-node-config", "") for gb in text}
    assert "KUBEGCE_KUBELET_PATCH_B64" in configs["nodes"]
    # other groups are untouched: no patch, no KubeletConfiguration for the cluster's ConfigMap
    assert kubelet_patch(cp) == "" and "KUBEGCE_KUBELET_PATCH_B64" not in configs["control-plane"]
    cp_docs = list(yaml.safe_load_all(render_kubeadm_config(b, cp, "api.internal")))
    assert all("patches" not in d and d["kind"] != "KubeletConfiguration" for d in cp_docs)


def problems_of(bundle: ClusterBundle) -> list[str]:
    return validate_bundle(bundle)


def test_spot_control_planes_are_refused_unless_allowed() -> None:
    b = make_bundle()
    cp = group(b, Role.CONTROL_PLANE)
    cp.spec.provisioning_model = ProvisioningModel.SPOT
    found = problems_of(b)
    assert any("spec.provisioningModel: SPOT on a control-plane group is refused" in p and "quorum" in p
               and "spec.allowSpotControlPlane: true" in p for p in found), found  # fmt: skip
    cp.spec.allow_spot_control_plane = True
    assert problems_of(b) == []
    assert scheduling(cp)["provisioningModel"] == "SPOT"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provisioning_model": ProvisioningModel.STANDARD, "instance_termination_action": "STOP"},
         "spec.instanceTerminationAction: STOP is what GCE does when it preempts"),
        ({"provisioning_model": ProvisioningModel.STANDARD, "allow_spot_control_plane": True},
         "spec.allowSpotControlPlane: only for a control-plane group"),
        ({"node_labels": {SPOT_NODE_LABEL: "false"}}, f"spec.nodeLabels.{SPOT_NODE_LABEL}: kubegce sets it"),
        ({"node_labels": {SPOT_NODE_LABEL: "true"}}, f"spec.nodeLabels.{SPOT_NODE_LABEL}: kubegce sets it"),
        ({"provisioning_model": ProvisioningModel.STANDARD, "node_labels": {SPOT_NODE_LABEL: "true"}},
         f"spec.nodeLabels.{SPOT_NODE_LABEL}: kubegce sets it"),
    ],
)  # fmt: skip
def test_spot_settings_that_do_not_go_together(change: dict[str, Any], message: str) -> None:
    found = problems_of(spot_bundle(**change))
    assert any(message in p for p in found), found


def documents(group_spec: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = {"apiVersion": "kubegce.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "s.example.com"},
               "spec": {"project": "my-proj", "zones": ["us-central1-a"]}}  # fmt: skip
    cp = {"apiVersion": "kubegce.io/v1alpha1", "kind": "InstanceGroup",
          "metadata": {"name": "control-plane", "labels": {"kubegce.io/cluster": "s.example.com"}},
          "spec": {"role": "ControlPlane", "zones": ["us-central1-a"]}}  # fmt: skip
    nodes = {"apiVersion": "kubegce.io/v1alpha1", "kind": "InstanceGroup",
             "metadata": {"name": "nodes", "labels": {"kubegce.io/cluster": "s.example.com"}},
             "spec": {"role": "Node", "zones": ["us-central1-a"], **group_spec}}  # fmt: skip
    return [cluster, cp, nodes]


@pytest.mark.parametrize("value", ["spot", "PREEMPTIBLE", "SPOT\n${x}", 3, ["SPOT"]])
def test_an_unknown_provisioning_model_names_the_field(value: Any) -> None:
    with pytest.raises(SpecError) as err:
        load_bundles(documents({"provisioningModel": value}), "spec.yaml")
    text = str(err.value)
    assert "provisioningModel" in text and "SPOT\n" not in text  # shown escaped, never raw


def test_spot_documents_load() -> None:
    bundles, _ = load_bundles(documents({"provisioningModel": "SPOT", "instanceTerminationAction": "STOP"}), "s.yaml")
    nodes = bundles[0].group("nodes")
    assert nodes is not None and nodes.spec.provisioning_model == ProvisioningModel.SPOT
    assert validate_bundle(bundles[0]) == []


def kops_documents(ig_spec: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = {"apiVersion": "kops.k8s.io/v1alpha2", "kind": "Cluster", "metadata": {"name": "k.example.com"},
               "spec": {"cloudProvider": "gce", "project": "my-proj", "kubernetesVersion": "1.34.2",
                        "subnets": [{"name": "us-central1", "region": "us-central1", "type": "Public"}]}}  # fmt: skip
    master = {"apiVersion": "kops.k8s.io/v1alpha2", "kind": "InstanceGroup",
              "metadata": {"name": "master", "labels": {"kops.k8s.io/cluster": "k.example.com"}},
              "spec": {"role": "Master", "zones": ["us-central1-a"], "minSize": 1, "maxSize": 1}}  # fmt: skip
    nodes = {"apiVersion": "kops.k8s.io/v1alpha2", "kind": "InstanceGroup",
             "metadata": {"name": "nodes", "labels": {"kops.k8s.io/cluster": "k.example.com"}},
             "spec": {"role": "Node", "zones": ["us-central1-a"], "minSize": 2, "maxSize": 2, **ig_spec}}  # fmt: skip
    return [cluster, master, nodes]


def test_kops_gcp_provisioning_model_imports() -> None:
    bundles, warnings = load_bundles(kops_documents({"gcpProvisioningModel": "SPOT"}), "kops.yaml")
    nodes = bundles[0].group("nodes")
    assert nodes is not None and nodes.spec.provisioning_model == ProvisioningModel.SPOT
    assert not any("gcpProvisioningModel" in w for w in warnings)
    with pytest.raises(SpecError) as err:
        load_bundles(kops_documents({"gcpProvisioningModel": "CHEAP"}), "kops.yaml")
    assert "provisioningModel" in str(err.value)


@pytest.mark.parametrize(
    ("sched", "field"),
    [
        ({"provisioningModel": "SPOT", "automaticRestart": True, "onHostMaintenance": "TERMINATE"}, "automaticRestart"),
        ({"provisioningModel": "SPOT", "automaticRestart": False, "onHostMaintenance": "MIGRATE"}, "onHostMaintenance"),
        ({"provisioningModel": "SPOT", "automaticRestart": False}, "onHostMaintenance"),
        ({"provisioningModel": "CHEAP"}, "provisioningModel"),
        ({"provisioningModel": "SPOT", "automaticRestart": False, "onHostMaintenance": "TERMINATE",
          "instanceTerminationAction": "HIBERNATE"}, "instanceTerminationAction"),
    ],
)  # fmt: skip
def test_the_emulator_refuses_a_spot_template_gce_refuses(sched: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as err:
        check_scheduling(sched, "resource.properties.scheduling")
    assert f"resource.properties.scheduling.{field}" in str(err.value.body())


def test_stop_is_warned() -> None:
    from kubegce.spec.validate import bundle_warnings

    assert any(
        "STOP keeps a preempted VM" in w for w in bundle_warnings(spot_bundle(instance_termination_action="STOP"))
    )
    assert not any("STOP" in w for w in bundle_warnings(spot_bundle()))
