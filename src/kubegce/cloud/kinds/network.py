"""VPC network (global). Patched in place; everything regional sits in it, so it is deleted last."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "description": b["description"],
            "auto_create_subnetworks": False, "routing_mode": b["routingConfig"]["routingMode"]}  # fmt: skip


KIND = Kind(
    name="network",
    scope="global",
    api=ApiBinding("networks", "network", "Network", "networks"),
    terraform=TfRendering("google_compute_network", terraform),
    update=patch_update(),
)
