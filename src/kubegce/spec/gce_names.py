"""GCE resource names derived from the cluster name, as kOps does (dots to dashes, hashed when long).

Pure functions, below every package that names resources: the model builder (cloud/), the
rolling update (service/) and what nodes are told about their own cluster (boot/: the cluster
autoscaler's MIG list) all spell names with these. :mod:`kubegce.cloud.names` re-exports them.
"""

from __future__ import annotations

import hashlib
import re

MAX = 63


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower())


def gce_name(*parts: str, limit: int = MAX) -> str:
    """Join parts into a valid GCE name; too long names keep a prefix and a hash of the whole."""
    raw = "-".join(_clean(p) for p in parts if p)
    raw = re.sub(r"-+", "-", raw).strip("-")
    if not raw or not raw[0].isalpha():
        raw = "k-" + raw
    if len(raw) <= limit:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return raw[: limit - 9].rstrip("-") + "-" + digest


def zone_letter(zone: str) -> str:
    return zone.rsplit("-", 1)[-1]


def zonal_mig_name(zone: str, group: str, cluster: str) -> str:
    """The name of a group's MIG in ``zone`` (spec.zoneDistribution: zonal), as cloud/model.py makes it."""
    return gce_name(zone_letter(zone), group, cluster)
