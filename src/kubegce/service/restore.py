"""`kubegce restore etcd`: a cluster brought back to one of its etcd backups, even when every
control plane and its disk is gone (docs/disaster-recovery.md).

1. Check (nothing changes before): the backup's manifest is this cluster's, its snapshot's size
   and sha256 match it, the store is one control planes can read.
2. The restore marker (``CLUSTER/secrets/backups/etcd-restore``): a new round names the
   control-plane instances that exist now (the ones it replaces) and a fresh token; a rerun after
   a kill continues its round, so it never replaces an instance the round made.
3. The spec applied as `update --yes` would (missing groups and templates, node objects).
4. Each control-plane MIG: ``deleteInstances`` of the round's old instances (their etcd disks go
   with them: the stateful policy deletes on permanent deletion), then resized back to the spec.
   The new control planes find the marker: one restores the snapshot, the others join it.
5. Wait until every control plane has joined.
6. Kubernetes: Node objects without an instance (the old control planes) are deleted; workers
   whose Node the backup does not have are reset so they register again (every worker when the
   API is not load balanced: its address changed); then every node must be Ready.
7. The marker says ``complete``.

Every step reads what exists before it acts, so a run killed anywhere and started again
converges (tests/integration/test_restore.py kills it at random points).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kubegce.backups.manifest import ID_RE, Manifest, ManifestError
from kubegce.boot import protocol
from kubegce.errors import ConflictError, NotFoundError, UserError
from kubegce.spec.models import ClusterBundle, Role
from kubegce.state.backups import (
    ABORTED,
    NAME_RE,
    RESTORED,
    RestoreMarker,
    new_restore_marker,
    parse_restore_marker,
    read_backup,
    read_restore_marker,
    verified_snapshot,
    write_restore_marker,
)
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import restore_leader_key, restore_marker_key
from kubegce.state.lease import cluster_lease

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget
    from kubegce.images.catalog import Catalog
    from kubegce.kube.client import KubeClient
    from kubegce.service.rolling import ManagedInstance, MigState, Roller

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class RestorePlan:
    """What `restore etcd` will do; nothing has changed when it is made."""

    bundle: ClusterBundle
    backup: Manifest
    control_planes: list[str]  # instances replaced (with new etcd disks)
    workers: list[str]
    load_balanced: bool
    continuing: RestoreMarker | None = None  # an unfinished round of this backup

    def describe(self) -> list[str]:
        b, name = self.backup, self.bundle.cluster.name
        lines = [
            f"restore cluster {name} to etcd backup {b.id} (taken {b.as_dict()['time']} by {b.member}, revision "
            f"{b.revision}, etcd {b.etcd_version}, Kubernetes {b.kubernetes_version}, {b.size} bytes, sha256 verified)",
            "the cluster's API state goes back to the backup's time: every object created, changed or deleted "
            "since then is lost or comes back as it was",
        ]
        if self.continuing is not None:
            lines.append(f"continues the restore begun {self.continuing.started} (round {self.continuing.token})")
        cps = ", ".join(self.control_planes) or "none left"
        lines.append(f"every control plane is replaced with a new instance and a new etcd disk (now: {cps}); "
                     "the first restores the snapshot (a new etcd cluster ID), the others join it")  # fmt: skip
        if self.workers:
            how = ("every worker is reset (the API's address changes without a load balancer)" if not self.load_balanced
                   else "workers the backup does not know are reset so they register again")  # fmt: skip
            lines.append(f"{how}: {', '.join(self.workers)}")
        return lines


def check_backup_id(backup_id: str) -> None:
    if ID_RE.fullmatch(backup_id) is None:
        raise UserError(f"--backup {backup_id[:80]!r} is not a backup id (TIME-MEMBER, e.g. 20261206T131500Z-cp-a-1x2y); "
                        "`kubegce get backups CLUSTER` lists them")  # fmt: skip


def verified_backup(repo: ClusterRepository, cluster: str, backup_id: str) -> Manifest:
    """The backup, its snapshot checked against its manifest; exit 4 when there is none, 2 when it
    is another cluster's or corrupted."""
    check_backup_id(backup_id)
    store = repo.store
    if not store.nodes_can_read:
        raise UserError(f"state store {store.url}: control planes cannot read a file:// store, so they cannot "
                        "restore from it; backups and restores need a gs:// state store (docs/disaster-recovery.md)")  # fmt: skip
    try:
        backup = read_backup(store, cluster, backup_id)
        if backup is None:
            raise NotFoundError(
                f"cluster {cluster} has no backup {backup_id}; `kubegce get backups {cluster}` lists them"
            )
        verified_snapshot(store, cluster, backup)
    except ManifestError as exc:
        hint = (
            ""
            if "get backups" in str(exc)
            else f"; nothing was changed; `kubegce get backups {cluster}` lists its backups"
        )
        raise UserError(f"--backup {backup_id}: {exc}{hint}") from None
    return backup


