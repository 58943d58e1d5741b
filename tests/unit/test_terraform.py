from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.model import build_graph
from kubegce.cloud.terraform.render import write_terraform
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle


def render(tmp_path: Path, **kwargs: Any) -> tuple[dict, Path]:  # type: ignore[type-arg]
    boot = render_cluster_boot(make_bundle(**kwargs), Catalog.load())
    write_terraform(build_graph(boot), "us-central1", tmp_path)
    return json.loads((tmp_path / "kubernetes.tf.json").read_text()), tmp_path


def test_structure_and_references(tmp_path: Path) -> None:
    doc, out = render(tmp_path, cloud_labels={"team": "web"})
    assert doc["provider"]["google"] == {"project": "my-proj", "region": "us-central1"}
    res = doc["resource"]
    assert set(res) == {"google_compute_network", "google_compute_subnetwork", "google_compute_firewall",
                        "google_compute_instance_template", "google_compute_instance_group_manager"}  # fmt: skip
    assert list(res["google_compute_network"]) == ["demo-example-com".replace("-", "_")]
    assert len(res["google_compute_firewall"]) == 8
    # one zonal MIG per zone per group; the single control plane sits in one zone
    assert sorted(res["google_compute_instance_group_manager"]) == [
        "a_control_plane_demo_example_com_us_central1_a", "a_nodes_demo_example_com_us_central1_a",
        "b_nodes_demo_example_com_us_central1_b"]  # fmt: skip
    nodes_b = res["google_compute_instance_group_manager"]["b_nodes_demo_example_com_us_central1_b"]
    assert nodes_b["target_size"] == 1
    assert nodes_b["version"][0]["instance_template"].startswith("${google_compute_instance_template.nodes_demo")
    for tpl in res["google_compute_instance_template"].values():
        assert tpl["labels"]["team"] == "web" and tpl["labels"]["kubegce-cluster"] == "demo-example-com"
        assert tpl["network_interface"][0]["subnetwork"].startswith("${google_compute_subnetwork.")
        assert tpl["lifecycle"] == {"create_before_destroy": True}
        for key, value in tpl["metadata"].items():
            m = re.fullmatch(r'\$\{file\("\$\{path.module\}/data/(.+)"\)\}', value)
            assert m, value
            assert (out / "data" / m.group(1)).exists()
            assert m.group(1).endswith(f"_metadata_{key}")
        assert "startup-script" in tpl["metadata"]


def test_ha_control_plane_gets_a_load_balancer(tmp_path: Path) -> None:
    doc, _ = render(tmp_path, control_plane_count=3, zones=["us-central1-a", "us-central1-b", "us-central1-c"])
    res = doc["resource"]
    assert list(res["google_compute_address"]) == ["api_demo_example_com_us_central1"]
    fr = res["google_compute_forwarding_rule"]["api_demo_example_com_us_central1"]
    assert fr["ip_address"] == "${google_compute_address.api_demo_example_com_us_central1.address}"
    assert fr["port_range"] == "443-443"
    cp = [m for n, m in res["google_compute_instance_group_manager"].items() if "control_plane" in n]
    assert len(cp) == 3 and all(m["target_pools"] for m in cp)


