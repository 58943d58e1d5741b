"""The rolling update: replace every instance whose template is not its group's, safely.

A node group rolls batch by batch. Before each batch the group is read (one
``listManagedInstances`` per zonal MIG, each running instance's boot phase from its guest
attributes, node readiness and cordons from Kubernetes unless ``cloudonly``) and the group's
budgets are split over its zones (:func:`kubegce.cloud.rollout.split_budgets`): the zones with a
share roll at the same time, each asking :func:`kubegce.cloud.rollout.next_step` what to do
(resize, wait, cordon + drain + ``deleteInstances``) until its batch is deleted. Then the cluster
is validated with ``validate cluster``'s own logic (within ``--validation-timeout``) before the
next batch. The shares add up to the group's budgets, so the group as a whole is never more than
its surge above its target, nor more than its unavailability below it. Nothing is remembered
between steps, so a run killed anywhere and started again continues from what exists.

Control-plane groups roll first, one instance at a time, through :func:`roll_control_planes`
(the stateful path keeps their etcd disks; see docs/rolling-update.md).

``force`` replaces every instance: the names that exist when the roll starts are written to the
state store (:func:`kubegce.state.layout.rolling_marker_key`) so a rerun after a kill does not
replace the replacements; the marker goes when the roll ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubegce.boot import protocol
from kubegce.cloud.names import gce_name, url_tail, zone_letter
from kubegce.cloud.rollout import (
    Budget,
    Budgets,
    Member,
    Step,
    Zone,
    next_step,
    resolve_budgets,
    split_budgets,
)
from kubegce.errors import ConflictError, UserError
from kubegce.service.autoscaling import RollGuard
from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
from kubegce.state.backups import refuse_during_restore
from kubegce.state.layout import rolling_marker_key
from kubegce.state.lease import cluster_lease

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget
    from kubegce.kube.client import KubeClient
    from kubegce.state.base import StateStore

Log = Callable[[str], None]

STATUS_COLUMNS = ("NAME", "STATUS", "NEEDUPDATE", "READY", "MIN", "TARGET", "MAX", "NODES")


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class Settings:
    surge: Budget = Budget(1, False)
    unavailable: Budget = Budget(0, False)
    drain_timeout_s: float = 300.0
    validation_timeout_s: float = 900.0
    post_drain_delay_s: float = 5.0
    poll_s: float = 1.0
    cloudonly: bool = False
    force: bool = False
    break_lease: bool = False


@dataclass
class ManagedInstance:
    name: str
    zone: str
    url: str
    template: str  # the template it was created from (its version), as projects/...
    action: str  # the MIG's currentAction: NONE, CREATING, DELETING, ...
    status: str  # instanceStatus: PROVISIONING, RUNNING, ...
    phase: str = ""  # kubegce/phase guest attribute
    error: str = ""  # kubegce/error guest attribute
    id: str = ""  # the instance's id (a recreated instance keeps its name, not its id)
    node_ready: bool | None = None  # Kubernetes' Ready (None: not asked / not registered)
    cordoned: bool = False

    @property
    def joined(self) -> bool:
        return self.status == "RUNNING" and self.phase == protocol.JOINED


@dataclass
class MigState:
    group: str
    zone: str
    name: str
    template: str  # the MIG's instance template, as projects/...
    target_size: int  # the MIG's current targetSize
    spec_target: int  # what the spec asks for in this zone
    instances: list[ManagedInstance] = field(default_factory=list)

    def stale(self, forced: set[str]) -> list[ManagedInstance]:
        return [i for i in self.instances if i.template != self.template or i.name in forced]


@dataclass(frozen=True)
class GroupStatus:
    group: str
    role: str
    need_update: int
    ready: int
    min: int
    target: int
    max: int
    nodes: int

    @property
    def status(self) -> str:
        return "NeedsUpdate" if self.need_update else "Ready"

    def row(self) -> tuple[str, ...]:
        return (self.group, self.status, str(self.need_update), str(self.ready), str(self.min), str(self.target),
                str(self.max), str(self.nodes))  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "status": self.status, "needUpdate": self.need_update, "ready": self.ready,
                "min": self.min, "target": self.target, "max": self.max}  # fmt: skip


class Backoff:
    """Waits that start short and double up to ``cap``: what finishes fast (an emulator, a quick
    drain) is seen at once, and a slow cloud is still polled no more often than every ``cap`` s."""

    def __init__(self, cap: float, first: float = 0.05) -> None:
        self.cap = cap
        self.first = min(first, cap)
        self.delay = self.first

    def reset(self) -> None:
        self.delay = self.first

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        sleep(self.delay)
        self.delay = min(self.cap, self.delay * 2)


class RollFailed(UserError):
    """A new instance's boot failed: the roll stops and says where to look."""