def _roller(target: GceTarget, bundle: ClusterBundle, repo: ClusterRepository, log: Log, sleep: Callable[[float], None]
            ) -> Roller:  # fmt: skip
    from kubegce.service.rolling import Roller

    return Roller(target, bundle, store=repo.store, log=log, sleep=sleep)


def _control_plane_migs(roller: Roller) -> list[MigState]:
    from kubegce.service.rolling import MigState, mig_names, spec_sizes

    out = []
    for g in (g for g in roller.bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE):
        sizes = spec_sizes(g)
        for zone, name in mig_names(roller.bundle, g):
            state = roller.read_mig(g, zone, name, sizes.get(zone, 0))
            # a group not created yet (step 3 makes it) has no instances
            out.append(state or MigState(g.name, zone, name, "", 0, sizes.get(zone, 0)))
    return out


def _worker_names(target: GceTarget, bundle: ClusterBundle) -> list[tuple[str, str]]:
    """(zone, name) of every worker instance of the cluster."""
    from kubegce.cloud.gce.instances import list_instances

    roles = {g.name: g.spec.role for g in bundle.instance_groups}
    views = list_instances(target.clients, target.project, target.cluster_name)
    return sorted((v.zone, v.name) for v in views if roles.get(v.group) != Role.CONTROL_PLANE)


def plan_restore(repo: ClusterRepository, target: GceTarget, cluster: str, backup_id: str) -> RestorePlan:
    bundle = repo.get(cluster).bundle
    backup = verified_backup(repo, cluster, backup_id)
    roller = _roller(target, bundle, repo, _quiet, time.sleep)
    cps = sorted(i.name for s in _control_plane_migs(roller) for i in s.instances)
    workers = [n for _, n in _worker_names(target, bundle)]
    marker = read_restore_marker(repo.store, cluster)
    continuing = marker if marker is not None and marker.in_progress and marker.backup == backup.id else None
    lb = sum(g.spec.min_size for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE) > 1
    return RestorePlan(bundle, backup, cps, workers, lb, continuing)


