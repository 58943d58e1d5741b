"""A cluster's way from its stored spec to the cloud: check, plan (once), apply, Terraform, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubegce.boot.plans import ClusterBoot, asset_warnings, choose_channels, render_cluster_boot
from kubegce.cloud.executor import Progress, TaskResult, execute
from kubegce.cloud.graph import KINDS, ResourceGraph, ResourceKey
from kubegce.cloud.model import build_graph
from kubegce.cloud.pace import PaceStats
from kubegce.cloud.planner import Change, Plan
from kubegce.cloud.planner import plan as diff_graph
from kubegce.errors import SpecError, UserError
from kubegce.images.catalog import Catalog, ImageReader
from kubegce.service.autoscaling import keep_autoscaler_sizes
from kubegce.service.nodes import Log, publish_load_balancer_address, publish_node_objects, quiet
from kubegce.spec.models import ClusterBundle
from kubegce.spec.validate import bundle_warnings, new_cluster_problems, region_of, version_step_problem
from kubegce.state.backups import refuse_during_restore
from kubegce.state.base import StateStore
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import cluster_key, group_key
from kubegce.state.lease import cluster_lease

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget


class ApplyProgress(Progress):
    """Hears every resource start and finish (see :class:`Progress`), then the whole run."""

    pace: PaceStats | None = None  # the run's quota figures (throttled calls, time waited), set by the service

    def summary(self, results: list[TaskResult]) -> None:
        pass


@dataclass(frozen=True)
class ClusterChangeSet:
    """What one run decided: each group's boot (images, channels, metadata), the desired graph,
    and the diff against what the cluster owns (or against an empty project offline)."""

    boot: ClusterBoot
    graph: ResourceGraph
    diff: Plan
    warnings: list[str] = field(default_factory=list)
    online: bool = False  # diffed against the project (False: an offline dry run or Terraform)


def check_spec(bundle: ClusterBundle, catalog: Catalog, *, force: bool = False, new_cluster: bool = False,
               previous: ClusterBundle | None = None) -> list[str]:  # fmt: skip
    """Validate a spec and choose every group's boot channel (nothing is rendered); the warnings.

    Raises :class:`kubegce.errors.SpecError` with every problem. `create` and `edit` call this
    before they store a spec; metadata size limits are checked when `update` renders it. The
    warnings include what is valid but probably not meant (:func:`bundle_warnings`), whichever way
    the spec came in (flags, `-f`, an edit). A ``new_cluster`` is also held to what only stored
    clusters may keep (a Kubernetes minor past end of life: :func:`new_cluster_problems`); a change
    from the ``previous`` spec (edit, replace) may move the Kubernetes minor up by one only.
    """
    extra = new_cluster_problems(bundle) if new_cluster else []
    if previous is not None and (
        step := version_step_problem(previous.cluster.spec.kubernetes_version, bundle.cluster.spec.kubernetes_version)
    ):
        extra.append(step)
    try:
        _, warnings = choose_channels(bundle, catalog, force=force)
    except SpecError as exc:
        raise SpecError(extra + exc.problems) from None
    if extra:
        raise SpecError(extra)
    return bundle_warnings(bundle) + warnings


def plan(bundle: ClusterBundle, catalog: Catalog, *, target: GceTarget | None = None,
         reader: ImageReader | None = None, store: StateStore | None = None, force: bool = False,
         ) -> ClusterChangeSet:  # fmt: skip
    """Plan the cluster once: images and boot, the desired graph, the diff.

    With a ``target`` the images are read through its Compute API (a custom image is placed by
    its licenses or family), and the diff is against what the cluster owns there; a resource that
    has the cluster's name but not its marker is refused. Without one the diff is against an
    empty project (dry run, Terraform). The warnings of every step come back with the plan.
    """
    if target is not None:
        from kubegce.cloud.gce.places import place_problems

        if problems := place_problems(target.api, bundle):  # zones and machine types, as GCE sees them
            raise SpecError(problems)
    if target is not None and reader is None:
        from kubegce.cloud.gce.images import ComputeImageReader

        reader = ComputeImageReader(target.clients)
    boot = render_cluster_boot(bundle, catalog, reader=reader, force=force, store=store)
    graph = build_graph(boot)
    warnings = bundle_warnings(bundle) + boot.warnings + asset_warnings(bundle)
    if store is not None and not store.nodes_can_read:
        warnings.append(
            f"state store {store.url} cannot be read by nodes: they will not find their join secrets; "
            "use a gs:// state store to run nodes"
        )
    if target is None:
        return ClusterChangeSet(boot, graph, diff_graph(graph, {}), warnings)
    found = target.find()
    collisions = sorted(k for k in graph.resources if k in found.unowned)
    if collisions:
        raise UserError(
            "these resources exist but are not owned by cluster "
            f"{bundle.cluster.name} (no kubegce marker in their description); kubegce will not touch them: "
            + ", ".join(str(k) for k in collisions)
            + ". Rename or remove them, or pick another cluster name."
        )
    keep_autoscaler_sizes(bundle, graph, found.owned)  # the autoscaler's sizes stay (docs/autoscaling.md)
    return ClusterChangeSet(boot, graph, diff_graph(graph, found.owned), warnings, online=True)


def check_apply_target(store: StateStore, *, endpoint: str | None) -> None:
    """Refuse to apply to the real Compute API when nodes could not fetch their join secrets."""
    if not store.nodes_can_read and not endpoint:
        raise UserError(
            f"refusing to apply to the real Compute API with state store {store.url}: nodes fetch their "
            "join secrets from the state store and cannot read a local file://. Use a gs:// state store "
            "(--state gs://bucket/prefix), or --endpoint to apply to an emulator."
        )


def apply(target: GceTarget, changes: ClusterChangeSet, *, repo: ClusterRepository | None = None,
          parallelism: int | None = None, progress: ApplyProgress | None = None, log: Log = quiet,
          break_lease: bool = False) -> list[TaskResult]:  # fmt: skip
    """Apply a planned change set through the Compute API.

    With a repository nodes can read, what nodes fetch at boot is written first (templates point
    at it), and after a clean apply a load-balanced API's address is published for them.

    The rolling update of instances whose template changed is the next step here, after the diff
    has run and before the address is published (its budgets: :mod:`kubegce.cloud.rollout`).

    With a repository the cluster's lease is held throughout (:mod:`kubegce.state.lease`): a
    concurrent apply or roll of the same cluster is refused, naming who holds it.
    """
    if not changes.online:
        raise UserError("internal: this change set was planned offline; plan against the Compute API to apply it")
    if repo is None:
        return _execute(target, changes.diff, parallelism, progress)
    with cluster_lease(
        repo.store, changes.boot.bundle.cluster.name, "update", break_lease=break_lease, log=log
    ) as check:
        refuse_during_restore(repo.store, changes.boot.bundle.cluster.name, "update cluster")
        publish_node_objects(repo, changes.boot, log=log)
        results = _execute(target, changes.diff, parallelism, progress)
        check()
        if all(r.ok for r in results):
            publish_load_balancer_address(repo, target, changes.graph, log=log)
    return results


def write_terraform(changes: ClusterChangeSet, out: Path, *, repo: ClusterRepository | None = None,
                    log: Log = quiet) -> list[Path]:  # fmt: skip
    """Write the desired graph as Terraform (and what nodes fetch at boot into a readable store)."""
    from kubegce.cloud.terraform.render import write_terraform as render

    if repo is not None:
        publish_node_objects(repo, changes.boot, log=log)
    region = region_of(changes.boot.bundle.cluster.spec.zones[0])
    return render(changes.graph, region, out)


@dataclass(frozen=True)
class ClusterDeletion:
    """What deleting a cluster removes: its owned resources (in reverse dependency order) and its
    state objects; ``unowned`` have a name like the cluster's but no marker, and stay."""

    name: str
    diff: Plan | None  # None: the cloud is not touched (--state-only)
    unowned: list[ResourceKey]
    state_keys: list[str]


