"""Firewall rule (global). Patched in place."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    allow = [{"protocol": a["IPProtocol"], "ports": a.get("ports", [])} for a in b["allowed"]]
    out = {"name": r.name, "project": tf.project, "description": b["description"],
           "network": tf.ref("network", b["network"]), "direction": b["direction"],
           "priority": b["priority"], "allow": allow, "target_tags": b["targetTags"]}  # fmt: skip
    if "sourceRanges" in b:
        out["source_ranges"] = b["sourceRanges"]
    if "sourceTags" in b:
        out["source_tags"] = b["sourceTags"]
    return out


KIND = Kind(
    name="firewall",
    scope="global",
    api=ApiBinding("firewalls", "firewall", "Firewall", "ListFirewallsRequest", "firewalls"),
    terraform=TfRendering("google_compute_firewall", terraform),
    update=patch_update(),
)
