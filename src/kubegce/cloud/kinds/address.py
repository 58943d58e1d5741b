"""Static external address (regional) of an HA control plane's API.

It holds the API's IP (in every kubeconfig), so it is never replaced: a label change goes through
`addresses.setLabels` with the label fingerprint, and any other difference is left alone."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, set_labels_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
            "address_type": b["addressType"], "labels": b["labels"]}  # fmt: skip


KIND = Kind(
    name="address",
    scope="region",
    api=ApiBinding("addresses", "address", "Address", "addresses", "addresses"),
    terraform=TfRendering("google_compute_address", terraform),
    update=set_labels_update(),
)