def plan_deletion(bundle: ClusterBundle, target: GceTarget | None) -> ClusterDeletion:
    """What deleting the cluster would remove; ``target`` None touches no cloud (--state-only)."""
    name = bundle.cluster.name
    state_keys = [cluster_key(name)] + [group_key(name, g.name) for g in bundle.instance_groups]
    if target is None:
        return ClusterDeletion(name, None, [], state_keys)
    found = target.find()
    rank = {k: i for i, k in enumerate(KINDS)}
    keys = sorted(found.owned, key=lambda k: (-rank[k.kind], k))
    diff = Plan([Change("delete", k, actual=found.owned[k]) for k in keys], 0)
    return ClusterDeletion(name, diff, sorted(found.unowned), state_keys)


def delete(deletion: ClusterDeletion, target: GceTarget | None, *, repo: ClusterRepository | None = None,
           parallelism: int | None = None, progress: ApplyProgress | None = None) -> list[TaskResult]:  # fmt: skip
    """Delete the cluster's resources, then, only when every delete succeeded, its state (when a
    repository is given)."""
    results: list[TaskResult] = []
    if deletion.diff is not None and deletion.diff.changes:
        if target is None:
            raise UserError("internal: a deletion that touches the cloud needs its target")
        results = _execute(target, deletion.diff, parallelism, progress)
    if repo is not None and all(r.ok for r in results):
        repo.delete(deletion.name)
    return results


def _execute(target: GceTarget, diff: Plan, parallelism: int | None, progress: ApplyProgress | None
             ) -> list[TaskResult]:  # fmt: skip
    """Run a diff's changes: every change carries the resource it makes, so no graph is needed.

    Every ready change gets a thread (the pool is as wide as the widest level); how many mutating
    calls are on the wire at once is the API's adaptive limiter's business, `parallelism` its cap."""
    tasks = target.tasks_for(diff)
    target.api.set_cap(parallelism)
    if progress is not None:
        progress.pace = target.api.limiter.stats
    results = execute(tasks, max(1, len(tasks)), progress)
    if progress is not None:
        progress.summary(results)
    return results
