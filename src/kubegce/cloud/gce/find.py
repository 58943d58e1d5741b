"""Find what a cluster owns: one list call per kind (aggregated for regional and zonal kinds), so the
read cost of a plan does not grow with the number of instance groups. Ownership is the description
marker; a resource whose name collides but is not marked is reported as unowned."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kubegce.cloud.gce.api import GceApi
from kubegce.cloud.kinds import REGISTRY
from kubegce.cloud.names import cluster_slug
from kubegce.cloud.resources import ResourceKey

PAGE_SIZE = 500


@dataclass
class Found:
    owned: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)
    unowned: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)


def find(api: GceApi, cluster_name: str) -> Found:
    name_filter = f'name eq ".*{re.escape(cluster_slug(cluster_name)[:12])}.*"'
    found = Found()
    for k in REGISTRY.values():
        pages = api.call(k.api.list(api.clients, api.project, name_filter, PAGE_SIZE))
        for scope, data in k.api.listed(pages, k.scope):
            key = ResourceKey(k.name, k.location_of(data, scope), data["name"])
            (found.owned if data.get("description") == api.marker else found.unowned)[key] = data
    return found