@dataclass
class RestoreResult:
    backup: str
    replaced: list[str] = field(default_factory=list)
    control_planes: list[str] = field(default_factory=list)
    nodes_deleted: list[str] = field(default_factory=list)
    workers_reset: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Restorer:
    def __init__(self, repo: ClusterRepository, target: GceTarget, plan: RestorePlan, *, catalog: Catalog,
                 kube: KubeClient | None, log: Log, timeout_s: float, poll_s: float,
                 sleep: Callable[[float], None]) -> None:  # fmt: skip
        self.repo, self.store, self.target, self.plan = repo, repo.store, target, plan
        self.bundle, self.name = plan.bundle, plan.bundle.cluster.name
        self.catalog, self.kube, self.log = catalog, kube, log
        self.timeout_s, self.poll_s, self.sleep = timeout_s, poll_s, sleep
        self.roller = _roller(target, self.bundle, repo, log, sleep)
        self.result = RestoreResult(plan.backup.id)
        # control planes honour the marker this long (a run waits up to timeout_s for the control
        # planes and as long again for the nodes); each run renews it
        self.lifetime_s = 2 * timeout_s + 600
        self.current: RestoreMarker | None = None  # the marker as this run last wrote it
        self.renewed = 0.0

    # -------------------------------------------------------------- 2. the marker
    def marker(self) -> RestoreMarker:
        """This run's round: the unfinished one of this backup, renewed, or a new one (none before,
        another backup's, or a round whose leader is gone or failed)."""
        existing = self.store.read(restore_marker_key(self.name))
        current = parse_restore_marker(existing)
        expires = int(time.time() + self.lifetime_s)
        generation = existing.generation if existing is not None else 0
        if current is not None and current.in_progress and current.backup == self.plan.backup.id:
            broken = self._round_broken(current)
            if not broken:
                self.log(f"continuing the restore of {current.backup} begun {current.started}")
                return self._write(replace(current, expires=expires), generation)
            self.log(f"{broken}: a new round")
        elif current is not None and current.in_progress:
            self.log(
                f"the unfinished restore of backup {current.backup} (begun {current.started}) is given up for this one"
            )
        instances = [i for s in _control_plane_migs(self.roller) for i in s.instances]
        unsettled = [i.name for i in instances if not i.id or i.action in ("CREATING", "RECREATING")]
        if unsettled:
            raise UserError(f"control plane(s) {', '.join(unsettled)} are being created; a restore round must name "
                            "every instance it replaces: re-run in a minute", exit_code=1)  # fmt: skip
        marker = self._write(new_restore_marker(self.plan.backup, [i.id for i in instances], lifetime_s=self.lifetime_s,
                                                replace_names=[i.name for i in instances]), generation)  # fmt: skip
        self.log(f"marked the restore of {marker.backup} in the state store (round {marker.token}); "
                 f"{len(instances)} control plane instance(s) to replace")  # fmt: skip
        return marker

    def _write(self, marker: RestoreMarker, generation: int) -> RestoreMarker:
        try:
            return write_restore_marker(self.store, self.name, marker, generation=generation)
        except ConflictError:
            raise ConflictError(f"the restore marker of {self.name} changed while this run read it: is another "
                                "restore running? re-run to continue") from None  # fmt: skip

    def _leader(self, marker: RestoreMarker) -> str | None:
        """The instance that won the round's restore election (its leader object), if any."""
        got = self.store.read(restore_leader_key(self.name, marker.token))
        if got is None:
            return None
        holder = got.data.decode(errors="replace").strip()
        return holder if NAME_RE.fullmatch(holder) else "(not an instance name)"

    def _renew(self) -> None:
        """The marker's expiry pushed on, at most once a minute, while this run waits."""
        if time.monotonic() - self.renewed < 60:
            return
        current = self._current()
        self.current = self._write(replace(current, expires=int(time.time() + self.lifetime_s)), current.generation)
        self.renewed = time.monotonic()

    def _round_broken(self, marker: RestoreMarker) -> str:
        """Why nobody will restore the snapshot in this round any more ("" when somebody may): its
        leader's instance is gone, or its boot failed."""
        holder = self._leader(marker)
        fresh = {i.name: i for s in _control_plane_migs(self.roller) for i in s.instances if _fresh(i, marker)}
        if holder is None:
            failed = sorted(n for n, i in fresh.items() if i.phase == protocol.FAILED)
            if failed:
                return f"control plane {failed[0]} of the round failed before any took the restore"
            return ""
        if holder not in fresh:
            return f"the control plane that was restoring the snapshot ({holder}) is gone"
        if fresh[holder].phase == protocol.FAILED:
            why = _printable(fresh[holder].error or "see diagnose")
            return f"the control plane that was restoring the snapshot ({holder}) failed: {why}"
        return ""

    # -------------------------------------------------------------- 3. apply
    def apply(self) -> None:
        from kubegce.service.cluster import _execute, plan
        from kubegce.service.nodes import publish_load_balancer_address, publish_node_objects

        changes = plan(self.bundle, self.catalog, target=self.target, store=self.store)
        publish_node_objects(self.repo, changes.boot, log=self.log)
        if not changes.diff.empty:
            self.log(
                f"applying the spec ({len(changes.diff.changes)} change(s)) before the control planes are replaced"
            )
        failed = [r for r in _execute(self.target, changes.diff, None, None) if not r.ok]
        if failed:
            raise UserError(f"applying the spec failed for {failed[0].key}: {failed[0].error}; re-run to continue",
                            exit_code=1)  # fmt: skip
        publish_load_balancer_address(self.repo, self.target, changes.graph, log=self.log)

    # -------------------------------------------------------------- 4. replace
    def replace(self, marker: RestoreMarker) -> None:
        """Every old control plane deleted (with its etcd disk) and gone from its group before any
        group is resized: a new control plane never boots while an old one serves the API."""
        states = _control_plane_migs(self.roller)
        for state in states:
            doomed = [i.name for i in state.instances if not _fresh(i, marker) and i.action not in ("DELETING",)]
            if doomed:
                self.log(f"deleting control plane(s) {', '.join(doomed)} and their etcd disks ({state.name})")
                self.roller.delete_instances(state, doomed)
                self.result.replaced += doomed
        deadline = time.monotonic() + self.timeout_s
        while True:
            states = _control_plane_migs(self.roller)
            left = sorted(i.name for s in states for i in s.instances if not _fresh(i, marker))
            if not left:
                break
            if time.monotonic() >= deadline:
                raise UserError(f"the old control planes {', '.join(left)} were not deleted within {self.timeout_s:g}s; "
                                "re-run to keep waiting", exit_code=1)  # fmt: skip
            self.log(f"waiting for the old control planes to go: {', '.join(left)}")
            self._renew()
            self.sleep(self.poll_s)
        try:  # the old etcd leader's backup job may have pruned it before the marker protected it
            verified_snapshot(self.store, self.name, self.plan.backup)
        except ManifestError as exc:
            raise UserError(f"--backup {self.plan.backup.id}: {exc}", exit_code=1) from None
        for state in states:
            if state.target_size != state.spec_target:
                self.log(f"{state.name}: {state.target_size} -> {state.spec_target} instance(s)")
                self.roller.resize(state, state.spec_target)

    # -------------------------------------------------------------- 5. wait for the control planes
    def wait_control_planes(self, marker: RestoreMarker) -> list[str]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            states = _control_plane_migs(self.roller)
            members = [i for s in states for i in s.instances]
            failed = [i for i in members if i.phase == protocol.FAILED]
            if failed:
                f = failed[0]
                raise UserError(f"control plane {f.name} failed to come up in the restore: {f.error or 'see diagnose'}; "
                                f"`kubegce diagnose {self.name} --instance {f.name}` names the cause; fix it and re-run "
                                "`kubegce restore etcd` (it continues)", exit_code=1)  # fmt: skip
            fresh = [i for i in members if _fresh(i, marker)]
            want = sum(s.spec_target for s in states)
            joined = [i for i in fresh if i.joined]
            # the round is done when a control plane it made holds the leader object (it restored
            # the snapshot) and every control plane joined
            leader = self._leader(marker)
            if len(joined) == want and len(members) == want and leader in {i.name for i in joined}:
                return sorted(i.name for i in joined)
            if time.monotonic() >= deadline:
                why = ("" if leader is not None else
                       f"; no control plane took round {marker.token}'s restore (none read the restore marker?)")  # fmt: skip
                raise UserError(f"{len(joined)} of {want} control planes joined within {self.timeout_s:g}s{why}; "
                                f"`kubegce diagnose {self.name}` says why; re-run to keep waiting", exit_code=1)  # fmt: skip
            self.log(f"waiting for the control planes: {len(joined)}/{want} joined"
                     + ("" if leader else ", none has taken the restore yet"))  # fmt: skip
            self._renew()
            self.sleep(self.poll_s)

    # -------------------------------------------------------------- 6. nodes
    def nodes(self, control_planes: list[str]) -> None:
        from kubegce.kube.drain import delete_node, node_states

        workers = _worker_names(self.target, self.bundle)
        instances = set(control_planes) | {n for _, n in workers}
        registered: set[str] | None = None
        if self.kube is not None:
            registered = set(node_states(self.kube))
            for node in sorted(registered - instances):
                if delete_node(self.kube, node):
                    self.log(f"deleted node {node} (its instance is gone)")
                    self.result.nodes_deleted.append(node)
        for zone, name in workers:
            if self.plan.load_balanced and registered is not None and name in registered:
                continue
            self.log(f"resetting worker {name} so it registers with the restored API")
            self._reset(zone, name)
            self.result.workers_reset.append(name)

    def _reset(self, zone: str, name: str) -> None:
        from kubegce.cloud.graph import ResourceKey

        c = self.target.clients
        key = ResourceKey("instance", zone, name)
        self.target.api.mutate(key, lambda: c.instances.reset_unary(
            project=self.target.project, zone=zone, instance=name, retry=None))  # fmt: skip

    def wait_ready(self) -> None:
        from kubegce.diagnose.validate import validate
        from kubegce.kube.drain import nodes_ready

        deadline = time.monotonic() + self.timeout_s
        while True:
            report = validate(self.target, node_ready=nodes_ready(self.kube) if self.kube is not None else None)
            if report.ok:
                return
            if time.monotonic() >= deadline:
                raise UserError(f"the restored cluster did not validate within {self.timeout_s:g}s: "
                                f"{'; '.join(report.problems[:3])}; `kubegce validate cluster {self.name}` "
                                "shows the rest; re-run to keep waiting", exit_code=1)  # fmt: skip
            ready = sum(1 for n in report.nodes if n.ready)
            self.log(f"waiting for the nodes: {ready}/{len(report.nodes)} ready")
            self._renew()
            self.sleep(self.poll_s)

    def finish(self) -> None:
        # against the generation this run wrote: a run whose lease was taken (or an --abort) wins
        current = self._current()
        self.current = self._write(replace(current, state=RESTORED), current.generation)

    def _current(self) -> RestoreMarker:
        if self.current is None:
            raise RuntimeError("internal: the restore marker is written before it is renewed or finished")
        return self.current


