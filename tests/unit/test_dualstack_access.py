"""IPv6 access ranges (issue 15): either family validates, each access rule becomes one GCE firewall
rule per family (GCE refuses a rule that mixes them), in the Compute graph and in Terraform."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kubegce.boot.plans import render_cluster_boot
from kubegce.boot.render import template
from kubegce.cloud.kinds.firewall import split_by_family
from kubegce.cloud.model import build_graph
from kubegce.cloud.terraform.render import write_terraform
from kubegce.emulator.compute import ComputeApi, ComputeState, FaultConfig
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import ClusterBundle
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

FIXTURES = Path(__file__).parent / "fixtures" / "kops"
CATALOG = Catalog.load()


def firewalls(bundle: ClusterBundle) -> dict[str, dict[str, Any]]:
    graph = build_graph(render_cluster_boot(bundle, CATALOG))
    return {r.name: r.body for r in graph if r.kind == "firewall"}


def test_split_keeps_each_family_and_names_the_ipv6_rule() -> None:
    assert split_by_family("ssh", ["10.0.0.0/8", "::/0", "0.0.0.0/0", "2001:db8::/32"]) == [
        ("ssh", ["10.0.0.0/8", "0.0.0.0/0"]),
        ("ssh-ipv6", ["::/0", "2001:db8::/32"]),
    ]
    assert split_by_family("ssh", ["::/0"]) == [("ssh-ipv6", ["::/0"])]
    assert split_by_family("ssh", ["192.0.2.0/24"]) == [("ssh", ["192.0.2.0/24"])]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("::/0", True),
        ("2001:db8::/32", True),
        ("0.0.0.0/0", True),
        ("2001:db8::1/32", False),  # host bits set: not the network form
        ("10.0.0.1/8", False),
        ("::/0 ", False),
        ("::/0\n", False),
        ("2001:db8::/129", False),
        ("fe80::/10%eth0", False),
        ("any", False),
    ],
)
def test_access_ranges_of_either_family_validate(value: str, ok: bool) -> None:
    for field in ("ssh_access", "kubernetes_api_access"):
        b = make_bundle()
        setattr(b.cluster.spec, field, ["0.0.0.0/0", value])
        problems = validate_bundle(b)
        if ok:
            assert problems == []
        else:
            name = "sshAccess" if field == "ssh_access" else "kubernetesApiAccess"
            assert len(problems) == 1 and problems[0].startswith(f"spec.{name}[1]: ") and "is not a CIDR" in problems[0]


def test_default_access_is_ipv4_only_and_unchanged() -> None:
    fw = firewalls(make_bundle())
    assert not [n for n in fw if "ipv6" in n]
    assert fw["ssh-external-to-node-demo-example-com"]["sourceRanges"] == ["0.0.0.0/0"]


def test_each_access_rule_becomes_one_rule_per_family(tmp_path: Path) -> None:
    b = make_bundle()
    b.cluster.spec.ssh_access = ["203.0.113.0/24", "2001:db8::/32"]
    b.cluster.spec.kubernetes_api_access = ["0.0.0.0/0", "::/0"]
    fw = firewalls(b)
    for base in ("ssh-external-to-node", "ssh-external-to-control-plane", "https-api-external"):
        v4, v6 = fw[f"{base}-demo-example-com"], fw[f"{base}-ipv6-demo-example-com"]
        assert v4["allowed"] == v6["allowed"] and v4["targetTags"] == v6["targetTags"]
        assert all(":" not in r for r in v4["sourceRanges"]) and all(":" in r for r in v6["sourceRanges"])
    assert fw["https-api-external-ipv6-demo-example-com"]["sourceRanges"] == ["::/0"]
    write_terraform(build_graph(render_cluster_boot(b, CATALOG)), "us-central1", tmp_path)
    doc = json.loads((tmp_path / "kubernetes.tf.json").read_text())
    tf = {v["name"]: v for v in doc["resource"]["google_compute_firewall"].values()}
    assert tf["ssh-external-to-node-ipv6-demo-example-com"]["source_ranges"] == ["2001:db8::/32"]
    assert tf["ssh-external-to-node-demo-example-com"]["source_ranges"] == ["203.0.113.0/24"]
    assert set(tf) == set(fw)


def kops_bundle(name: str) -> ClusterBundle:
    text = (FIXTURES / name).read_text()
    (b,), _ = load_bundles(parse_documents(text, name), name)
    return b


@pytest.mark.parametrize("fixture", ["gce-single-dualstack-access.yaml", "gce-ha-private-long-name.yaml"])
def test_kops_generated_manifests_import_and_render_one_rule_per_family(fixture: str) -> None:
    b = kops_bundle(fixture)
    assert b.cluster.spec.ssh_access == ["0.0.0.0/0", "::/0"]
    assert b.cluster.spec.kubernetes_api_access == ["0.0.0.0/0", "::/0"]
    assert validate_bundle(b) == []
    fw = firewalls(b)
    assert all(len(n) <= 63 for n in fw)
    ipv6 = {n: body for n, body in fw.items() if body.get("sourceRanges") == ["::/0"]}
    assert len(ipv6) == 3 and all("ipv6" in n for n in ipv6)
    assert len(set(fw)) == len(fw)
    for body in fw.values():  # never a rule GCE would refuse
        ranges = body.get("sourceRanges", [])
        assert len({":" in r for r in ranges}) <= 1


def test_kops_ha_private_long_name() -> None:
    b = kops_bundle("gce-ha-private-long-name.yaml")
    assert b.cluster.spec.topology == "private"
    assert sum(g.spec.min_size for g in b.instance_groups if g.spec.role.value == "ControlPlane") == 3
    names = sorted(firewalls(b))
    assert any(n.startswith("ssh-external-to-control-plane-ipv6-") for n in names)


def api() -> ComputeApi:
    return ComputeApi(ComputeState(FaultConfig()))


def test_emulator_refuses_a_firewall_mixing_families() -> None:
    a = api()
    a.handle("POST", "/compute/v1/projects/p/global/networks", {"name": "net"})
    rule = {"name": "fw", "network": "projects/p/global/networks/net", "allowed": [{"IPProtocol": "tcp"}],
            "sourceRanges": ["0.0.0.0/0", "::/0"]}  # fmt: skip
    status, err = a.handle("POST", "/compute/v1/projects/p/global/firewalls", rule)
    assert status == 400
    e = err["error"]["errors"][0]
    assert e["reason"] == "invalid" and "resource.sourceRanges[1]" in e["message"] and "::/0" in e["message"]
    status, _ = a.handle("POST", "/compute/v1/projects/p/global/firewalls", {**rule, "sourceRanges": ["::/0"]})
    assert status == 200
    status, err = a.handle(
        "PATCH", "/compute/v1/projects/p/global/firewalls/fw", {"sourceRanges": ["::/0", "10.0.0.0/8"]}
    )
    assert status == 400 and "mixed" in err["error"]["errors"][0]["message"]


def test_kops_cni_imports_as_bring_your_own_network() -> None:
    b = kops_bundle("gce-single-dualstack-access.yaml")
    assert b.cluster.spec.networking.plugin == "none"
    assert b.cluster.spec.networking.pod_cidr == "100.96.0.0/11"  # from nonMasqueradeCIDR, as kOps carves it
    boot = render_cluster_boot(b, CATALOG)
    assert boot.warnings == []  # no "pin the manifest's sha256" warning: there is no manifest
    for g in boot.groups:
        config = g.metadata["kubegce-node-config"]
        assert "KUBEGCE_NETWORK_MANIFEST_URL=''" in config and "KUBEGCE_NETWORK_MANIFEST_SHA256=''" in config
        assert "calico" not in config and "cilium" not in config


def test_kops_gce_networking_is_refused_with_the_supported_list() -> None:
    text = (FIXTURES / "gce-single-dualstack-access.yaml").read_text().replace("    cni: {}", "    gce: {}")
    with pytest.raises(SpecError) as err:
        load_bundles(parse_documents(text, "k.yaml"), "k.yaml")
    message = str(err.value)
    assert "spec.networking: 'gce' (GCE-native routing)" in message
    assert all(n in message for n in ("calico", "cilium", "cni"))


@pytest.mark.parametrize(("url", "fetched"), [("", False), ("https://example.com/calico.yaml", True)])
def test_the_bootstrap_skips_the_network_manifest_for_none(tmp_path: Path, url: str, fetched: bool) -> None:
    join = template("lib/join.sh")
    names = "install_addons|install_network_manifest|install_storage|install_cluster_autoscaler|install_device_plugin"
    fns = "\n".join(m.group(0) for m in re.finditer(rf"^({names})\(\) \{{.*?^\}}", join, re.M | re.S))
    code = (
        'log() { echo "LOG $*"; }\nfetch_asset() { echo "FETCH $1"; }\n'
        f"{fns}\nRUN_DIR={tmp_path}\nKUBEGCE_ROLE=control-plane\nKUBEGCE_FIRST_CONTROL_PLANE=1\n"
        f"KUBEGCE_BIN_DIR={tmp_path}\nKUBEGCE_CNI_BIN_DIR=/opt/cni/bin\nKUBEGCE_CLOUD_CONTROLLER_MANAGER=0\n"
        'KUBEGCE_NETWORK_MANIFEST_SHA256=""\nset -euo pipefail\ninstall_addons\necho DONE\n'
    )
    kubectl = tmp_path / "kubectl"
    kubectl.write_text('#!/bin/sh\necho "KUBECTL $*"\n')
    kubectl.chmod(0o755)
    res = subprocess.run(["bash", "-c", code], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "KUBEGCE_NETWORK_MANIFEST_URL": url})  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.endswith("DONE\n")
    assert ("FETCH" in res.stdout) is fetched and ("KUBECTL" in res.stdout) is fetched
    assert ("nodes stay NotReady" in res.stdout) is not fetched
