"""Every registered GCE resource kind is complete, and every kind the model emits is registered.

A kind lives in one module of kubegce.cloud.kinds; this test fails when a registered kind lacks
its scope, comparison, update rule, API binding, dependencies (from which delete ordering is
derived), Terraform rendering or the emulator handler that serves it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from google.cloud import compute_v1

from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.executor import execute
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.tasks import tasks_for
from kubegce.cloud.kinds import RANK, REGISTRY, Kind, delete_after, kind
from kubegce.cloud.kinds.base import ApiBinding, TfRendering
from kubegce.cloud.model import build_graph
from kubegce.cloud.planner import Change, Plan
from kubegce.cloud.resources import ResourceKey
from kubegce.emulator.compute import HANDLERS
from kubegce.emulator.discovery import document
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle

EMULATOR_SCOPE = {"global": "global", "region": "regions", "zone": "zones"}
DISCOVERY = document()
CLIENT_FIELDS = {f.name for f in dataclasses.fields(ComputeClients)}


def problems(k: Kind) -> list[str]:
    """What a kind lacks (empty when it is complete)."""
    out: list[str] = []
    if k.scope not in EMULATOR_SCOPE:
        out.append(f"scope {k.scope!r} is not global, region or zone")
    if not callable(k.compare):
        out.append("no comparison")
    if k.update is not None and not callable(k.update):
        out.append("update is neither a callable nor None (replace)")
    a = k.api
    if not isinstance(a, ApiBinding):
        return [*out, "no API binding"]
    if a.client in CLIENT_FIELDS:
        out.append(f"client name {a.client!r} hides a ComputeClients field")
    for type_name in (a.client_type, a.message) if a.library else ():
        if not hasattr(compute_v1, type_name):
            out.append(f"compute_v1 has no type {type_name!r}")
    if not a.library:  # every call as JSON: Google's discovery document must define them all
        methods = DISCOVERY.get("resources", {}).get(a.collection, {}).get("methods", {})
        missing = {"insert", "get", "delete", "list", "patch"} - set(methods)
        if missing:
            out.append(f"Compute v1 has no {sorted(missing)} for {a.collection}")
    if (k.scope == "global") != (a.aggregated_field == ""):
        out.append("an aggregated field is wanted exactly for regional and zonal kinds")
    elif a.aggregated_field:
        segment = a.path or a.collection  # the JSON list reads projects/P/aggregated/<segment>
        scoped_name = segment[:1].upper() + segment[1:] + "ScopedList"
        scoped = getattr(compute_v1, scoped_name, None)
        if scoped is None or a.aggregated_field not in scoped.meta.fields:
            out.append(f"aggregated field {a.aggregated_field!r} is not in {segment}'s scoped list ({scoped_name})")
    for other in k.depends_on:
        if other not in REGISTRY:
            out.append(f"depends_on names {other!r}, which is not a registered kind")
        elif other == k.name:
            out.append("depends_on names the kind itself")
        elif k.name in REGISTRY and RANK[other] > RANK[k.name]:
            out.append(f"depends_on names {other!r}, registered after it: the registry is the creation order")
    tf = k.terraform
    if not isinstance(tf, TfRendering) or not tf.type.startswith("google_") or not callable(tf.render):
        out.append("no Terraform rendering")
    handler = HANDLERS.get(a.collection)
    if handler is None:
        out.append(f"no emulator handler for collection {a.collection!r}")
    elif handler.scope != EMULATOR_SCOPE.get(k.scope):
        out.append(f"the emulator serves {a.collection} as {handler.scope}, the kind says {k.scope}")
    return out


@pytest.mark.parametrize("name", list(REGISTRY))
def test_registered_kind_is_complete(name: str) -> None:
    k = REGISTRY[name]
    assert k.name == name
    assert problems(k) == []


def test_an_incomplete_kind_is_caught() -> None:
    good = REGISTRY["firewall"]
    no_handler = dataclasses.replace(good, api=dataclasses.replace(good.api, collection="healthChecks"))
    assert any("emulator handler" in p for p in problems(no_handler))
    bad_client = dataclasses.replace(good, api=dataclasses.replace(good.api, client_class="FirewallClient"))
    assert any("FirewallClient" in p for p in problems(bad_client))
    bad_scope = dataclasses.replace(good, scope="region")
    assert any("aggregated field" in p for p in problems(bad_scope))
    bad_field = dataclasses.replace(
        REGISTRY["address"], api=dataclasses.replace(REGISTRY["address"].api, aggregated_field="adresses")
    )
    assert any("scoped list" in p for p in problems(bad_field))
    unknown_dep = dataclasses.replace(good, depends_on=("health_check",))
    assert any("not a registered kind" in p for p in problems(unknown_dep))
    late_dep = dataclasses.replace(REGISTRY["subnetwork"], depends_on=("network", "instance_template"))
    assert any("creation order" in p for p in problems(late_dep))
    with pytest.raises(KeyError, match="not a registered GCE resource kind"):
        kind("health_check")


def test_terraform_types_and_collections_are_unique() -> None:
    assert len({k.terraform.type for k in REGISTRY.values()}) == len(REGISTRY)
    assert len({k.api.collection for k in REGISTRY.values()}) == len(REGISTRY)
    assert len({k.api.client for k in REGISTRY.values()}) == len(REGISTRY)


MODEL_OPTIONS: list[dict[str, Any]] = [
    {},
    {"control_plane_count": 3, "zones": ["us-central1-a", "us-central1-b", "us-central1-c"]},
    {"topology": "private", "zones": ["us-central1-a", "us-central1-b"]},
    {"regional": True, "control_plane_count": 3, "zones": ["us-central1-a", "us-central1-b", "us-central1-c"]},
]


def model_graph(options: dict[str, Any]) -> Any:
    options = dict(options)
    regional = options.pop("regional", False)
    bundle = make_bundle(**options)
    for g in bundle.instance_groups:
        if regional:
            g.spec.zone_distribution = "regional"
    return build_graph(render_cluster_boot(bundle, Catalog.load()))


@pytest.mark.parametrize("options", MODEL_OPTIONS)
def test_every_kind_the_model_emits_is_registered(options: dict[str, Any]) -> None:
    graph = model_graph(options)
    emitted = {r.kind for r in graph}
    assert emitted <= set(REGISTRY), emitted - set(REGISTRY)
    for r in graph:
        assert r.location == "global" if kind(r.kind).scope == "global" else r.location != "global", r.key


@pytest.mark.parametrize("options", MODEL_OPTIONS)
def test_every_reference_the_model_emits_is_declared(options: dict[str, Any]) -> None:
    """A resource may depend only on resources of kinds its kind declares in depends_on: the
    delete order derived from the declarations then never deletes a referenced resource first."""
    graph = model_graph(options)
    for r in graph:
        for d in r.depends_on:
            assert d.kind in kind(r.kind).depends_on, f"{r.key} references {d}: add {d.kind!r} to its depends_on"


# --------------------------------------------------------------------------- delete ordering
# What each kind's `delete_after` table said before the ordering was inverted (issue 10's
# follow-up): the kinds whose deletes go before this kind's. The declarations must derive it.
OLD_DELETE_AFTER: dict[str, set[str]] = {
    "network": {"subnetwork", "router", "firewall", "instance_template", "instance_group_manager",
                "region_instance_group_manager", "forwarding_rule"},
    "subnetwork": {"router", "instance_template", "instance_group_manager", "region_instance_group_manager"},
    "router": set(),
    "firewall": set(),
    "address": {"forwarding_rule"},
    "http_health_check": {"target_pool"},  # (added with issue 25 item 8)
    "target_pool": {"forwarding_rule", "instance_group_manager", "region_instance_group_manager"},
    "forwarding_rule": set(),
    "instance_template": {"instance_group_manager", "region_instance_group_manager"},
    "instance_group_manager": set(),
    "region_instance_group_manager": set(),
}  # fmt: skip


def test_derived_delete_order_matches_the_old_tables() -> None:
    assert set(OLD_DELETE_AFTER) == set(REGISTRY)
    for name in REGISTRY:
        assert delete_after(name) == OLD_DELETE_AFTER[name], name


class _RecordingApi:
    """Enough of GceApi for tasks_for's deletes: records the order they run in."""

    def __init__(self) -> None:
        self.deleted: list[ResourceKey] = []

    def delete(self, key: ResourceKey) -> None:
        self.deleted.append(key)


