"""Rolling-update arithmetic: budgets and each step's decision keep the group's invariants."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegce.cloud.rollout import Budget, Budgets, Member, Zone, next_step, parse_budget, resolve_budgets, split_budgets
from kubegce.errors import UserError


@pytest.mark.parametrize(("text", "budget"), [("1", Budget(1, False)), ("0", Budget(0, False)),
                                              ("25%", Budget(25, True)), ("100%", Budget(100, True))])  # fmt: skip
def test_parse_budget(text: str, budget: Budget) -> None:
    assert parse_budget(text, "--max-surge") == budget


@pytest.mark.parametrize("text", ["-1", "101%", "1.5", "ten", "", "1\n", "5%%", "9999999"])
def test_parse_budget_refuses(text: str) -> None:
    with pytest.raises(UserError, match="--max-surge"):
        parse_budget(text, "--max-surge")


def test_percentages_round_like_kubernetes() -> None:
    assert resolve_budgets(Budget(25, True), Budget(25, True), 10) == Budgets(3, 2)


def test_both_zero_is_refused() -> None:
    with pytest.raises(UserError, match="both come to 0"):
        resolve_budgets(Budget(0, False), Budget(10, True), 5)


class Group:
    """A MIG and its nodes, as far as the roll can see them."""

    def __init__(self, target: int) -> None:
        self.counter = itertools.count()
        self.members = {f"old-{i}": Member(f"old-{i}", stale=True, ready=True) for i in range(target)}
        self.mig_target = target

    def apply(self, step_: object) -> None:
        from kubegce.cloud.rollout import Step

        assert isinstance(step_, Step)
        if step_.resize_to is not None:
            live = len(self.members)
            for _ in range(step_.resize_to - live):
                name = f"new-{next(self.counter)}"
                self.members[name] = Member(name, stale=False, ready=False)
            if step_.resize_to < live:  # the MIG removes new not-Ready ones first
                for name in sorted(self.members, key=lambda n: self.members[n].ready)[: live - step_.resize_to]:
                    del self.members[name]
            self.mig_target = step_.resize_to
        elif step_.wait_for:
            for name in step_.wait_for:
                m = self.members[name]
                self.members[name] = Member(name, stale=m.stale, ready=True)
        elif step_.drain:
            for name in step_.drain:
                del self.members[name]
                self.mig_target -= 1


@settings(max_examples=200, deadline=None)
@given(target=st.integers(1, 12), surge=st.integers(0, 4), unavailable=st.integers(0, 3))  # fmt: skip
def test_roll_keeps_the_invariants_and_converges(target: int, surge: int, unavailable: int) -> None:
    if surge == 0 and unavailable == 0:
        return
    budgets = Budgets(surge, min(unavailable, target))
    group = Group(target)
    for _ in range(10 * target + 20):
        step = next_step(list(group.members.values()), target, budgets, group.mig_target)
        if step.done:
            break
        group.apply(step)
        live = list(group.members.values())
        assert len(live) <= target + surge
        assert sum(m.ready for m in live) >= target - budgets.unavailable
    else:
        pytest.fail("the roll did not converge")
    assert len(group.members) == target
    assert all(not m.stale and m.ready for m in group.members.values())


def test_a_failed_boot_stops_the_roll() -> None:
    members = [Member("old-0", stale=True, ready=True), Member("new-0", stale=False, ready=False, failed=True)]
    step = next_step(members, 1, Budgets(1, 0), 2)
    assert step.failed == ("new-0",)


def test_cordoned_old_instances_go_first() -> None:
    members = [Member("old-a", stale=True, ready=True), Member("old-b", stale=True, ready=True, cordoned=True),
               Member("new-0", stale=False, ready=True)]  # fmt: skip
    step = next_step(members, 2, Budgets(1, 0), 3)
    assert step.drain == ("old-b",)


def test_surplus_after_a_stopped_run_is_removed() -> None:
    members = [Member(f"new-{i}", stale=False, ready=True) for i in range(4)]
    step = next_step(members, 3, Budgets(1, 0), 4)
    assert step.resize_to == 3


def zone(n: int, *, new: int = 0, new_ready: bool = True, mig_target: int | None = None) -> Zone:
    members = [Member(f"old-{i}", stale=True, ready=True) for i in range(n)]
    members += [Member(f"new-{i}", stale=False, ready=new_ready) for i in range(new)]
    return Zone(members, n if mig_target is None else mig_target, len(members))


def test_the_group_budgets_are_split_over_the_zones_with_old_instances() -> None:
    zones = {z: zone(10) for z in ("a", "b", "c")}
    assert split_budgets(Budgets(5, 0), zones) == {"a": Budgets(2, 0), "b": Budgets(2, 0), "c": Budgets(1, 0)}
    assert split_budgets(Budgets(1, 0), zones) == {"a": Budgets(1, 0)}  # one zone at a time
    assert split_budgets(Budgets(0, 2), zones) == {"a": Budgets(0, 1), "b": Budgets(0, 1)}
    # the zone with the most old instances first; a zone takes no more surge than it needs
    zones = {"a": zone(1), "b": zone(4), "c": Zone([], 0, 0)}
    assert split_budgets(Budgets(3, 0), zones) == {"b": Budgets(2, 0), "a": Budgets(1, 0)}
    assert split_budgets(Budgets(9, 0), zones) == {"b": Budgets(4, 0), "a": Budgets(1, 0)}


def test_a_surge_already_out_counts_against_the_group() -> None:
    # a killed run left one new instance booting in zone b: b keeps its share, a gets the rest
    zones = {"a": zone(4), "b": Zone(zone(4, new=1, new_ready=False).members, 4, 5)}
    assert split_budgets(Budgets(2, 0), zones) == {"a": Budgets(1, 0), "b": Budgets(1, 0)}
    assert split_budgets(Budgets(1, 0), zones) == {"b": Budgets(1, 0)}
    # a zone with only new instances but one too many (a surplus) shrinks; it takes no new budget
    zones = {"a": zone(4), "b": Zone([Member(f"n{i}", stale=False, ready=True) for i in range(3)], 2, 3)}
    assert split_budgets(Budgets(1, 0), zones) == {"b": Budgets(1, 0)}


@settings(max_examples=200, deadline=None)
@given(targets=st.lists(st.integers(0, 5), min_size=1, max_size=3), surge=st.integers(0, 5),
       unavailable=st.integers(0, 3), seed=st.integers(0, 2**16))  # fmt: skip
def test_zones_at_once_keep_the_group_invariants(targets: list[int], surge: int, unavailable: int, seed: int) -> None:
    """Every zone with a share takes its steps interleaved at random with the others' until its
    batch is deleted; after every single step the group is within target + surge instances and
    target - unavailable Ready ones, and the roll converges."""
    total = sum(targets)
    if total == 0 or (surge == 0 and unavailable == 0):
        return
    budgets = Budgets(surge, min(unavailable, total))
    groups = {f"z{i}": Group(t) for i, t in enumerate(targets)}
    target = {f"z{i}": t for i, t in enumerate(targets)}
    rng = random.Random(seed)
    for _ in range(10 * total + 20):
        shares = split_budgets(budgets, {z: Zone(list(g.members.values()), target[z], g.mig_target)
                                         for z, g in groups.items()})  # fmt: skip
        if not shares:
            break
        active = dict(shares)
        for _ in range(1000):
            if not active:
                break
            z = rng.choice(sorted(active))
            g = groups[z]
            step = next_step(list(g.members.values()), target[z], active[z], g.mig_target)
            if step.done:
                del active[z]
                continue
            g.apply(step)
            if step.drain:
                del active[z]
            live = [m for g in groups.values() for m in g.members.values()]
            assert len(live) <= total + budgets.surge
            assert sum(m.ready for m in live) >= total - budgets.unavailable
        assert not active
    else:
        pytest.fail("the roll did not converge")
    for z, g in groups.items():
        assert len(g.members) == target[z]
        assert all(not m.stale and m.ready for m in g.members.values())
