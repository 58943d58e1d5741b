"""Target pool (regional): the control-plane instances behind the API's forwarding rule."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
            "session_affinity": b["sessionAffinity"]}  # fmt: skip


KIND = Kind(
    name="target_pool",
    scope="region",
    api=ApiBinding("target_pools", "target_pool", "TargetPool", "targetPools", "target_pools"),  # fmt: skip
    terraform=TfRendering("google_compute_target_pool", terraform),
    update=patch_update(),
)
