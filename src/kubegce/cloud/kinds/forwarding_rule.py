"""Forwarding rule (regional): the API address on port 443 to the control-plane target pool."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update, set_labels_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
            "ip_protocol": b["IPProtocol"], "port_range": b["portRange"],
            "load_balancing_scheme": b["loadBalancingScheme"],
            "ip_address": tf.ref("address", b["IPAddress"], "address"),
            "target": tf.ref("target_pool", b["target"]), "labels": b["labels"]}  # fmt: skip


KIND = Kind(
    name="forwarding_rule",
    scope="region",
    api=ApiBinding(
        "forwarding_rules",
        "forwarding_rule",
        "ForwardingRule",
        "forwardingRules",
        "forwarding_rules",
    ),  # fmt: skip
    terraform=TfRendering("google_compute_forwarding_rule", terraform),
    update=set_labels_update(patch_update()),  # labels: setLabels (PATCH cannot change them)
    depends_on=("network", "address", "target_pool"),
)
