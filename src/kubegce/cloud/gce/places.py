"""Zones and machine types checked against the project's Compute API before a plan.

Offline, `create` and `edit` check zones and machine types against kubegce's built-in lists
(:mod:`kubegce.spec.gce_zones`, :mod:`kubegce.spec.gce_machines`). With an API, `update` also asks
GCE: one ``zones.list`` for every zone the cluster names, and one ``machineTypes.get`` per distinct
(machine type, zone) a group uses (every zone of a GPU group, with one ``acceleratorTypes.get``
per zone for its GPU: GPUs are offered zone by zone), so a zone the project cannot use or a well-formed type GCE does
not offer (``n2-standard-6``) is refused before anything is created, not half-way through an apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kubegce.spec import gce_accelerators
from kubegce.spec.text import shown
from kubegce.spec.validate import check_zone

if TYPE_CHECKING:
    from kubegce.cloud.gce.api import GceApi
    from kubegce.spec.models import ClusterBundle


def place_problems(api: GceApi, bundle: ClusterBundle) -> list[str]:
    """What the API refuses among the bundle's zones and machine types (empty when all is well)."""
    clients = api.clients
    project = api.project
    pages = api.call(lambda: clients.rest_pages(f"projects/{project}/zones", {"maxResults": 500}))
    zones = {str(z.get("name")) for page in pages for z in page.get("items") or () if isinstance(z, dict)}
    problems: list[str] = []
    cluster_zones = bundle.cluster.spec.zones
    for z in cluster_zones:
        if (p := check_zone(z, zones)) is not None:
            problems.append(f"spec.zones: {_api_says(p, project)}")
    checked: set[tuple[str, str]] = set()
    for g in bundle.instance_groups:
        group_zones = g.spec.zones or cluster_zones
        for z in g.spec.zones:
            if z not in cluster_zones and (p := check_zone(z, zones)) is not None:
                problems.append(f"instancegroup {g.name} spec.zones: {_api_says(p, project)}")
        machine = g.spec.machine_type
        gpus = gce_accelerators.has_gpus(machine, len(g.spec.guest_accelerators))
        # a GPU type (and a GPU) is offered zone by zone: check every zone of a GPU group
        for zone in [z for z in group_zones if z in zones][: None if gpus else 1]:
            if (machine, zone) in checked:
                continue
            checked.add((machine, zone))
            if not _exists(api, f"zones/{quote(zone, safe='')}/machineTypes/{quote(machine, safe='')}"):
                problems.append(
                    f"instancegroup {g.name} spec.machineType: {shown(machine)} is not offered in zone {zone} "
                    f"(machineTypes.get in project {project}); `gcloud compute machine-types list --zones {zone}` "
                    "lists what is"
                )
            for i, a in enumerate(g.spec.guest_accelerators):
                if not _exists(api, f"zones/{quote(zone, safe='')}/acceleratorTypes/{quote(a.type, safe='')}"):
                    problems.append(
                        f"instancegroup {g.name} spec.guestAccelerators[{i}].type: {shown(a.type)} is not offered "
                        f"in zone {zone} (acceleratorTypes.get in project {project}); take the zone out of the "
                        f"group's spec.zones, or see `gcloud compute accelerator-types list --filter zone:{zone}`"
                    )
    return problems


def _api_says(problem: str, project: str) -> str:
    return problem.replace("is not a GCE zone", f"is not a zone of project {project} (zones.list)")


def _exists(api: GceApi, path: str) -> bool:
    """Whether GET projects/P/PATH finds the resource (a zone's machine or accelerator type)."""
    clients = api.clients

    def get() -> Any:
        return clients.rest("GET", f"projects/{api.project}/{path}")

    try:
        api.call(get)
    except clients.not_found:
        return False
    return True
