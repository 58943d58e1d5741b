"""Real google-cloud-compute client against the emulator: plan, apply, converge, delete."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from kubegce import service
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.target import GceTarget
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.errors import UserError
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle
from tests.integration.conftest import resource_names

pytestmark = pytest.mark.integration
CATALOG = Catalog.load()


def target_for(emu: RunningEmulator, seed: int = 0) -> GceTarget:
    return GceTarget(ComputeClients.create(emu.endpoint), "my-proj", "demo.example.com",
                     rng=random.Random(seed), backoff_s=0.01, deadline_s=60)  # fmt: skip


def mutations(emu: RunningEmulator) -> int:
    with emu.state.lock:
        return emu.state.calls.mutations


def test_lifecycle(emulator: RunningEmulator) -> None:
    target = target_for(emulator)
    bundle = make_bundle()
    cp = service.plan(bundle, CATALOG, target=target)
    assert cp.diff.counts()["create"] == len(cp.graph) == 15
    results = service.apply(target, cp)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert len(resource_names(emulator, "instances")) == 3  # 1 control plane + 2 nodes

    cp = service.plan(bundle, CATALOG, target=target)
    assert cp.diff.empty and cp.diff.unchanged == 15
    before = mutations(emulator)
    assert service.apply(target, cp) == []
    assert mutations(emulator) == before  # converged: zero mutating calls

    bundle.instance_groups[1].spec.machine_type = "e2-standard-4"
    cp = service.plan(bundle, CATALOG, target=target)
    summary = sorted((c.action, c.key.kind) for c in cp.diff.changes)
    assert summary == [("create", "instance_template"), ("delete", "instance_template"),
                       ("update", "instance_group_manager"), ("update", "instance_group_manager")]  # fmt: skip
    for change in cp.diff.changes:
        if change.action == "update":
            assert [f.path for f in change.fields] == ["instanceTemplate"]
    assert all(r.ok for r in service.apply(target, cp))
    assert len(resource_names(emulator, "instanceTemplates")) == 2  # old nodes template deleted
    assert service.plan(bundle, CATALOG, target=target).diff.empty

    bundle.instance_groups[1].spec.min_size = bundle.instance_groups[1].spec.max_size = 5
    cp = service.plan(bundle, CATALOG, target=target)
    assert [(c.action, [f.path for f in c.fields]) for c in cp.diff.changes] == [
        ("update", ["targetSize"]), ("update", ["targetSize"])]  # fmt: skip
    assert all(r.ok for r in service.apply(target, cp))
    assert len(resource_names(emulator, "instances")) == 6

    results = service.delete(service.plan_deletion(bundle, target), target)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    with emulator.state.lock:
        assert emulator.state.resources == {}


@pytest.mark.parametrize("seed", range(20))
def test_converges_under_injected_429_and_503(seed: int) -> None:
    with RunningEmulator(0, FaultConfig(fail_rate=0.2, seed=seed, operation_ms=5), boot_seconds=1.0) as emu:
        target = target_for(emu, seed)
        bundle = make_bundle(node_count=4, control_plane_count=3,
                             zones=["us-central1-a", "us-central1-b", "us-central1-c"])  # fmt: skip
        cp = service.plan(bundle, CATALOG, target=target)
        results = service.apply(target, cp)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        with emu.state.lock:
            assert emu.state.calls.failures_injected > 0
            names = Counter(k[2] for k in emu.state.resources)
        assert names["instanceTemplates"] == 2 and names["instanceGroupManagers"] == 6
        assert names["instances"] == 7 and names["forwardingRules"] == 1
        emu.state.faults.fail_rate = 0
        assert service.plan(bundle, CATALOG, target=target).diff.empty


def test_failed_operation_fails_its_branch_only(emulator: RunningEmulator) -> None:
    emulator.state.faults.fail_calls = [("instanceTemplates.insert", 1, 400)]
    target = target_for(emulator)
    bundle = make_bundle()
    cp = service.plan(bundle, CATALOG, target=target)
    results = service.apply(target, cp)
    failed = [r for r in results if not r.ok]
    assert len([r for r in failed if not r.skipped]) == 1
    assert all("instance_group_manager" in r.label for r in failed if r.skipped)
    assert sum(1 for r in results if r.ok) == len(results) - len(failed)
    # the rerun converges
    cp = service.plan(bundle, CATALOG, target=target)
    assert all(r.ok for r in service.apply(target, cp))
    assert service.plan(bundle, CATALOG, target=target).diff.empty


def test_unowned_resources_are_never_touched(emulator: RunningEmulator) -> None:
    target = target_for(emulator)
    bundle = make_bundle()
    cp = service.plan(bundle, CATALOG, target=target)
    assert all(r.ok for r in service.apply(target, cp))
    network = "projects/my-proj/global/networks/demo-example-com"
    foreign: dict[str, Any] = {"name": "allow-web-demo-example-com", "network": network, "description": "team web",
               "allowed": [{"IPProtocol": "tcp", "ports": ["80"]}], "sourceRanges": ["0.0.0.0/0"]}  # fmt: skip
    from kubegce.cloud.graph import ResourceKey

    target.create(ResourceKey("firewall", "global", foreign["name"]), foreign)
    found = target.find()
    assert ResourceKey("firewall", "global", "allow-web-demo-example-com") in found.unowned
    assert service.plan(bundle, CATALOG, target=target).diff.empty
    results = service.delete(service.plan_deletion(bundle, target), target)
    # the network cannot go while the foreign firewall uses it; everything else is gone
    assert [r.label for r in results if not r.ok] == ["delete network/demo-example-com"]
    assert resource_names(emulator, "firewalls") == ["allow-web-demo-example-com"]


def test_name_collision_with_unowned_resource_is_refused(emulator: RunningEmulator) -> None:
    target = target_for(emulator)
    from kubegce.cloud.graph import ResourceKey

    target.create(ResourceKey("network", "global", "demo-example-com"),
                  {"name": "demo-example-com", "autoCreateSubnetworks": False, "description": "not kubegce"})  # fmt: skip
    with pytest.raises(UserError, match="not owned by cluster demo.example.com"):
        service.plan(make_bundle(), CATALOG, target=target)


def test_instances_serve_their_metadata() -> None:
    import json
    import urllib.request

    from kubegce.cloud.gce.instances import list_instances

    with RunningEmulator(0, FaultConfig(), boot_seconds=30.0, serve_metadata=True) as emu:
        target = target_for(emu)
        cp = service.plan(make_bundle(), CATALOG, target=target)
        assert all(r.ok for r in service.apply(target, cp))
        urls = json.loads(urllib.request.urlopen(emu.endpoint + "/_emulator/metadata-servers").read())
        assert len(urls) == 3
        name, url = sorted(urls.items())[0]

        def call(path: str, data: bytes | None = None) -> str:
            req = urllib.request.Request(url + path, data=data, method="PUT" if data else "GET",
                                         headers={"Metadata-Flavor": "Google"})  # fmt: skip
            return str(urllib.request.urlopen(req, timeout=5).read().decode())

        assert call("/instance/attributes/kubegce-boot-channel") == "startup-script"
        assert call("/instance/name") == name
        assert "#!/bin/bash" in call("/instance/attributes/startup-script")
        call("/instance/guest-attributes/kubegce/phase", b"installed")
        views = {v.name: v for v in list_instances(target.clients, "my-proj", "demo.example.com")}
        assert views[name].phase == "installed"  # what the instance wrote, read through getGuestAttributes
        service.delete(service.plan_deletion(make_bundle(), target), target)
        assert emu.state.metadata_servers == {}


def test_private_topology_gets_cloud_nat_and_converges(emulator: RunningEmulator) -> None:
    target = target_for(emulator)
    # a cluster's zones are in one region (spec validation refuses two, as kOps does)
    bundle = make_bundle(topology="private", zones=["us-central1-a", "us-central1-b"])
    cp = service.plan(bundle, CATALOG, target=target)
    routers = [c.key for c in cp.diff.changes if c.key.kind == "router"]
    assert sorted(k.location for k in routers) == ["us-central1"]
    assert all(r.ok for r in service.apply(target, cp))
    assert service.plan(bundle, CATALOG, target=target).diff.empty
    templates = [r for r in cp.graph if r.kind == "instance_template"]
    assert all("accessConfigs" not in r.body["properties"]["networkInterfaces"][0] for r in templates)
    results = service.delete(service.plan_deletion(bundle, target), target)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    with emulator.state.lock:
        assert emulator.state.resources == {}


def test_ipv4_and_ipv6_access_ranges_apply_and_converge(emulator: RunningEmulator) -> None:
    """Issue 15: each access rule is one GCE firewall rule per family (the emulator refuses a rule
    that mixes them, as GCE does); a rerun plans no change."""
    target = target_for(emulator)
    bundle = make_bundle(ssh_access=["203.0.113.0/24", "2001:db8::/32"], api_access=["0.0.0.0/0", "::/0"])
    cp = service.plan(bundle, CATALOG, target=target)
    results = service.apply(target, cp)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    names = resource_names(emulator, "firewalls")
    assert {"https-api-external-demo-example-com", "https-api-external-ipv6-demo-example-com",
            "ssh-external-to-node-ipv6-demo-example-com"} <= set(names)  # fmt: skip
    with emulator.state.lock:
        rules = [r for k, r in emulator.state.resources.items() if k[2] == "firewalls"]
    assert all(len({":" in c for c in r.get("sourceRanges", [])}) <= 1 for r in rules)
    cp = service.plan(bundle, CATALOG, target=target)
    assert cp.diff.empty
    before = mutations(emulator)
    assert service.apply(target, cp) == []
    assert mutations(emulator) == before
    bundle.cluster.spec.ssh_access = ["203.0.113.0/24"]  # drop the IPv6 range: its rule goes
    cp = service.plan(bundle, CATALOG, target=target)
    assert sorted((c.action, c.key.name) for c in cp.diff.changes) == [
        ("delete", "ssh-external-to-control-plane-ipv6-demo-example-com"),
        ("delete", "ssh-external-to-node-ipv6-demo-example-com"),
    ]
    assert all(r.ok for r in service.apply(target, cp))
    assert service.plan(bundle, CATALOG, target=target).diff.empty
    results = service.delete(service.plan_deletion(bundle, target), target)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
