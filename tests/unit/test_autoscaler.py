"""The cluster autoscaler: its --nodes flags per zonal MIG (the rendered manifest parsed and
checked whole), the node config carrying it, validation of spec.clusterAutoscaler and
spec.autoscale, kOps's clusterAutoscaler block, and update's rule for the autoscaler's sizes."""

from __future__ import annotations

import base64
import shlex
from typing import Any

import pytest
import yaml

from kubegce.boot import autoscaler as ca
from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.model import build_graph, split_size
from kubegce.cloud.names import gce_name, zone_letter
from kubegce.cloud.planner import plan as diff_graph
from kubegce.images.catalog import Catalog
from kubegce.service.autoscaling import keep_autoscaler_sizes
from kubegce.spec import releases
from kubegce.spec.autoscaler import autoscaled, mig_ranges, split
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import ClusterBundle, Role
from kubegce.spec.validate import bundle_warnings, validate_bundle
from tests.conftest import make_bundle

CATALOG = Catalog.load()
THREE = ["us-central1-a", "us-central1-b", "us-central1-c"]
URL = "https://www.googleapis.com/compute/v1/projects/my-proj/zones/{}/instanceGroups/{}"


def autoscaled_bundle(min_size: int = 2, max_size: int = 7, zones: list[str] | None = None, **ca_fields: Any
                      ) -> ClusterBundle:  # fmt: skip
    b = make_bundle()
    b.cluster.spec.zones = zones or THREE
    b.cluster.spec.cluster_autoscaler.enabled = True
    for k, v in ca_fields.items():
        setattr(b.cluster.spec.cluster_autoscaler, k, v)
    for g in b.instance_groups:
        g.spec.zones = [b.cluster.spec.zones[0]] if g.spec.role == Role.CONTROL_PLANE else list(b.cluster.spec.zones)
        if g.spec.role == Role.NODE:
            g.spec.min_size, g.spec.max_size = min_size, max_size
    return b


def manifest(b: ClusterBundle) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(ca.render_manifest(b)))


def deployment(b: ClusterBundle) -> dict[str, Any]:
    (d,) = [o for o in manifest(b) if o["kind"] == "Deployment"]
    return d


