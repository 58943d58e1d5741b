"""Firewall rule (global). Patched in place."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update
from kubegce.cloud.resources import Resource

IPV6_PART = "ipv6"


def split_by_family(name: str, ranges: list[str]) -> list[tuple[str, list[str]]]:
    """GCE firewall rules cannot mix IPv4 and IPv6 source ranges: one (name, ranges) per family present.

    The IPv4 rule keeps the plain name; the IPv6 one adds an `-ipv6` part (kOps's spelling,
    e.g. ssh-external-to-control-plane-ipv6). Order within each family is kept."""
    v4 = [r for r in ranges if ipaddress.ip_network(r, strict=False).version == 4]
    v6 = [r for r in ranges if ipaddress.ip_network(r, strict=False).version == 6]
    out: list[tuple[str, list[str]]] = []
    if v4:
        out.append((name, v4))
    if v6:
        out.append((f"{name}-{IPV6_PART}", v6))
    return out


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
    api=ApiBinding("firewalls", "firewall", "Firewall", "firewalls"),
    terraform=TfRendering("google_compute_firewall", terraform),
    update=patch_update(),
    depends_on=("network",),
)