def restore(repo: ClusterRepository, target: GceTarget, plan: RestorePlan, *, catalog: Catalog,
            kube: KubeClient | None = None, log: Log = _quiet, timeout_s: float = 1800.0, poll_s: float = 5.0,
            break_lease: bool = False, sleep: Callable[[float], None] = time.sleep) -> RestoreResult:  # fmt: skip
    """Carry out ``plan`` (from :func:`plan_restore`), holding the cluster's lease throughout."""
    started = time.monotonic()
    r = _Restorer(repo, target, plan, catalog=catalog, kube=kube, log=log, timeout_s=timeout_s, poll_s=poll_s,
                  sleep=sleep)  # fmt: skip
    try:
        verified_snapshot(repo.store, r.name, plan.backup)  # again: the store may have changed since the plan
    except ManifestError as exc:
        raise UserError(f"--backup {plan.backup.id}: {exc}") from None
    with cluster_lease(repo.store, r.name, "restore", break_lease=break_lease, log=log) as check:
        marker = r.current = r.marker()
        r.renewed = time.monotonic()
        check()
        r.apply()
        check()
        r.replace(marker)
        check()
        r.result.control_planes = r.wait_control_planes(marker)
        log(f"control planes up on the restored etcd: {', '.join(r.result.control_planes)}")
        check()
        r.nodes(r.result.control_planes)
        r.wait_ready()
        check()
        r.finish()
    r.result.seconds = time.monotonic() - started
    return r.result