def test_zonal_groups_get_one_nodes_flag_per_mig_with_its_share() -> None:
    b = autoscaled_bundle(min_size=2, max_size=7)
    d = deployment(b)
    (container,) = d["spec"]["template"]["spec"]["containers"]

    def name(zone: str) -> str:  # cloud/model.py's naming
        return gce_name(zone_letter(zone), "nodes", b.cluster.name)

    assert container["command"] == [
        "./cluster-autoscaler", "--v=2", "--cloud-provider=gce", "--expander=least-waste",
        "--scale-down-utilization-threshold=0.5", "--scale-down-delay-after-add=10m",
        "--scale-down-unneeded-time=10m", "--skip-nodes-with-local-storage=true",
        "--balance-similar-node-groups=true", "--leader-elect=true",
        # min 2 over three zones: 1, 1, 0; max 7: 3, 2, 2 (the remainder to the first zones, as the model splits)
        f"--nodes=1:3:{URL.format('us-central1-a', name('us-central1-a'))}",
        f"--nodes=1:2:{URL.format('us-central1-b', name('us-central1-b'))}",
        f"--nodes=0:2:{URL.format('us-central1-c', name('us-central1-c'))}",
    ]  # fmt: skip
    assert container["image"] == f"registry.k8s.io/autoscaling/cluster-autoscaler:v{releases.CLUSTER_AUTOSCALER[36]}"
    pod = d["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["serviceAccountName"] == "cluster-autoscaler"
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert d["metadata"]["namespace"] == "kube-system"
    kinds = [o["kind"] for o in manifest(b)]
    assert kinds == ["ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "Deployment"]


def test_the_mig_names_and_shares_are_the_models() -> None:
    b = autoscaled_bundle(min_size=4, max_size=9)
    graph = build_graph(render_cluster_boot(b, CATALOG))
    migs = {r.name: r for r in graph if r.kind == "instance_group_manager"}
    (nodes,) = [g for g in b.instance_groups if g.name == "nodes"]
    for r in mig_ranges(b, nodes):
        assert migs[r.name].location == r.zone
        assert migs[r.name].body["targetSize"] == r.min
    assert split(9, THREE) == split_size(9, THREE)


def test_a_single_zone_group_and_settings() -> None:
    b = autoscaled_bundle(min_size=1, max_size=5, zones=["us-central1-a"], expander="priority,least-waste",
                          scale_down_utilization_threshold=0.65, scale_down_unneeded_time="1h30m",
                          skip_nodes_with_local_storage=False, balance_similar_node_groups=False)  # fmt: skip
    b.cluster.spec.assets.container_registry = "registry.example.com:5000/k8s"
    (container,) = deployment(b)["spec"]["template"]["spec"]["containers"]
    flags = container["command"]
    assert "--expander=priority,least-waste" in flags and "--scale-down-utilization-threshold=0.65" in flags
    assert "--scale-down-unneeded-time=1h30m" in flags and "--skip-nodes-with-local-storage=false" in flags
    assert "--balance-similar-node-groups=false" in flags
    assert [f for f in flags if f.startswith("--nodes=")] == [
        "--nodes=1:5:" + URL.format("us-central1-a", gce_name("a", "nodes", b.cluster.name))
    ]
    assert container["image"].startswith("registry.example.com:5000/k8s/autoscaling/cluster-autoscaler:v1.36.")


def test_groups_not_autoscaled() -> None:
    b = autoscaled_bundle(min_size=2, max_size=2)
    nodes = next(g for g in b.instance_groups if g.name == "nodes")
    cp = next(g for g in b.instance_groups if g.spec.role == Role.CONTROL_PLANE)
    assert not autoscaled(b, nodes) and not autoscaled(b, cp)  # max == min; control planes never
    assert any("no group is autoscaled" in w for w in bundle_warnings(b))
    nodes.spec.max_size = 4
    nodes.spec.autoscale = False
    assert not autoscaled(b, nodes) and [f for f in deployment(b)["spec"]["template"]["spec"]["containers"][0]
                                          ["command"] if f.startswith("--nodes")] == []  # fmt: skip
    b.cluster.spec.cluster_autoscaler.enabled = False
    nodes.spec.autoscale = None
    assert not autoscaled(b, nodes) and ca.render_manifest(b) == ""


def node_config(b: ClusterBundle, role: Role) -> dict[str, str]:
    boot = render_cluster_boot(b, CATALOG)
    (gb,) = [g for g in boot.groups if g.group.spec.role == role]
    out = {}
    for line in gb.payload.node_config.text.splitlines():
        if line.startswith("KUBEGCE_") and "=(" not in line:
            key, _, value = line.partition("=")
            out[key] = shlex.split(value)[0] if value else ""
    return out


def test_the_first_control_planes_node_config_carries_the_manifest() -> None:
    b = autoscaled_bundle()
    cp = node_config(b, Role.CONTROL_PLANE)
    assert base64.b64decode(cp["KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64"]).decode() == ca.render_manifest(b)
    assert node_config(b, Role.NODE)["KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64"] == ""  # nodes: nothing
    b.cluster.spec.cluster_autoscaler.enabled = False
    assert node_config(b, Role.CONTROL_PLANE)["KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64"] == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: setattr(b.cluster.spec.cluster_autoscaler, "expander", "cheapest"),
         "spec.clusterAutoscaler.expander: 'cheapest' is not an expander the cluster autoscaler knows; use one of "
         "random, most-pods, least-waste, price, priority"),
        (lambda b: setattr(b.cluster.spec.cluster_autoscaler, "expander", "grpc"), "is not an expander"),
        (lambda b: setattr(b.cluster.spec.cluster_autoscaler, "scale_down_utilization_threshold", 1.5),
         "spec.clusterAutoscaler.scaleDownUtilizationThreshold: 1.5 must be above 0 and at most 1"),
        (lambda b: setattr(b.cluster.spec.cluster_autoscaler, "scale_down_delay_after_add", "10 minutes"),
         "spec.clusterAutoscaler.scaleDownDelayAfterAdd: '10 minutes' is not a duration; write whole hours, "
         "minutes and seconds in that order, e.g. 10m, 1h30m or 90s"),
        (lambda b: setattr(b.cluster.spec.cluster_autoscaler, "scale_down_unneeded_time", "5m; rm -rf /"),
         "spec.clusterAutoscaler.scaleDownUnneededTime: '5m; rm -rf /' is not a duration"),
        (lambda b: setattr(b.cluster.spec.cluster_autoscaler, "image", "Registry/ca:$(reboot)"),
         "spec.clusterAutoscaler.image: 'Registry/ca:$(reboot)' is not an image reference"),
        (lambda b: setattr(b.cluster.spec, "kubernetes_version", "1.37.0"),
         "spec.clusterAutoscaler.image: kubegce knows no cluster-autoscaler release for Kubernetes '1.37.0'"),
        (lambda b: setattr(b.instance_groups[1].spec, "zone_distribution", "regional"),
         "instancegroup nodes: spec.zoneDistribution: regional cannot be autoscaled: the cluster autoscaler's "
         "GCE provider takes zonal instance groups only"),
        (lambda b: b.instance_groups[1].spec.__dict__.update(min_size=0, max_size=0, autoscale=True),
         "instancegroup nodes: spec.autoscale: the group's spec.maxSize is 0, so there is nothing to scale; "
         "raise maxSize or set autoscale: false"),
        (lambda b: setattr(b.instance_groups[0].spec, "autoscale", True),
         "instancegroup control-plane: spec.autoscale: a control-plane group is never autoscaled"),
        (lambda b: setattr(b.instance_groups[1].spec, "max_size", 1),
         "instancegroup nodes: spec.maxSize: 1 is below spec.minSize 2; raise maxSize"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_the_fix(change: Any, message: str) -> None:
    b = autoscaled_bundle()
    assert [g.name for g in b.instance_groups] == ["control-plane", "nodes"]
    assert validate_bundle(b) == []
    change(b)
    problems = validate_bundle(b)
    assert any(message in p for p in problems), problems


def test_a_pinned_image_serves_a_minor_without_a_known_release() -> None:
    b = autoscaled_bundle()
    b.cluster.spec.kubernetes_version = "1.37.0"
    b.cluster.spec.cluster_autoscaler.image = "registry.k8s.io/autoscaling/cluster-autoscaler:v1.37.0"
    assert validate_bundle(b) == []
    assert deployment(b)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.37.0")


def test_the_cli_refuses_bad_input_with_exit_2_and_writes_nothing(state: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    spec = tmp_path / "c.yaml"
    spec.write_text(KOPS.replace("expander: least-waste", "expander: biggest"))
    r = subprocess.run([sys.executable, "-m", "kubegce", "create", "-f", str(spec)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "spec.clusterAutoscaler.expander: 'biggest' is not an expander" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "kubegce", "get", "clusters"], capture_output=True, text=True)
    assert "ca.example.com" not in r.stdout


KOPS = """\
apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata: {name: ca.example.com}
spec:
  cloudProvider: gce
  project: my-proj
  kubernetesVersion: 1.36.4
  subnets: [{name: us-central1, region: us-central1, type: Public}]
  networking: {calico: {}}
  clusterAutoscaler:
    enabled: true
    expander: least-waste
    scaleDownUtilizationThreshold: "0.6"
    scaleDownDelayAfterAdd: 10m0s
    scaleDownUnneededTime: 5m0s
    skipNodesWithLocalStorage: false
    balanceSimilarNodeGroups: true
    newPodScaleUpDelay: 0s
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata: {name: control-plane-us-central1-a, labels: {kops.k8s.io/cluster: ca.example.com}}
spec: {role: Master, machineType: e2-standard-2, minSize: 1, maxSize: 1, zones: [us-central1-a]}
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata: {name: nodes, labels: {kops.k8s.io/cluster: ca.example.com}}
spec: {role: Node, machineType: e2-standard-2, minSize: 1, maxSize: 4, zones: [us-central1-a, us-central1-b], autoscale: true}
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata: {name: fixed, labels: {kops.k8s.io/cluster: ca.example.com}}
spec: {role: Node, machineType: e2-standard-2, minSize: 1, maxSize: 3, zones: [us-central1-a], autoscale: false}
"""


def test_kops_cluster_autoscaler_imports() -> None:
    (b,), warnings = load_bundles(parse_documents(KOPS, "kops.yaml"), "kops.yaml")
    s = b.cluster.spec.cluster_autoscaler
    assert (s.enabled, s.expander, s.scale_down_utilization_threshold, s.scale_down_delay_after_add,
            s.scale_down_unneeded_time, s.skip_nodes_with_local_storage, s.balance_similar_node_groups, s.image) == (
        True, "least-waste", 0.6, "10m0s", "5m0s", False, True, None)  # fmt: skip
    groups = {g.name: g for g in b.instance_groups}
    assert groups["nodes"].spec.autoscale is True and groups["fixed"].spec.autoscale is False
    assert validate_bundle(b) == []
    assert [r.name.split("-")[0] for r in mig_ranges(b, groups["nodes"])] == ["a", "b"]
    assert mig_ranges(b, groups["fixed"]) == []
    assert any("Cluster spec.clusterAutoscaler.newPodScaleUpDelay" in w for w in warnings), warnings
    assert "--scale-down-delay-after-add=10m0s" in deployment(b)["spec"]["template"]["spec"]["containers"][0]["command"]


def test_update_keeps_the_autoscalers_size_inside_the_share_and_clamps_outside() -> None:
    b = autoscaled_bundle(min_size=2, max_size=6, zones=THREE[:2])  # per zone: 1..3
    graph = build_graph(render_cluster_boot(b, CATALOG))
    migs = {r.key: r for r in graph if r.kind == "instance_group_manager" and "nodes" in r.name}
    a, bz = sorted(migs, key=lambda k: k.location)
    actual = {k: {**r.body, "targetSize": 1} for k, r in graph.resources.items()}
    actual[a]["targetSize"], actual[bz]["targetSize"] = 3, 5  # the autoscaler's 3; 5 is above the share
    keep_autoscaler_sizes(b, graph, actual)
    diff = diff_graph(graph, actual)
    changed = {(c.key, f.path, f.old, f.new) for c in diff.changes for f in c.fields}
    assert changed == {(bz, "targetSize", "5", "3")}, changed
