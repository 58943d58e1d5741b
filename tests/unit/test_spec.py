from __future__ import annotations

from pathlib import Path

import pytest

from kubegce.errors import SpecError, UserError
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import BootChannel, Role
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

FIXTURES = Path(__file__).parent / "fixtures" / "kops"


def problems_of(bundle) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(validate_bundle(bundle))


def test_default_bundle_is_valid() -> None:
    b = make_bundle()
    assert validate_bundle(b) == []
    assert [s.region for s in b.cluster.spec.subnets] == ["us-central1"]
    cp = b.group("control-plane")
    assert cp is not None and cp.spec.zones == ["us-central1-a"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: setattr(b.cluster.metadata, "name", "Demo_Cluster"), "metadata.name"),
        (lambda b: setattr(b.cluster.spec, "project", "X"), "spec.project"),
        (lambda b: setattr(b.cluster.spec, "zones", ["us-central1"]), "spec.zones[0]"),
        (lambda b: setattr(b.cluster.spec, "kubernetes_version", "1.33"), "spec.kubernetesVersion"),
        (
            lambda b: setattr(b.cluster.spec, "kubernetes_version", "1.20.1"),
            "1.20 is not a Kubernetes minor kubegce runs; use 1.35 to 1.37",
        ),
        (lambda b: setattr(b.cluster.spec.networking, "pod_cidr", "10.0.0.0/12"), "overlaps"),
        (lambda b: setattr(b.cluster.spec.networking, "service_cidr", "not-a-cidr"), "spec.networking.serviceCIDR"),
        (lambda b: setattr(b.instance_groups[1].spec, "max_size", 0), "spec.maxSize: 0 is below spec.minSize"),
        (lambda b: setattr(b.instance_groups[1].spec, "machine_type", "x9-standard-2"), "unknown machine family"),
        (lambda b: setattr(b.instance_groups[1].spec, "machine_type", "e2standard"), "not a GCE machine type"),
        (lambda b: setattr(b.instance_groups[1].spec, "zones", ["us-central1-f"]), "not a cluster zone"),
        (lambda b: setattr(b.instance_groups[1].spec, "taints", ["gpu=true"]), "spec.taints[0]"),
        (lambda b: setattr(b.instance_groups[1].spec, "node_labels", {"bad key!": "x"}), "spec.nodeLabels"),
        (lambda b: setattr(b.cluster.spec, "cloud_labels", {"Team": "x"}), "spec.cloudLabels.Team"),
        (lambda b: setattr(b.instance_groups[0].spec, "role", Role.NODE), "none has role ControlPlane"),
        (lambda b: setattr(b.instance_groups[1].spec, "root_volume_size", 5), "spec.rootVolumeSize"),
    ],
)
def test_validation_names_the_field(mutate, expected) -> None:  # type: ignore[no-untyped-def]
    b = make_bundle()
    mutate(b)
    assert expected in problems_of(b)


def test_zones_are_in_one_region_with_one_subnet() -> None:
    # as in kOps, a cluster lives in one region (issue 11 section 4)
    b = make_bundle(zones=["us-central1-a", "europe-west1-b"])
    assert "the zones are in 2 regions (europe-west1, us-central1)" in problems_of(b)
    b = make_bundle(zones=["us-central1-a", "us-central1-b"])
    assert [s.region for s in b.cluster.spec.subnets] == ["us-central1"]
    b.cluster.spec.subnets = []
    assert "region us-central1 has 0 subnets" in problems_of(b)


def test_unknown_field_has_close_match_hint() -> None:
    doc = """
apiVersion: kubegce.io/v1alpha1
kind: Cluster
metadata: {name: a.example.com}
spec:
  project: my-proj
  zones: [us-central1-a]
  kubernetesVersoin: 1.33.2
  networking: {plugn: calico}
"""
    with pytest.raises(SpecError) as err:
        load_bundles(parse_documents(doc, "c.yaml"), "c.yaml")
    text = str(err.value)
    assert "spec.kubernetesVersoin: unknown field; did you mean 'kubernetesVersion'?" in text
    assert "spec.networking.plugn: unknown field; did you mean 'plugin'?" in text


def test_bad_yaml_and_missing_cluster_are_user_errors() -> None:
    with pytest.raises(UserError, match="not valid YAML"):
        parse_documents("a: [", "x.yaml")
    with pytest.raises(UserError, match="no Cluster document"):
        load_bundles([{"apiVersion": "kubegce.io/v1alpha1", "kind": "InstanceGroup",
                       "metadata": {"name": "n"}, "spec": {"role": "Node"}}], "x.yaml")  # fmt: skip


def test_kops_import_maps_gce_fields_and_warns_once() -> None:
    text = (FIXTURES / "rocky-startup.yaml").read_text()
    bundles, warnings = load_bundles(parse_documents(text, "k.yaml"), "k.yaml")
    (b,) = bundles
    s = b.cluster.spec
    assert s.project == "my-gce-project"
    assert s.kubernetes_version == "1.35.8"
    assert s.ssh_access == ["10.0.0.0/8"]
    assert s.service_account == "nodes@my-gce-project.iam.gserviceaccount.com"
    assert s.networking.pod_cidr == "100.96.0.0/11" and s.networking.service_cidr == "100.64.0.0/13"
    assert s.cloud_labels == {"team": "platform"}
    assert sorted(s.zones) == ["us-east1-b", "us-east1-c"]
    master = b.group("master-us-east1-b")
    nodes = b.group("nodes-us-east1-b")
    assert master is not None and master.spec.role == Role.CONTROL_PLANE and master.spec.root_volume_size == 64
    assert nodes is not None and nodes.spec.taints == ["dedicated=batch:NoSchedule"]
    assert nodes.spec.node_labels == {"pool": "general"}
    # gceUseStartupScript: true imports as channel startup-script on every group
    assert {g.spec.bootstrap.channel for g in b.instance_groups} == {BootChannel.STARTUP_SCRIPT}
    assert {g.spec.zone_distribution for g in b.instance_groups} == {"zonal"}  # kOps groups are per zone
    assert nodes.spec.bootstrap.additional_user_data[0].name == "hello.sh"
    assert len(warnings) == 1
    for field in ("etcdClusters", "iam", "cloudConfig.multizone", "InstanceGroup spec.packages"):
        assert field in warnings[0]
    assert "configBase" not in warnings[0]
    assert validate_bundle(b) == []


def test_kops_import_cloudprovider_object_and_private_subnets() -> None:
    text = (FIXTURES / "ubuntu-cloudconfig.yaml").read_text()
    (b,), _ = load_bundles(parse_documents(text, "k.yaml"), "k.yaml")
    assert b.cluster.spec.project == "other-project"
    assert b.cluster.spec.kubernetes_version == "1.36.4"
    assert b.cluster.spec.networking.plugin == "cilium"
    assert b.cluster.spec.topology == "private"
    assert b.cluster.spec.subnets[0].cidr == "10.10.0.0/20"
    assert validate_bundle(b) == []


def test_kops_import_rejects_other_clouds_and_roles() -> None:
    text = (FIXTURES / "aws.yaml").read_text()
    with pytest.raises(SpecError) as err:
        load_bundles(parse_documents(text, "aws.yaml"), "aws.yaml")
    assert "kubegce runs on gce only" in str(err.value)
    assert "'Bastion' is not supported" in str(err.value)
