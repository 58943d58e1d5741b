"""The cluster autoscaler and kubegce against the emulator: after the autoscaler's resize (the
emulator's /_emulator/autoscale: the resize it would make inside its --nodes range), `update`
plans no size change; a roll of an autoscaled group keeps the autoscaler's sizes and marks the
group's nodes scale-down-disabled only while it runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kubegce import service
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.service import rolling
from kubegce.spec.autoscaler import SCALE_DOWN_DISABLED, MigRange, mig_ranges
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import rolling_sizes_key
from kubegce.state.store import FileStateStore
from tests.integration.test_pace import http

pytestmark = pytest.mark.integration
NAME = "ca.example.com"
CATALOG = Catalog.load()
ZONES = ["us-central1-a", "us-central1-b"]


def admin(emu: RunningEmulator, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    return http(emu, "POST", path, body)


def sizes(emu: RunningEmulator) -> dict[str, tuple[int, int]]:
    """Per node MIG: (targetSize, live instances)."""
    with emu.state.lock:
        migs = {r["selfLink"]: r for k, r in emu.state.resources.items() if k[2] == "instanceGroupManagers"}
        return {r["name"]: (int(r["targetSize"]), sum(1 for i in emu.state.resources.values() if i.get("_mig") == link))
                for link, r in migs.items() if "nodes" in r["name"]}  # fmt: skip


def setup(emu: RunningEmulator, state: str) -> tuple[ClusterRepository, Any, list[MigRange]]:
    repo = ClusterRepository(FileStateStore(Path(state.removeprefix("file://"))))
    b = bundle_from_options(CreateClusterOptions(name=NAME, project="my-proj", zones=ZONES, node_count=2))
    b.cluster.spec.cluster_autoscaler.enabled = True
    nodes = next(g for g in b.instance_groups if g.name == "nodes")
    nodes.spec.min_size, nodes.spec.max_size = 2, 6  # per zone 1..3
    repo.create(b)
    target = service.connect(emu.endpoint, "my-proj", NAME)
    apply(repo, target)
    return repo, target, mig_ranges(b, nodes)


def apply(repo: ClusterRepository, target: Any) -> Any:
    changes = service.plan(repo.get(NAME).bundle, CATALOG, target=target)
    assert all(r.ok for r in service.apply(target, changes))
    return changes


def test_update_after_an_autoscaler_resize_plans_no_size_change(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.1) as emu:
        repo, target, (a, b) = setup(emu, state)
        assert sizes(emu) == {a.name: (1, 1), b.name: (1, 1)}
        code, body = admin(emu, "/_emulator/autoscale", {"zone": a.zone, "instanceGroupManager": a.name,
                                                          "size": 3, "min": a.min, "max": a.max})  # fmt: skip
        assert code == 200, body
        assert sizes(emu)[a.name] == (3, 3)
        # outside its --nodes range the autoscaler never asks: refused, nothing changed
        code, body = admin(emu, "/_emulator/autoscale", {"zone": a.zone, "instanceGroupManager": a.name,
                                                          "size": 4, "min": a.min, "max": a.max})  # fmt: skip
        assert code == 400 and body["error"]["errors"][0]["location"] == "size", body
        changes = service.plan(repo.get(NAME).bundle, CATALOG, target=target)
        assert changes.diff.empty, [str(c.key) for c in changes.diff.changes]
        apply(repo, target)
        assert sizes(emu)[a.name] == (3, 3)
        # a smaller maxSize clamps the autoscaler's size to the new share (2 per zone)
        stored = repo.get(NAME)
        g = next(g for g in stored.bundle.instance_groups if g.name == "nodes")
        g.spec.max_size = 4
        repo.save_group(stored, g)
        changes = service.plan(repo.get(NAME).bundle, CATALOG, target=target)
        fields = {(c.key.name, f.path, f.old, f.new) for c in changes.diff.changes for f in c.fields
                  if c.key.kind == "instance_group_manager" and f.path == "targetSize"}  # fmt: skip
        assert fields == {(a.name, "targetSize", "3", "2")}, fields
        # the autoscaler's --nodes flags live in the control plane's node config: its template changes too
        created = {c.key.name.rsplit("-", 1)[0] for c in changes.diff.changes
                   if c.key.kind == "instance_template" and c.action == "create"}  # fmt: skip
        assert created == {"control-plane-ca-example-com"}, created


def test_a_roll_keeps_the_autoscalers_sizes_and_removes_its_marks(state: str) -> None:
    from kubegce.kube.annotations import node_annotations
    from kubegce.kube.client import KubeClient

    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.2, kube=True) as emu:
        assert emu.cluster is not None
        repo, target, (a, b) = setup(emu, state)
        assert admin(emu, "/_emulator/autoscale", {"zone": a.zone, "instanceGroupManager": a.name, "size": 2,
                                                   "min": a.min, "max": a.max})[0] == 200  # fmt: skip
        kube = KubeClient.from_url(emu.cluster.url)
        deadline = time.monotonic() + 15
        while len(emu.cluster.kube.snapshot().nodes) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        stored = repo.get(NAME)
        g = next(g for g in stored.bundle.instance_groups if g.name == "nodes")
        g.spec.machine_type = "e2-standard-4"
        repo.save_group(stored, g)
        apply(repo, target)
        bundle = repo.get(NAME).bundle
        marked: list[set[str]] = []

        def log(line: str) -> None:  # while the roll runs: which nodes carry the mark
            if "resize" in line or "draining" in line:
                names = [n for n in emu.cluster.kube.snapshot().nodes if "nodes" in n]  # type: ignore[union-attr]
                marked.append(
                    {n for n in names if (node_annotations(kube, n) or {}).get(SCALE_DOWN_DISABLED) == "true"}
                )

        roller = rolling.Roller(target, bundle, kube=kube, store=repo.store, log=log,
                                settings=rolling.Settings(post_drain_delay_s=0, poll_s=0.05))  # fmt: skip
        seen_record = threading.Event()
        original = roller.autoscaler.protect

        def protect(names: list[str]) -> None:
            if repo.store.read(rolling_sizes_key(NAME)) is not None:
                seen_record.set()
            original(names)

        roller.autoscaler.protect = protect  # type: ignore[method-assign,assignment]
        done = rolling.rolling_update(roller, rolling.select_groups(bundle, ["nodes"]))
        assert done == {"nodes": 3}
        assert sizes(emu) == {a.name: (2, 2), b.name: (1, 1)}  # the autoscaler's 2, not the spec's 1
        assert marked and all(m for m in marked), marked  # the old nodes were marked while they were drained
        assert seen_record.is_set() and repo.store.read(rolling_sizes_key(NAME)) is None
        for n in emu.cluster.kube.snapshot().nodes:
            annotations = node_annotations(kube, n) or {}
            assert SCALE_DOWN_DISABLED not in annotations and "kubegce.io/scale-down-disabled-by" not in annotations
        # update after the roll: still no size change
        assert service.plan(repo.get(NAME).bundle, CATALOG, target=target).diff.empty