def abort_restore(repo: ClusterRepository, cluster: str, *, log: Log = _quiet, break_lease: bool = False
                  ) -> RestoreMarker | None:  # fmt: skip
    """Give up the restore in progress: the marker says ``aborted`` (control planes made from now on
    boot as they would without a restore; those it made stay as they are). None when there was none."""
    repo.get(cluster)
    with cluster_lease(repo.store, cluster, "restore", break_lease=break_lease, log=log):
        got = repo.store.read(restore_marker_key(cluster))
        marker = parse_restore_marker(got)
        if got is not None and marker is None:
            # not one this kubegce can read: control planes would refuse it, so it goes
            repo.store.delete(restore_marker_key(cluster), if_generation=got.generation)
            log("removed a restore marker this kubegce cannot read")
            return None
        if got is None or marker is None or not marker.in_progress:
            return None
        return write_restore_marker(repo.store, cluster, replace(marker, state=ABORTED), generation=got.generation)


def _fresh(i: ManagedInstance, marker: RestoreMarker) -> bool:
    """An instance the round made (not one it replaces: by id, or by name for one a MIG recreated)."""
    return i.id not in marker.replace and i.name not in marker.replace_names


def _printable(text: str, limit: int = 200) -> str:
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean if len(clean) <= limit else clean[:limit] + "..."


def describe_result(result: RestoreResult) -> dict[str, Any]:
    return {"backup": result.backup, "replaced": result.replaced, "controlPlanes": result.control_planes,
            "nodesDeleted": result.nodes_deleted, "workersReset": result.workers_reset,
            "seconds": round(result.seconds, 1)}  # fmt: skip
