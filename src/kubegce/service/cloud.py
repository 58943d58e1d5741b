"""Reaching the Compute API: the emulator's endpoint (anonymous) or the real API (application
default credentials). The client library is imported only here, when a verb needs the cloud."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget


def connect(endpoint: str | None, project: str, cluster: str) -> GceTarget:
    """The target that finds, applies and deletes the cluster's resources in ``project``."""
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.cloud.gce.target import GceTarget

    return GceTarget(ComputeClients.create(endpoint), project, cluster)