def mig_names(bundle: ClusterBundle, group: InstanceGroup) -> list[tuple[str, str]]:
    """(zone, MIG name) of a group, as cloud/model.py names them."""
    c_name = bundle.cluster.name
    return [(zone, gce_name(zone_letter(zone), group.name, c_name)) for zone in group.spec.zones]


def spec_sizes(group: InstanceGroup) -> dict[str, int]:
    from kubegce.cloud.model import split_size

    return dict(split_size(group.spec.min_size, group.spec.zones))


def select_groups(bundle: ClusterBundle, names: list[str]) -> list[InstanceGroup]:
    """The groups to roll, control planes first; unknown names are refused with the known ones."""
    known = {g.name: g for g in bundle.instance_groups}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(
            f"--instance-group {unknown[0]}: cluster {bundle.cluster.name} has no such group; "
            f"its groups are {', '.join(sorted(known))}"
        )
    chosen = [known[n] for n in names] if names else list(bundle.instance_groups)
    return sorted(chosen, key=lambda g: (g.spec.role != Role.CONTROL_PLANE, g.name))


class Roller:
    """Reads and changes one cluster's groups through the Compute API (and Kubernetes)."""

    def __init__(self, target: GceTarget, bundle: ClusterBundle, *, kube: KubeClient | None = None,
                 store: StateStore | None = None, settings: Settings | None = None, log: Log = _quiet,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.target = target
        self.clients = target.clients
        self.project = bundle.cluster.spec.project
        self.bundle = bundle
        self.kube = kube
        self.store = store
        self.settings = settings or Settings()
        self.log = log
        self.sleep = sleep
        self.forced: set[str] = set()
        self.replaced: dict[str, str] = {}  # --force: control planes recreated in this roll (name -> old id)
        self.autoscaler = RollGuard(target, bundle, kube=kube, store=store, log=log)  # docs/autoscaling.md

    # ------------------------------------------------------------------ reading
    def read_mig(self, group: InstanceGroup, zone: str, name: str, spec_target: int) -> MigState | None:
        migs = self.clients.instance_group_managers
        try:
            mig = self.target.api.call(lambda: migs.get(project=self.project, zone=zone, instance_group_manager=name))
        except self.clients.not_found:
            return None
        state = MigState(group.name, zone, name, url_tail(mig.instance_template), int(mig.target_size), spec_target)
        pager = self.target.api.call(lambda: migs.list_managed_instances(
            project=self.project, zone=zone, instance_group_manager=name))  # fmt: skip
        for mi in pager:
            version = url_tail(mi.version.instance_template) if mi.version else state.template
            state.instances.append(ManagedInstance(
                name=mi.instance.rsplit("/", 1)[-1], zone=zone, url=mi.instance,
                template=version or state.template, action=str(mi.current_action or "NONE"),
                status=str(mi.instance_status or ""), id=str(mi.id or "")))  # fmt: skip
        for inst in state.instances:
            if inst.status == "RUNNING" and inst.action in ("NONE", ""):
                inst.phase, inst.error = self._phase(inst)
        if self.kube is not None:
            from kubegce.kube.drain import node_states

            nodes = node_states(self.kube)
            for inst in state.instances:
                node = nodes.get(inst.name)
                inst.node_ready = node.ready if node else None
                inst.cordoned = node.cordoned if node else False
        return state

    def _phase(self, inst: ManagedInstance) -> tuple[str, str]:
        c = self.clients
        request = c.compute.GetGuestAttributesInstanceRequest(
            project=self.project, zone=inst.zone, instance=inst.name, query_path=protocol.attribute_path("")
        )
        try:
            got = self.target.api.call(lambda: c.instances.get_guest_attributes(request=request))
        except c.api_error:
            return "", ""
        attrs = {i.key: i.value for i in got.query_value.items if i.namespace == protocol.ATTRIBUTE_NAMESPACE}
        return attrs.get(protocol.ATTR_PHASE, ""), attrs.get(protocol.ATTR_ERROR, "")

    def ready(self, inst: ManagedInstance) -> bool:
        if not inst.joined:
            return False
        return self.kube is None or inst.node_ready is True

    def members(self, state: MigState) -> list[Member]:
        stale = {i.name for i in state.stale(self.forced)}
        return [
            Member(
                name=i.name,
                stale=i.name in stale,
                ready=self.ready(i),
                failed=i.phase == protocol.FAILED,
                cordoned=i.cordoned,
                deleting=i.action in ("DELETING", "ABANDONING"),
                creating=i.action in ("CREATING", "CREATING_WITHOUT_RETRIES"),
            )  # fmt: skip
            for i in state.instances
        ]

    def status(self, groups: list[InstanceGroup]) -> list[GroupStatus]:
        out = []
        for g in groups:
            sizes = spec_sizes(g)
            need = ready = nodes = 0
            for zone, name in mig_names(self.bundle, g):
                state = self.read_mig(g, zone, name, sizes.get(zone, 0))
                if state is None:
                    continue
                need += len(state.stale(self.forced))
                ready += sum(1 for i in state.instances if self.ready(i))
                nodes += len(state.instances)
            role = "control-plane" if g.spec.role == Role.CONTROL_PLANE else "node"
            out.append(GroupStatus(g.name, role, need, ready, g.spec.min_size, g.spec.min_size, g.spec.max_size, nodes))
        return out

    # ------------------------------------------------------------------ force marker
    def load_force_marker(self, groups: list[InstanceGroup]) -> None:
        """With --force: the instances that existed when the roll began (written once, kept across kills)."""
        if not self.settings.force:
            return
        if self.store is None:
            raise UserError("--force needs the state store (it records which instances the roll started with)")
        key = rolling_marker_key(self.bundle.cluster.name)
        current = self.store.read(key)
        if current is not None:
            marker = json.loads(current.data.decode())
            self.forced = set(marker.get("instances", []))
            self.replaced = {str(k): str(v) for k, v in dict(marker.get("replaced", {})).items()}
            self.log(f"continuing a --force roll that began with {len(self.forced)} instance(s)")
            return
        names: list[str] = []
        for g in groups:
            for zone, name in mig_names(self.bundle, g):
                state = self.read_mig(g, zone, name, 0)
                names += [i.name for i in state.instances] if state else []
        marker = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "instances": sorted(names)}
        self.store.write(key, json.dumps(marker).encode(), if_generation=0)
        self.forced = set(names)

    def record_replacing(self, name: str, instance_id: str) -> None:
        """--force: note in the roll marker, before a control plane is recreated, which instance
        it was (its name is kept, so the marker's names alone would replace it again after a kill)."""
        if not self.settings.force or self.store is None:
            return
        key = rolling_marker_key(self.bundle.cluster.name)
        for _ in range(5):
            current = self.store.read(key)
            marker: dict[str, Any] = (
                json.loads(current.data.decode()) if current is not None else {"instances": sorted(self.forced)}
            )
            marker.setdefault("replaced", {})[name] = instance_id
            try:
                self.store.write(key, json.dumps(marker).encode(),
                                 if_generation=current.generation if current is not None else 0)  # fmt: skip
            except ConflictError:
                continue
            self.replaced[name] = instance_id
            return
        raise ConflictError(f"the roll marker {key} keeps changing: is another rolling-update running?")

    def clear_force_marker(self) -> None:
        if self.settings.force and self.store is not None:
            key = rolling_marker_key(self.bundle.cluster.name)
            current = self.store.read(key)
            if current is not None:
                self.store.delete(key, if_generation=current.generation)

    # ------------------------------------------------------------------ acting
    def resize(self, state: MigState, size: int) -> None:
        migs = self.clients.instance_group_managers
        key = self._key(state)
        self.target.api.mutate(key, lambda: migs.resize_unary(
            project=self.project, zone=state.zone, instance_group_manager=state.name, size=size, retry=None))  # fmt: skip

    def delete_instances(self, state: MigState, names: list[str]) -> None:
        c = self.clients.compute
        migs = self.clients.instance_group_managers
        urls = [i.url for i in state.instances if i.name in names]
        body = c.InstanceGroupManagersDeleteInstancesRequest(instances=urls)
        self.target.api.mutate(self._key(state), lambda: migs.delete_instances_unary(
            project=self.project, zone=state.zone, instance_group_manager=state.name,
            instance_group_managers_delete_instances_request_resource=body, retry=None))  # fmt: skip

    def _key(self, state: MigState) -> Any:
        from kubegce.cloud.graph import ResourceKey

        return ResourceKey("instance_group_manager", state.zone, state.name)

    def drain(self, names: list[str]) -> None:
        if self.kube is None:
            return
        from kubegce.kube.drain import cordon, drain

        for name in names:
            cordon(self.kube, name)
        for name in names:
            self.log(f"  draining node {name}")
            drain(self.kube, name, timeout_s=self.settings.drain_timeout_s)

    # ------------------------------------------------------------------ the loop
    def roll_batch(self, group: InstanceGroup, state: MigState, budgets: Budgets) -> int:
        """One batch in one MIG with its share of the group's budgets: surge, wait until the new
        instances are Ready, drain and delete old ones, until the MIG would start the next batch
        (grow again) or is done; returns how many it deleted (0: the MIG needed no batch, only a
        resize or nothing)."""
        waiting_since: float | None = None
        last_why = ""
        backoff = Backoff(self.settings.poll_s)
        zone, name = state.zone, state.name
        deleted = 0
        while True:
            members = self.members(state)
            step = next_step(members, state.spec_target, budgets, state.target_size)
            if step.done or (deleted and step.resize_to is not None and step.resize_to > state.target_size):
                return deleted  # the next batch comes after the cluster validates
            if step.failed:
                raise self._failure(state, step)
            booting = tuple(sorted(m.name for m in members if not m.stale and not m.ready and not m.deleting))
            if step.drain and booting:
                # the batch's new instances are still booting: drain when they all are Ready, in one
                # go (one deleteInstances, one --post-drain-delay), not one by one as each comes up
                step = Step(wait_for=booting, why="new instances are not Ready yet")
            if step.wait_for:
                now = time.monotonic()
                waiting_since = waiting_since or now
                if now - waiting_since > self.settings.validation_timeout_s:
                    raise UserError(
                        f"{group.name}: {', '.join(step.wait_for)} in {zone} did not become Ready within "
                        f"--validation-timeout ({self.settings.validation_timeout_s:.0f}s); see `kubegce get "
                        f"instances {self.bundle.cluster.name}` and `kubegce diagnose instance "
                        f"{self.bundle.cluster.name} {step.wait_for[0]}`"
                    )
                if step.why != last_why:
                    self.log(f"{group.name} ({zone}): waiting: {step.why} ({', '.join(step.wait_for)})")
                    backoff.reset()
                last_why = step.why
                backoff.wait(self.sleep)
            else:
                waiting_since, last_why = None, ""
                if step.resize_to is not None:
                    self.log(f"{group.name} ({zone}): {step.why}: resize {state.target_size} -> {step.resize_to}")
                    self.resize(state, step.resize_to)
                elif step.drain:
                    self.log(f"{group.name} ({zone}): {step.why}: {', '.join(step.drain)}")
                    self.drain(list(step.drain))
                    self.delete_instances(state, list(step.drain))
                    deleted += len(step.drain)
                    if self.settings.post_drain_delay_s > 0:
                        self.sleep(self.settings.post_drain_delay_s)
                else:  # pragma: no cover
                    raise UserError(f"internal: the rolling update has no action for step {step}")
            got = self.read_mig(group, zone, name, state.spec_target)
            if got is None:
                raise UserError(f"{group.name}: MIG {name} in {zone} disappeared during the rolling update; run "
                                f"`kubegce update cluster {self.bundle.cluster.name} --yes`, then roll again")  # fmt: skip
            state = got

    def read_group(self, group: InstanceGroup) -> dict[str, MigState]:
        sizes = self.autoscaler.sizes_of(group) or spec_sizes(group)  # an autoscaled group: its sizes
        states: dict[str, MigState] = {}
        for zone, name in mig_names(self.bundle, group):
            state = self.read_mig(group, zone, name, sizes.get(zone, 0))
            if state is None:
                self.log(f"{group.name}: MIG {name} in {zone} does not exist; run `kubegce update cluster "
                         f"{self.bundle.cluster.name} --yes` first")  # fmt: skip
                continue
            states[zone] = state
        self.autoscaler.protect([i.name for st in states.values() for i in st.instances])
        return states

    def roll_group(self, group: InstanceGroup) -> int:
        """Roll a node group: batch after batch, the group's zonal MIGs at the same time, each with
        its share of the group's budgets (:func:`kubegce.cloud.rollout.split_budgets`); after
        every batch that deleted instances, the cluster is validated (:meth:`validate_cluster`)
        before the next one."""
        size = sum((self.autoscaler.sizes_of(group) or spec_sizes(group)).values())
        if size == 0:
            self.log(f"{group.name}: target 0, skipped")
            return 0
        budgets = resolve_budgets(self.settings.surge, self.settings.unavailable, size, group.name)
        replaced = 0
        while True:
            states = self.read_group(group)
            zones = {z: Zone(self.members(st), st.spec_target, st.target_size) for z, st in states.items()}
            shares = split_budgets(budgets, zones)
            if not shares:
                for st in states.values():
                    self._uncordon_fresh(st)
                return replaced
            if len(shares) == 1:
                ((zone, share),) = shares.items()
                deleted = self.roll_batch(group, states[zone], share)
            else:
                deleted = self._concurrently(group, states, shares)
            replaced += deleted
            if deleted:
                self.validate_cluster(group)

    def _concurrently(self, group: InstanceGroup, states: dict[str, MigState], shares: dict[str, Budgets]) -> int:
        """One batch in each of these MIGs at once; every batch ends before this returns (or raises
        the first failure)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix="kubegce-roll") as pool:
            futures = [pool.submit(self.roll_batch, group, states[z], b) for z, b in sorted(shares.items())]
            errors = [f.exception() for f in futures]
        for err in errors:
            if err is not None:
                raise err
        return sum(f.result() for f in futures)

    def validate_cluster(self, group: InstanceGroup) -> None:
        """`validate cluster` (its own logic, :func:`kubegce.diagnose.validate.validate`) until it
        passes or --validation-timeout runs out: every group at its size, every instance's boot
        joined and, unless --cloudonly, every node Ready in Kubernetes."""
        from kubegce.cloud.model import spot_groups
        from kubegce.diagnose.validate import validate

        deadline = time.monotonic() + self.settings.validation_timeout_s
        backoff = Backoff(self.settings.poll_s)
        last: list[str] = []
        while True:
            ready = None
            if self.kube is not None:
                from kubegce.kube.drain import node_states

                ready = {name: s.ready for name, s in node_states(self.kube).items()}
            report = validate(self.target, node_ready=ready, spot=spot_groups(self.bundle))
            if report.ok:
                return
            if time.monotonic() >= deadline:
                lines = "\n".join(f"  - {p}" for p in report.problems)
                raise UserError(
                    f"{group.name}: the cluster did not validate within --validation-timeout "
                    f"({self.settings.validation_timeout_s:.0f}s) after the last batch, so the rolling update "
                    f"stopped before the next one:\n{lines}\nFix what `kubegce validate cluster "
                    f"{self.bundle.cluster.name}` reports (or allow more time), then run the rolling update again."
                )
            if report.problems != last:
                self.log(f"{group.name}: validating the cluster: {'; '.join(report.problems)}")
                last = report.problems
                backoff.reset()
            backoff.wait(self.sleep)

    def _uncordon_fresh(self, state: MigState) -> None:
        """A node on the current template left cordoned (a run stopped mid-drain) is uncordoned."""
        if self.kube is None:
            return
        from kubegce.kube.drain import uncordon

        for inst in state.instances:
            if inst.cordoned and inst.template == state.template and inst.name not in self.forced:
                uncordon(self.kube, inst.name)
                self.log(f"uncordoned {inst.name}")

    def _failure(self, state: MigState, step: Step) -> RollFailed:
        name = step.failed[0]
        inst = next(i for i in state.instances if i.name == name)
        return RollFailed(
            f"{state.group}: new instance {name} ({state.zone}) reported phase {inst.phase or '?'}: "
            f"kubegce/error={inst.error or '(none)'}; the rolling update stopped (old instances are kept). "
            f"See `kubegce diagnose instance {self.bundle.cluster.name} {name}`, fix the spec, "
            f"`kubegce update cluster {self.bundle.cluster.name} --yes`, then run the rolling update again."
        )


def check_budgets(settings: Settings, groups: list[InstanceGroup]) -> None:
    """Refuse budgets that leave some group unable to move, before anything changes."""
    for g in groups:
        if g.spec.min_size > 0 and g.spec.role != Role.CONTROL_PLANE:
            resolve_budgets(settings.surge, settings.unavailable, g.spec.min_size, g.name)


def roll_control_planes(roller: Roller, group: InstanceGroup) -> int:
    """Replace a control-plane group's stale instances one at a time, keeping etcd: per MIG,
    :func:`kubegce.service.rolling_control_plane.roll_control_plane_group` with its stale members."""
    from kubegce.service import rolling_control_plane as cp

    sizes = spec_sizes(group)
    count = 0
    for zone, name in mig_names(roller.bundle, group):
        state = roller.read_mig(group, zone, name, sizes.get(zone, 0))
        if state is None:
            continue
        stale_names = [i.name for i in state.stale(roller.forced)]
        if not stale_names:
            continue
        kube_get = cp.kube_get_for(roller.kube) if roller.kube is not None else None
        done = cp.roll_control_plane_group(
            roller.clients, roller.project, zone, name, instances=stale_names, kube_get=kube_get,
            timeout_s=roller.settings.validation_timeout_s, poll_s=roller.settings.poll_s, log=roller.log,
            cluster=roller.bundle.cluster.name, replaced=roller.replaced,
            record=roller.record_replacing if roller.settings.force else None,
        )  # fmt: skip
        count += len(done)
    return count


def rolling_update(roller: Roller, groups: list[InstanceGroup]) -> dict[str, int]:
    """Roll the groups (control planes first); how many instances each replaced. With a state
    store the cluster's lease is held throughout: a concurrent roll or apply is refused."""
    check_budgets(roller.settings, groups)
    if roller.store is None:
        return _roll(roller, groups, lambda: None)
    with cluster_lease(roller.store, roller.bundle.cluster.name, "rolling-update",
                       break_lease=roller.settings.break_lease, log=roller.log) as check:  # fmt: skip
        refuse_during_restore(roller.store, roller.bundle.cluster.name, "rolling-update cluster")
        return _roll(roller, groups, check)


def _roll(roller: Roller, groups: list[InstanceGroup], check: Callable[[], None]) -> dict[str, int]:
    roller.load_force_marker(groups)
    roller.autoscaler.begin(groups)
    done: dict[str, int] = {}
    for g in groups:
        check()
        if g.spec.role == Role.CONTROL_PLANE:
            done[g.name] = roll_control_planes(roller, g)
        else:
            done[g.name] = roller.roll_group(g)
    check()
    roller.autoscaler.end()
    roller.clear_force_marker()
    return done


def stale_groups(target: GceTarget, bundle: ClusterBundle) -> list[str]:
    """Groups with instances on an old template (after `update cluster --yes`)."""
    roller = Roller(target, bundle)
    return [s.group for s in roller.status(list(bundle.instance_groups)) if s.need_update]
