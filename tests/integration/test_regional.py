"""Regional managed instance groups (spec.zoneDistribution: regional) through the real client."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from kubegce import service
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.instances import list_instances
from kubegce.cloud.gce.target import GceTarget
from kubegce.diagnose.live import instance_context
from kubegce.diagnose.validate import validate
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle

pytestmark = pytest.mark.integration
CATALOG = Catalog.load()
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def test_regional_group_lifecycle(emulator: RunningEmulator) -> None:
    target = GceTarget(ComputeClients.create(emulator.endpoint), "my-proj", "demo.example.com",
                       rng=random.Random(0), backoff_s=0.01, deadline_s=60)  # fmt: skip
    bundle = make_bundle(zones=ZONES, node_count=4)
    nodes = bundle.instance_groups[1]
    nodes.spec.zone_distribution = "regional"
    cp = service.plan(bundle, CATALOG, target=target)
    kinds = Counter(c.key.kind for c in cp.diff.changes)
    assert kinds["region_instance_group_manager"] == 1 and kinds["instance_group_manager"] == 1  # cp stays zonal
    assert all(r.ok for r in service.apply(target, cp))

    def spread() -> Counter[str]:
        return Counter(v.zone for v in list_instances(target.clients, "my-proj", "demo.example.com")
                       if v.group == nodes.name)  # fmt: skip

    assert sorted(spread().values()) == [1, 1, 2]  # 4 instances over 3 zones, EVEN
    views = [v for v in list_instances(target.clients, "my-proj", "demo.example.com") if v.group == nodes.name]
    assert all(v.name.startswith("nodes-demo-example-com-") and len(v.name.rsplit("-", 1)[1]) == 4 for v in views)
    # diagnose finds a regional member by its zone (its simulated console fills as it boots)
    deadline = time.monotonic() + 30
    while True:
        log, _context = instance_context(target.clients, "my-proj", views[0].zone, views[0].name, CATALOG)
        if log or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert log
    assert service.plan(bundle, CATALOG, target=target).diff.empty  # converged
    report = validate(target)
    assert [g.target for g in report.groups if g.current == g.target] and not [
        p for p in report.problems if "instances" in p and " of " in p]  # fmt: skip

    nodes.spec.machine_type = "e2-standard-4"  # template change
    cp = service.plan(bundle, CATALOG, target=target)
    updates = [c for c in cp.diff.changes if c.action == "update"]
    assert [(c.key.kind, [f.path for f in c.fields]) for c in updates] == [
        ("region_instance_group_manager", ["instanceTemplate"])]  # fmt: skip
    assert all(r.ok for r in service.apply(target, cp))
    assert service.plan(bundle, CATALOG, target=target).diff.empty

    nodes.spec.min_size = nodes.spec.max_size = 6  # resize
    cp = service.plan(bundle, CATALOG, target=target)
    assert [(c.action, [f.path for f in c.fields]) for c in cp.diff.changes] == [("update", ["targetSize"])]
    assert all(r.ok for r in service.apply(target, cp))
    assert sorted(spread().values()) == [2, 2, 2]

    results = service.delete(service.plan_deletion(bundle, target), target)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    with emulator.state.lock:
        assert emulator.state.resources == {}