def test_no_secrets_in_terraform(tmp_path: Path) -> None:
    _, out = render(tmp_path)
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_text()
            assert "PRIVATE KEY" not in text
            assert not re.search(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b", text), f  # kubeadm token shape


def test_user_strings_are_not_evaluated_by_terraform(tmp_path: Path) -> None:
    """${...} and %{...} in anything a user wrote reach Terraform as literal text ($${, %%{)."""
    shadow = '${file("/etc/shadow")}'
    directive = "%{ if true }x%{ endif }"
    bundle = make_bundle()
    # spec validation refuses this email (tests/unit/test_hardening_spec.py); the renderer must escape it anyway
    bundle.cluster.spec.service_account = f"x{shadow}@my-proj.iam.gserviceaccount.com"
    graph = build_graph(render_cluster_boot(bundle, Catalog.load(), validate=False))
    # fields validation refuses today: the renderer escapes them anyway (defence in depth)
    for r in graph:
        if r.kind == "instance_template":
            r.body["properties"]["labels"].update(team=directive, owner=shadow)
        if r.kind == "firewall" and "sourceRanges" in r.body:
            r.body["sourceRanges"] = [shadow if "22" in str(r.body["allowed"]) else directive]
    write_terraform(graph, "us-central1", tmp_path)
    text = (tmp_path / "kubernetes.tf.json").read_text()
    res = json.loads(text)["resource"]
    escaped_shadow = '$${file("/etc/shadow")}'
    escaped_directive = "%%{ if true }x%%{ endif }"
    for tpl in res["google_compute_instance_template"].values():
        assert tpl["service_account"][0]["email"] == f"x{escaped_shadow}@my-proj.iam.gserviceaccount.com"
        assert tpl["labels"]["team"] == escaped_directive and tpl["labels"]["owner"] == escaped_shadow
        for value in tpl["metadata"].values():  # kubegce's own expressions stay expressions
            assert value.startswith('${file("${path.module}/data/')
    rules = res["google_compute_firewall"].values()
    assert [escaped_shadow] in [r.get("source_ranges") for r in rules]
    assert [escaped_directive] in [r.get("source_ranges") for r in rules]
    assert any(r["network"].startswith("${google_compute_network.") for r in rules)
    # nothing unescaped is left: every ${ that is not kubegce's own reference is doubled
    for value in _strings(json.loads(text)):
        for m in re.finditer(r"(?<![$%])[$%]\{", value):
            assert value[m.end() :].startswith(("google_compute_", 'file("${path.module}', "path.module}")), value


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_regional_group_renders_a_region_instance_group_manager(tmp_path: Path) -> None:
    bundle = make_bundle(zones=["us-central1-a", "us-central1-b", "us-central1-c"], node_count=4)
    bundle.instance_groups[1].spec.zone_distribution = "regional"
    write_terraform(build_graph(render_cluster_boot(bundle, Catalog.load())), "us-central1", tmp_path)
    res = json.loads((tmp_path / "kubernetes.tf.json").read_text())["resource"]
    ((name, mig),) = res["google_compute_region_instance_group_manager"].items()
    assert name == "nodes_demo_example_com_us_central1"
    assert mig["region"] == "us-central1" and mig["target_size"] == 4
    assert mig["distribution_policy_zones"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert mig["distribution_policy_target_shape"] == "EVEN"
    assert mig["version"][0]["instance_template"].startswith("${google_compute_instance_template.nodes_demo")
    assert len(res["google_compute_instance_group_manager"]) == 1  # the control plane stays zonal


def test_control_planes_keep_their_etcd_disk_and_internal_ip(tmp_path: Path) -> None:
    from kubegce.emulator.discovery import check_body

    boot = render_cluster_boot(make_bundle(control_plane_count=3, zones=["us-central1-a", "us-central1-b", "us-central1-c"]),
                        Catalog.load())  # fmt: skip
    graph = build_graph(boot)
    migs = [r for r in graph if r.key.kind == "instance_group_manager"]
    templates = {r.name: r for r in graph if r.key.kind == "instance_template"}
    for mig in migs:
        template = templates[mig.body["instanceTemplate"].rsplit("/", 1)[-1]]
        disks = template.body["properties"]["disks"]
        assert check_body("InstanceGroupManager", mig.body) == []
        assert check_body("InstanceTemplate", template.body) == []
        if "control-plane" in mig.name:
            assert mig.body["statefulPolicy"] == {"preservedState": {
                "disks": {"etcd": {"autoDelete": "ON_PERMANENT_INSTANCE_DELETION"}},
                "internalIPs": {"nic0": {"autoDelete": "ON_PERMANENT_INSTANCE_DELETION"}}}}  # fmt: skip
            (etcd,) = [d for d in disks if not d["boot"]]
            assert etcd["deviceName"] == "etcd" and "sourceImage" not in etcd["initializeParams"]
        else:  # nodes keep nothing: a replaced node is a new node
            assert "statefulPolicy" not in mig.body and len(disks) == 1

    doc, _ = render(tmp_path, control_plane_count=3, zones=["us-central1-a", "us-central1-b", "us-central1-c"])
    res = doc["resource"]
    for name, mig in res["google_compute_instance_group_manager"].items():
        if "control_plane" in name:
            assert mig["stateful_disk"] == [{"device_name": "etcd", "delete_rule": "ON_PERMANENT_INSTANCE_DELETION"}]
            assert mig["stateful_internal_ip"] == [
                {"interface_name": "nic0", "delete_rule": "ON_PERMANENT_INSTANCE_DELETION"}]  # fmt: skip
        else:
            assert "stateful_disk" not in mig and "stateful_internal_ip" not in mig
    for name, tpl in res["google_compute_instance_template"].items():
        extra = [d for d in tpl["disk"] if not d["boot"]]
        if name.startswith("control_plane"):
            assert extra == [{"boot": False, "auto_delete": True, "device_name": "etcd", "disk_size_gb": 20,
                              "disk_type": "pd-balanced"}]  # fmt: skip
        else:
            assert extra == []


def test_an_autoscaled_groups_migs_leave_target_size_to_the_autoscaler(tmp_path: Path) -> None:
    from kubegce.spec.models import Role

    bundle = make_bundle()
    bundle.cluster.spec.cluster_autoscaler.enabled = True
    nodes = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    nodes.spec.min_size, nodes.spec.max_size = 2, 6
    write_terraform(build_graph(render_cluster_boot(bundle, Catalog.load())), "us-central1", tmp_path)
    migs = json.loads((tmp_path / "kubernetes.tf.json").read_text())["resource"][
        "google_compute_instance_group_manager"
    ]
    for name, mig in migs.items():
        if "nodes" in name:
            assert mig["lifecycle"] == {"ignore_changes": ["target_size"]}, name
        else:
            assert "lifecycle" not in mig, name  # the control plane's size stays kubegce's
