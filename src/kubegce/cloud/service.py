"""The one path from a stored spec to the cloud: plan boots, build the graph, diff, apply, delete."""

from __future__ import annotations

from dataclasses import dataclass

from kubegce.boot.plans import ClusterBoot, NodeObjectStore, plan_cluster
from kubegce.cloud.gce.target import Found, GceTarget
from kubegce.cloud.graph import KINDS, ResourceGraph
from kubegce.cloud.model import build_graph
from kubegce.cloud.planner import Change, Plan, plan
from kubegce.errors import UserError
from kubegce.images.catalog import Catalog, ImageReader
from kubegce.spec.models import ClusterBundle


@dataclass
class ClusterPlan:
    boot: ClusterBoot
    graph: ResourceGraph
    found: Found
    plan: Plan


def desired(bundle: ClusterBundle, catalog: Catalog, *, force: bool = False,
            reader: ImageReader | None = None, store: NodeObjectStore | None = None,
            ) -> tuple[ClusterBoot, ResourceGraph]:  # fmt: skip
    boot = plan_cluster(bundle, catalog, reader=reader, force=force, store=store)
    return boot, build_graph(boot)


def plan_cluster_against(target: GceTarget, bundle: ClusterBundle, catalog: Catalog, *, force: bool = False,
                         reader: ImageReader | None = None, store: NodeObjectStore | None = None,
                         ) -> ClusterPlan:  # fmt: skip
    boot, graph = desired(bundle, catalog, force=force, reader=reader, store=store)
    found = target.find()
    collisions = sorted(k for k in graph.resources if k in found.unowned)
    if collisions:
        raise UserError(
            "these resources exist but are not owned by cluster "
            f"{bundle.cluster.name} (no kubegce marker in their description); kubegce will not touch them: "
            + ", ".join(str(k) for k in collisions)
            + ". Rename or remove them, or pick another cluster name."
        )
    return ClusterPlan(boot, graph, found, plan(graph, found.owned))


def deletion_plan(found: Found) -> Plan:
    rank = {k: i for i, k in enumerate(KINDS)}
    keys = sorted(found.owned, key=lambda k: (-rank[k.kind], k))
    return Plan([Change("delete", k, actual=found.owned[k]) for k in keys], 0)
