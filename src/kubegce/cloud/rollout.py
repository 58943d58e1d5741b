"""Rolling-update arithmetic: surge and unavailability budgets, and each step's decision.

Pure functions, no I/O: the rolling update reads the group's state from the cloud (and Kubernetes)
before every step and asks :func:`next_step` what to do, so a run killed anywhere and started again
decides from what exists, never from what it remembers. The invariants it keeps for a group of
target size ``T`` (from the spec, not from the MIG, whose size moves while it rolls):

- never more than ``T + surge`` instances;
- never fewer than ``T - unavailable`` Ready instances (counting only instances that are Ready);
- an old instance is deleted only after it was drained, and only when the Ready count stays in
  budget without it.

Percentages follow Kubernetes's Deployment rules: a surge percentage rounds up, an unavailability
percentage rounds down; both resolving to zero is refused (nothing could ever move).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from kubegce.errors import UserError

_BUDGET_RX = re.compile(r"(?P<n>[0-9]{1,6})(?P<pct>%?)")


@dataclass(frozen=True)
class Budget:
    value: int
    percent: bool

    def resolve(self, target: int, *, round_up: bool) -> int:
        if not self.percent:
            return self.value
        exact = target * self.value / 100
        return math.ceil(exact) if round_up else math.floor(exact)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


def parse_budget(text: str, flag: str) -> Budget:
    """``N`` or ``P%`` (0-100%); anything else names the flag and the two forms."""
    m = _BUDGET_RX.fullmatch(text)
    if m is None:
        raise UserError(f"{flag}: expected a count (e.g. 1) or a percentage of the group (e.g. 25%), got {text[:20]!r}")
    value, percent = int(m["n"]), bool(m["pct"])
    if percent and value > 100:
        raise UserError(f"{flag}: a percentage is at most 100%, got {value}%")
    return Budget(value, percent)


@dataclass(frozen=True)
class Budgets:
    surge: int
    unavailable: int


def resolve_budgets(surge: Budget, unavailable: Budget, target: int, group: str = "") -> Budgets:
    """Both budgets for a group of this size; refused when both are zero (the roll could not move)."""
    s = surge.resolve(target, round_up=True)
    u = unavailable.resolve(target, round_up=False)
    if s == 0 and u == 0:
        where = f" for group {group} (target {target})" if group else ""
        raise UserError(
            f"--max-surge {surge} and --max-unavailable {unavailable} both come to 0{where}: nothing could be "
            "replaced. Allow a surge (--max-surge 1) or some unavailability (--max-unavailable 1)."
        )
    return Budgets(s, u)


@dataclass(frozen=True)
class Member:
    """One instance of a group as the roll sees it."""

    name: str
    stale: bool  # on an old template (or created before a --force roll began)
    ready: bool  # joined, and Ready in Kubernetes when the roll talks to it
    failed: bool = False  # its boot reported phase=failed
    cordoned: bool = False
    deleting: bool = False  # the MIG is already deleting or abandoning it
    creating: bool = False  # the MIG is still creating it (no boot report yet)


@dataclass(frozen=True)
class Step:
    """What to do next for one group. Exactly one of the actions is set, or ``done``."""

    resize_to: int | None = None  # grow the group by the surge (new instances come on the new template)
    wait_for: tuple[str, ...] = ()  # new instances that have not become Ready yet
    drain: tuple[str, ...] = ()  # old instances to cordon, drain, then delete (deleteInstances)
    failed: tuple[str, ...] = ()  # new instances whose boot failed: the roll stops here
    done: bool = False
    why: str = ""
    notes: list[str] = field(default_factory=list)


def next_step(members: list[Member], target: int, budgets: Budgets, mig_target: int) -> Step:
    """Decide the group's next move from what exists now.

    ``target`` is the spec's size, ``mig_target`` the MIG's current targetSize (above ``target``
    while a surge is out). In order: stop on a failed new boot; grow by the surge while fewer than
    ``target`` new instances exist; drain old instances as far as the Ready floor allows (not-Ready
    and already-cordoned ones first: a stopped run's half-drained nodes go before any other); wait
    for new instances; shrink a surplus; done.
    """
    live = [m for m in members if not m.deleting]
    fresh = [m for m in live if not m.stale]
    old = [m for m in live if m.stale]
    failed = tuple(sorted(m.name for m in fresh if m.failed))
    if failed:
        return Step(failed=failed, why="a new instance's boot failed")
    ready = sum(1 for m in live if m.ready)
    floor = target - budgets.unavailable
    # 1. surge: new capacity first, never above target + surge instances
    room = target + budgets.surge - len(live)
    still_needed = target - len(fresh)
    if old and room > 0 and still_needed > 0:
        grow = min(room, still_needed)
        return Step(resize_to=len(live) + grow, why=f"add {grow} instance(s) on the new template")
    # 2. drain: Ready count stays >= target - unavailable after the batch is gone
    if old:
        order = sorted(old, key=lambda m: (m.ready, not m.cordoned, m.name))
        removable_ready = max(0, ready - floor)
        batch: list[str] = []
        for m in order:
            if not m.ready:
                batch.append(m.name)
            elif removable_ready > 0:
                batch.append(m.name)
                removable_ready -= 1
        if batch:
            return Step(drain=tuple(batch), why=f"drain and delete {len(batch)} old instance(s)")
    # 3. wait for new instances to become Ready
    waiting = tuple(sorted(m.name for m in fresh if not m.ready))
    if waiting:
        return Step(wait_for=waiting, why="new instances are not Ready yet")
    if old:
        # below the floor with nothing booting: bring the group back to target
        if len(live) < target:
            return Step(resize_to=target, why="group below target: bring it back")
        return Step(wait_for=tuple(sorted(m.name for m in old if not m.ready)), why="waiting for Ready capacity")
    # 4. every instance is new
    if len(live) != target or mig_target != target:
        return Step(resize_to=target, why=f"group at {len(live)}, target {target}")
    return Step(done=True, why="every instance is on the current template")


@dataclass(frozen=True)
class Zone:
    """One zonal MIG of a group as the split sees it: its members, the spec's size in this zone
    and the MIG's current targetSize."""

    members: list[Member]
    target: int
    mig_target: int


def split_budgets(budgets: Budgets, zones: dict[str, Zone]) -> dict[str, Budgets]:
    """Each zone's share of its group's budgets for the next batch; zones left out wait.

    The zonal MIGs of a group roll at the same time, each with its own :func:`next_step` and its
    share, so the shares must add up to no more than the group's budgets:

    - a zone's surge share starts at what it already has out (instances above its size, e.g. a
      killed run's surge), its unavailability share at the Ready instances it already lacks;
    - the rest of the group's budgets goes one unit at a time, round after round, to the zones
      that still have old instances, those with the most first (ties: zone order), a zone taking
      surge only while it still needs new instances and unavailability only up to its old ones.

    So a surge of 5 over three zones with old instances is 2, 2, 1, and a surge of 1 rolls one
    zone at a time. A zone with no old instances that is not done yet (a surplus to shrink, a size
    to restore) is in with what it has; a zone with old instances and no share waits.
    """
    live = {z: [m for m in info.members if not m.deleting] for z, info in zones.items()}
    stale = {z: sum(1 for m in ms if m.stale) for z, ms in live.items()}
    surge = {z: max(0, len(live[z]) - info.target) for z, info in zones.items()}
    unavailable = {z: max(0, info.target - sum(1 for m in live[z] if m.ready)) for z, info in zones.items()}
    surge_room = {z: max(0, info.target - sum(1 for m in live[z] if not m.stale)) for z, info in zones.items()}
    order = sorted((z for z in zones if stale[z]), key=lambda z: (-stale[z], z))
    surge_cap = {z: surge[z] + surge_room[z] for z in zones}
    for share, left, cap in (
        (surge, budgets.surge - sum(surge.values()), surge_cap),
        (unavailable, budgets.unavailable - sum(unavailable.values()), stale),
    ):
        while left > 0:
            took = False
            for z in order:
                if left > 0 and share[z] < cap[z]:
                    share[z] += 1
                    left -= 1
                    took = True
            if not took:
                break
    out: dict[str, Budgets] = {}
    for z, info in zones.items():
        if stale[z] and surge[z] + unavailable[z] == 0:
            continue  # old instances, no share this batch: it waits for the others
        if not stale[z] and next_step(info.members, info.target, Budgets(0, 0), info.mig_target).done:
            continue
        out[z] = Budgets(surge[z], unavailable[z])
    return out
