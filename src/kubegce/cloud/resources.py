"""The two values every part of the cloud pipeline passes around: a resource and its key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ResourceKey:
    kind: str
    location: str  # "global", a region or a zone
    name: str

    def __str__(self) -> str:
        where = "" if self.location == "global" else f" ({self.location})"
        return f"{self.kind}/{self.name}{where}"


@dataclass
class Resource:
    kind: str
    name: str
    body: dict[str, Any]
    location: str = "global"
    depends_on: tuple[ResourceKey, ...] = ()
    # attributes Terraform must leave as they are once created (an autoscaled MIG's target_size:
    # the cluster autoscaler owns it; docs/autoscaling.md); the API path keeps them itself
    tf_ignore_changes: tuple[str, ...] = ()

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.location, self.name)
