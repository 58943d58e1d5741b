"""Issue 25 item 8: the API's target pool has a health check, so GCE sends no API traffic to a
control plane that is being recreated or not ready. The model, Terraform and the node config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubegce.boot.kubeadm import API_HEALTH_PATH, API_HEALTH_PORT
from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.model import LEGACY_HEALTH_CHECK_RANGES, build_graph
from kubegce.cloud.terraform.render import write_terraform
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle

HA: dict[str, Any] = {"control_plane_count": 3, "zones": ["us-central1-a", "us-central1-b", "us-central1-c"]}


def test_an_ha_cluster_gets_one_health_check_on_its_pool_and_a_firewall_rule_for_the_probers() -> None:
    graph = build_graph(render_cluster_boot(make_bundle(**HA), Catalog.load()))
    checks = [r for r in graph if r.kind == "http_health_check"]
    assert len(checks) == 1
    check = checks[0]
    assert check.location == "global"
    assert check.body["port"] == API_HEALTH_PORT == 3990 and check.body["requestPath"] == API_HEALTH_PATH == "/readyz"
    assert check.body["timeoutSec"] <= check.body["checkIntervalSec"]
    pools = [r for r in graph if r.kind == "target_pool"]
    assert pools and all(p.body["healthChecks"] == [f"projects/my-proj/global/httpHealthChecks/{check.name}"]
                         for p in pools)  # fmt: skip
    assert all(check.key in p.depends_on for p in pools)  # created first, deleted after
    rules = [r for r in graph if r.kind == "firewall" and r.name.startswith("api-health-checks")]
    assert len(rules) == 1
    rule = rules[0].body
    assert rule["sourceRanges"] == LEGACY_HEALTH_CHECK_RANGES == ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["3990"]}]
    assert rule["targetTags"] == [t for t in rule["targetTags"] if "control-plane" in t] and rule["targetTags"]


def test_a_single_control_plane_has_no_pool_and_no_health_check() -> None:
    graph = build_graph(render_cluster_boot(make_bundle(), Catalog.load()))
    assert not [r for r in graph if r.kind in ("http_health_check", "target_pool")]
    assert not [r for r in graph if r.kind == "firewall" and r.name.startswith("api-health-checks")]


def test_terraform_renders_the_check_and_references_it_from_the_pool(tmp_path: Path) -> None:
    write_terraform(build_graph(render_cluster_boot(make_bundle(**HA), Catalog.load())), "us-central1", tmp_path)
    res = json.loads((tmp_path / "kubernetes.tf.json").read_text())["resource"]
    ((name, check),) = res["google_compute_http_health_check"].items()
    assert check["port"] == 3990 and check["request_path"] == "/readyz" and check["project"] == "my-proj"
    assert set(check) == {
        "name",
        "project",
        "description",
        "port",
        "request_path",
        "check_interval_sec",
        "timeout_sec",
        "healthy_threshold",
        "unhealthy_threshold",
    }  # the provider's arguments
    (pool,) = res["google_compute_target_pool"].values()
    assert pool["health_checks"] == [f"${{google_compute_http_health_check.{name}.self_link}}"]


def test_every_node_config_carries_the_ports_and_the_bootstrap_installs_the_responder_on_control_planes() -> None:
    boot = render_cluster_boot(make_bundle(**HA), Catalog.load())
    for gb in boot.groups:
        text = gb.payload.node_config.text
        assert "KUBEGCE_API_PORT=443" in text and "KUBEGCE_API_HEALTH_PORT=3990" in text
        assert "KUBEGCE_API_LOAD_BALANCED=1" in text
        script = gb.payload.startup_script or ""
        # the step runs on every role; install_api_health itself returns on nodes (lib/health.sh)
        assert "step install_api_health" in script and "kubegce-api-health.socket" in script
