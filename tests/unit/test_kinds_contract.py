"""Every registered GCE resource kind is complete, and every kind the model emits is registered.

A kind lives in one module of kubegce.cloud.kinds; this test fails when a registered kind lacks
its scope, comparison, update rule, API binding, delete ordering, Terraform rendering or the
emulator handler that serves it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from google.cloud import compute_v1

from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.kinds import REGISTRY, Kind, kind
from kubegce.cloud.kinds.base import ApiBinding, TfRendering
from kubegce.cloud.model import build_graph
from kubegce.emulator.compute import HANDLERS
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle

EMULATOR_SCOPE = {"global": "global", "region": "regions", "zone": "zones"}
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
    for type_name in (a.client_type, a.message, a.list_request):
        if not hasattr(compute_v1, type_name):
            out.append(f"compute_v1 has no type {type_name!r}")
    if (k.scope == "global") != (a.aggregated_field == ""):
        out.append("an aggregated field is wanted exactly for regional and zonal kinds")
    elif a.aggregated_field:
        scoped = getattr(compute_v1, a.list_request.removeprefix("AggregatedList").removesuffix("Request") + "ScopedList",
                         None)  # fmt: skip
        if scoped is None or a.aggregated_field not in scoped.meta.fields:
            out.append(f"aggregated field {a.aggregated_field!r} is not in {a.list_request}'s scoped list")
    for other in k.delete_after:
        if other not in REGISTRY:
            out.append(f"delete_after names {other!r}, which is not a registered kind")
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
    with pytest.raises(KeyError, match="not a registered GCE resource kind"):
        kind("health_check")


def test_terraform_types_and_collections_are_unique() -> None:
    assert len({k.terraform.type for k in REGISTRY.values()}) == len(REGISTRY)
    assert len({k.api.collection for k in REGISTRY.values()}) == len(REGISTRY)
    assert len({k.api.client for k in REGISTRY.values()}) == len(REGISTRY)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"control_plane_count": 3, "zones": ["us-central1-a", "us-central1-b", "us-central1-c"]},
        {"topology": "private", "zones": ["us-central1-a", "us-central1-b"]},
    ],
)
def test_every_kind_the_model_emits_is_registered(options: dict[str, Any]) -> None:
    graph = build_graph(render_cluster_boot(make_bundle(**options), Catalog.load()))
    emitted = {r.kind for r in graph}
    assert emitted <= set(REGISTRY), emitted - set(REGISTRY)
    for r in graph:
        assert r.location == "global" if kind(r.kind).scope == "global" else r.location != "global", r.key