def _delete_order(names: list[str]) -> list[str]:
    keys = [ResourceKey(n, "global" if kind(n).scope == "global" else "us-central1", f"x-{n}") for n in names]
    api = _RecordingApi()
    results = execute(tasks_for(api, Plan([Change("delete", k, actual={}) for k in keys], 0)), 1)  # type: ignore[arg-type]
    assert all(r.ok for r in results)
    return [k.kind for k in api.deleted]


def test_deletes_run_in_the_derived_order() -> None:
    order = _delete_order(sorted(REGISTRY))  # alphabetical in: the dependencies must reorder them
    for name in REGISTRY:
        for first in delete_after(name):
            assert order.index(first) < order.index(name), (first, name, order)


def test_a_new_kind_declares_its_own_ordering(monkeypatch: pytest.MonkeyPatch) -> None:
    """A throwaway kind (a copy of the firewall's pieces) that references the network and the
    target pool: registering it is its declaration plus one registry entry, no other kind edited,
    and the network's and target pool's deletes wait for it."""
    before = {name: k for name, k in REGISTRY.items()}
    throwaway = dataclasses.replace(REGISTRY["firewall"], name="health_check_throwaway",
                                    depends_on=("network", "target_pool"))  # fmt: skip
    assert problems(throwaway) == []  # complete on its own (it borrows the firewall's handler and bindings)
    monkeypatch.setitem(REGISTRY, throwaway.name, throwaway)
    monkeypatch.setitem(RANK, throwaway.name, len(RANK))
    assert problems(throwaway) == []
    assert {name: k for name, k in REGISTRY.items() if name != throwaway.name} == before  # no other kind edited
    assert throwaway.name in delete_after("network") and throwaway.name in delete_after("target_pool")
    assert delete_after(throwaway.name) == frozenset()
    order = _delete_order(["network", "target_pool", throwaway.name, "subnetwork"])
    assert order.index(throwaway.name) < order.index("network")
    assert order.index(throwaway.name) < order.index("target_pool")
