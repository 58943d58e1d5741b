"""Subnetwork (regional). Patched in place; GCE wants the current fingerprint with a patch."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
            "network": tf.ref("network", b["network"]), "ip_cidr_range": b["ipCidrRange"],
            "private_ip_google_access": b["privateIpGoogleAccess"]}  # fmt: skip


KIND = Kind(
    name="subnetwork",
    scope="region",
    api=ApiBinding("subnetworks", "subnetwork", "Subnetwork", "subnetworks", "subnetworks"),  # fmt: skip
    terraform=TfRendering("google_compute_subnetwork", terraform),
    update=patch_update(fingerprint=True),
    depends_on=("network",),
)
