"""Cloud Router with its NAT (regional): private nodes reach the internet through it."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Expr, Kind, TfContext, TfRendering, patch_update, tf_name
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    for nat in b["nats"]:  # Terraform keeps a router's NAT as its own resource
        tf.extra("google_compute_router_nat", tf_name(r), {
            "name": nat["name"], "project": tf.project, "region": r.location,
            "router": Expr("${google_compute_router." + tf_name(r) + ".name}"),
            "nat_ip_allocate_option": nat["natIpAllocateOption"],
            "source_subnetwork_ip_ranges_to_nat": nat["sourceSubnetworkIpRangesToNat"],
        })  # fmt: skip
    return {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
            "network": tf.ref("network", b["network"])}  # fmt: skip


KIND = Kind(
    name="router",
    scope="region",
    api=ApiBinding("routers", "router", "Router", "routers", "routers"),
    terraform=TfRendering("google_compute_router", terraform),
    update=patch_update(),
    depends_on=("network", "subnetwork"),
)
