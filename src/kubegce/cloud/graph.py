"""The desired resource graph that every target (Compute API, Terraform, dry-run) consumes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# kind -> where it lives; the order is also the order kinds are created in
KINDS: dict[str, str] = {
    "network": "global",
    "subnetwork": "region",
    "router": "region",
    "firewall": "global",
    "address": "region",
    "target_pool": "region",
    "forwarding_rule": "region",
    "instance_template": "global",
    "instance_group_manager": "zone",
}
# Fields GCE never changes in place: a difference means delete and create (templates get a new name).
IMMUTABLE_KINDS = {"instance_template", "address"}


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

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.location, self.name)


@dataclass
class ResourceGraph:
    project: str
    cluster_name: str
    resources: dict[ResourceKey, Resource] = field(default_factory=dict)

    def add(self, resource: Resource) -> Resource:
        if resource.key in self.resources:
            raise ValueError(f"duplicate resource {resource.key}")
        self.resources[resource.key] = resource
        return resource

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources.values())

    def __len__(self) -> int:
        return len(self.resources)

    def ordered(self) -> list[Resource]:
        """Dependencies first; ties in kind order, then name (stable output)."""
        kind_rank = {k: i for i, k in enumerate(KINDS)}
        done: set[ResourceKey] = set()
        out: list[Resource] = []
        pending = sorted(self.resources.values(), key=lambda r: (kind_rank[r.kind], r.key))
        while pending:
            ready = [r for r in pending if all(d in done or d not in self.resources for d in r.depends_on)]
            if not ready:
                raise ValueError("dependency cycle among " + ", ".join(str(r.key) for r in pending))
            for r in ready:
                done.add(r.key)
                out.append(r)
            pending = [r for r in pending if r.key not in done]
        return out

    def levels(self) -> dict[ResourceKey, int]:
        """Each resource's place on its longest dependency chain (1 = depends on nothing here)."""
        memo: dict[ResourceKey, int] = {}

        def d(key: ResourceKey) -> int:
            if key not in memo:
                r = self.resources[key]
                memo[key] = 1 + max((d(x) for x in r.depends_on if x in self.resources), default=0)
            return memo[key]

        return {k: d(k) for k in self.resources}

    def depth(self) -> int:
        """Length of the longest dependency chain (resources on it)."""
        return max(self.levels().values(), default=0)

    def level_widths(self) -> list[int]:
        """How many resources sit at each level: the most that can be in flight at once there."""
        levels = self.levels()
        return [sum(1 for v in levels.values() if v == n) for n in range(1, max(levels.values(), default=0) + 1)]
