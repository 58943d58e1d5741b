"""Zones and machine types: read-only collections the emulator answers from kubegce's own data.

Zones are the public zones in :mod:`kubegce.spec.gce_zones`. A machine type exists when
:mod:`kubegce.spec.gce_machines` accepts its shape AND, for a predefined shape, its vCPU count is
one GCE offers (:data:`OFFERED_VCPUS`): ``n2-standard-6`` is well formed, passes the offline check,
and is refused here as GCE refuses it. Custom and shared-core types always exist.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from kubegce.emulator.compute.errors import ApiError, not_found
from kubegce.emulator.compute.state import BASE
from kubegce.spec import gce_accelerators, gce_machines, gce_zones

# vCPU counts at which GCE offers predefined shapes across its series (a union: a real series offers a subset)
OFFERED_VCPUS = frozenset({1, 2, 4, 8, 16, 22, 30, 32, 36, 44, 48, 60, 64, 80, 88, 96, 112, 128, 144, 176,
                           180, 192, 208, 224, 240, 288, 360, 384, 416, 448, 480, 960, 1440, 1920})  # fmt: skip
_VCPUS = re.compile(r"\A[a-z][a-z0-9]*-[a-z]+-(?P<n>[0-9]+)g?(?:-[a-z]+)*\Z")
_CUSTOM = re.compile(r"\A(?:[a-z][a-z0-9]*-)?custom-(?P<n>[0-9]+|micro|small|medium)-(?P<mb>[0-9]+)(?:-ext)?\Z")


def zone_view(project: str, zone: str) -> dict[str, Any]:
    region = zone.rsplit("-", 1)[0]
    return {
        "kind": "compute#zone",
        "id": str(zlib.crc32(zone.encode())),
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": f"{BASE}projects/{project}/regions/{region}",
        "selfLink": f"{BASE}projects/{project}/zones/{zone}",
    }


def zone_names() -> list[str]:
    return sorted(gce_zones.ZONES)


def get_zone(project: str, zone: str) -> dict[str, Any]:
    if zone not in gce_zones.ZONES:
        raise not_found(f"projects/{project}/zones/{zone}")
    return zone_view(project, zone)


def machine_type_exists(name: str) -> bool:
    if gce_machines.problem(name) is not None:
        return False
    if _CUSTOM.fullmatch(name):
        return True
    m = _VCPUS.fullmatch(name)
    return m is None or int(m.group("n")) in OFFERED_VCPUS  # shared-core names carry no count


def offered_accelerators(zone: str, overrides: dict[str, list[str]]) -> list[str]:
    """The GPU models a zone offers: every model GCE has (spec/gce_accelerators.py), unless the
    admin API set the zone's list (a model: which real zone offers which GPU is GCE's to say)."""
    return sorted(overrides.get(zone, gce_accelerators.ALL_MODELS))


def accelerator_view(project: str, zone: str, name: str) -> dict[str, Any]:
    limits = gce_accelerators.N1_ATTACHABLE.get(name, {})
    return {
        "kind": "compute#acceleratorType",
        "id": str(zlib.crc32(f"{zone}/{name}".encode())),
        "name": name,
        "description": name.replace("nvidia-", "NVIDIA ").replace("-", " ").title(),
        "zone": f"{BASE}projects/{project}/zones/{zone}",
        "maximumCardsPerInstance": max(limits, default=16),
        "selfLink": f"{BASE}projects/{project}/zones/{zone}/acceleratorTypes/{name}",
    }


def get_accelerator_type(project: str, zone: str, name: str, overrides: dict[str, list[str]]) -> dict[str, Any]:
    if zone not in gce_zones.ZONES:
        raise ApiError(400, "invalid", f"Invalid value for field 'zone': '{zone}'. Unknown zone.")
    if name not in offered_accelerators(zone, overrides):
        raise not_found(f"projects/{project}/zones/{zone}/acceleratorTypes/{name}")
    return accelerator_view(project, zone, name)


def get_machine_type(project: str, zone: str, name: str, overrides: dict[str, list[str]] | None = None
                     ) -> dict[str, Any]:  # fmt: skip
    if zone not in gce_zones.ZONES:
        raise ApiError(400, "invalid", f"Invalid value for field 'zone': '{zone}'. Unknown zone.")
    gpus = gce_accelerators.built_in(name)  # a GPU machine type exists where its GPU model is offered
    if not machine_type_exists(name) or (gpus and gpus.model not in offered_accelerators(zone, overrides or {})):
        raise not_found(f"projects/{project}/zones/{zone}/machineTypes/{name}")
    custom = _CUSTOM.fullmatch(name)
    m = _VCPUS.fullmatch(name)
    cpus = int(custom.group("n")) if custom and custom.group("n").isdigit() else int(m.group("n")) if m else 2
    memory = int(custom.group("mb")) if custom else cpus * 4096
    return {
        "kind": "compute#machineType",
        "id": str(zlib.crc32(name.encode())),
        "name": name,
        "description": name,
        "guestCpus": cpus,
        "memoryMb": memory,
        "zone": zone,
        "selfLink": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{name}",
    }
