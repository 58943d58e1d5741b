"""Clusters in a state store: one folder per cluster, spec documents with their generations."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from pydantic import ValidationError

from kubegce.errors import NotFoundError, SpecError, UserError
from kubegce.spec.loader import validation_problems
from kubegce.spec.models import Cluster, ClusterBundle, InstanceGroup
from kubegce.state.store import StateStore


@dataclass
class StoredBundle:
    bundle: ClusterBundle
    cluster_generation: int
    group_generations: dict[str, int] = field(default_factory=dict)


def _cluster_key(name: str) -> str:
    return f"{name}/cluster"


def _group_key(cluster: str, group: str) -> str:
    return f"{cluster}/instancegroup/{group}"


def _dump(model: Cluster | InstanceGroup) -> bytes:
    return yaml.safe_dump(model.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False).encode()


class ClusterRepository:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def names(self) -> list[str]:
        return sorted({k.split("/", 1)[0] for k in self.store.list("") if k.endswith("/cluster")})

    def get(self, name: str) -> StoredBundle:
        obj = self.store.read(_cluster_key(name))
        if obj is None:
            known = self.names()
            hint = f"; clusters here: {', '.join(known)}" if known else ""
            raise NotFoundError(f"cluster {name!r} not found in {self.store.url}{hint}")
        problems: list[str] = []
        cluster = self._parse(Cluster, obj.data, f"state {name}/cluster", problems)
        groups = []
        gens = {}
        for key in self.store.list(f"{name}/instancegroup"):
            g_obj = self.store.read(key)
            if g_obj is None:
                continue
            g = self._parse(InstanceGroup, g_obj.data, f"state {key}", problems)
            if g is not None:
                groups.append(g)
                gens[g.name] = g_obj.generation
        if problems or cluster is None:
            raise SpecError(problems)
        assert isinstance(cluster, Cluster)
        typed_groups = [g for g in groups if isinstance(g, InstanceGroup)]
        return StoredBundle(ClusterBundle(cluster=cluster, instance_groups=typed_groups), obj.generation, gens)

    @staticmethod
    def _parse(
        model: type[Cluster] | type[InstanceGroup], data: bytes, where: str, problems: list[str]
    ) -> Cluster | InstanceGroup | None:
        try:
            return model.model_validate(yaml.safe_load(data))
        except ValidationError as exc:
            problems.extend(validation_problems(exc, model, where))
            return None

    def create(self, bundle: ClusterBundle) -> None:
        name = bundle.cluster.name
        if self.store.read(_cluster_key(name)) is not None:
            raise UserError(
                f"cluster {name!r} already exists in {self.store.url}; "
                "change it with `kubegce edit cluster` or remove it with `kubegce delete cluster`"
            )
        for g in bundle.instance_groups:
            self.store.write(_group_key(name, g.name), _dump(g), if_generation=0)
        # The cluster object goes last: a cluster is visible only once it is whole.
        self.store.write(_cluster_key(name), _dump(bundle.cluster), if_generation=0)

    def save_cluster(self, stored: StoredBundle) -> None:
        c = stored.bundle.cluster
        self.store.write(_cluster_key(c.name), _dump(c), if_generation=stored.cluster_generation)

    def save_group(self, stored: StoredBundle, group: InstanceGroup) -> None:
        gen = stored.group_generations.get(group.name, 0)
        self.store.write(_group_key(stored.bundle.cluster.name, group.name), _dump(group), if_generation=gen)

    def delete(self, name: str) -> None:
        for key in self.store.list(f"{name}/"):
            self.store.delete(key)
        self.store.delete(_cluster_key(name))
