"""The desired resource graph that every target (Compute API, Terraform, dry-run) consumes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kubegce.cloud.kinds import RANK, REGISTRY
from kubegce.cloud.resources import Resource, ResourceKey

# kind -> where it lives, in creation order (read from the kinds registry; kept for callers)
KINDS: dict[str, str] = {name: k.scope for name, k in REGISTRY.items()}

__all__ = ["KINDS", "Resource", "ResourceGraph", "ResourceKey"]


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
        done: set[ResourceKey] = set()
        out: list[Resource] = []
        pending = sorted(self.resources.values(), key=lambda r: (RANK[r.kind], r.key))
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
