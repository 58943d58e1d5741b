"""Turn a plan into executor tasks: applies follow the graph's dependencies, deletes wait for the
deletes of the kinds that depend on theirs (kinds.delete_after) and wait for every apply."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from kubegce.cloud.executor import Task
from kubegce.cloud.gce.api import GceApi
from kubegce.cloud.kinds import delete_after
from kubegce.cloud.planner import Change, Plan


def tasks_for(api: GceApi, plan: Plan) -> list[Task]:
    tasks: list[Task] = []
    changing = {c.key for c in plan.changes if c.action != "delete"}
    for change in plan.changes:
        if change.action == "delete":
            continue
        assert change.desired is not None
        deps: set[Any] = {("apply", d) for d in change.desired.depends_on if d in changing}
        tasks.append(Task(("apply", change.key), label(change), apply_fn(api, change), deps))
    deletes = [c for c in plan.changes if c.action == "delete"]
    applies = {t.key for t in tasks}
    for change in deletes:
        after = delete_after(change.key.kind)
        deps = {("delete", d.key) for d in deletes if d.key.kind in after} | applies
        tasks.append(Task(("delete", change.key), label(change), functools.partial(api.delete, change.key), deps))
    return tasks


def apply_fn(api: GceApi, change: Change) -> Callable[[], None]:
    assert change.desired is not None
    body = change.desired.body
    if change.action == "create":
        return lambda: api.create(change.key, body)
    if change.action == "update":
        return lambda: api.update(change)

    def replace() -> None:
        api.delete(change.key)
        api.create(change.key, body)

    return replace


def label(change: Change) -> str:
    return f"{change.action} {change.key}"
