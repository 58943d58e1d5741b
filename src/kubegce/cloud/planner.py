"""Diff the desired graph against what exists, with each kind's comparison, and order the changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kubegce.cloud.graph import Resource, ResourceGraph, ResourceKey
from kubegce.cloud.kinds import RANK, kind
from kubegce.cloud.kinds.compare import FieldChange, diff_fields, normalize

__all__ = ["Change", "FieldChange", "Plan", "diff_fields", "normalize", "plan", "render_plan"]

Action = Literal["create", "update", "delete", "replace"]


@dataclass
class Change:
    action: Action
    key: ResourceKey
    desired: Resource | None = None
    actual: dict[str, Any] | None = None
    fields: list[FieldChange] = field(default_factory=list)


@dataclass
class Plan:
    changes: list[Change]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0, "replace": 0}
        for c in self.changes:
            out[c.action] += 1
        return out


def plan(desired: ResourceGraph, actual: dict[ResourceKey, dict[str, Any]]) -> Plan:
    changes: list[Change] = []
    unchanged = 0
    for r in desired.ordered():
        existing = actual.get(r.key)
        if existing is None:
            changes.append(Change("create", r.key, desired=r))
            continue
        rkind = kind(r.kind)
        fields = rkind.compare(r.body, existing)
        if not fields:
            unchanged += 1
        elif rkind.immutable:
            changes.append(Change("replace", r.key, desired=r, actual=existing, fields=fields))
        else:
            changes.append(Change("update", r.key, desired=r, actual=existing, fields=fields))
    gone = sorted((k for k in actual if k not in desired.resources), key=lambda k: (-RANK[k.kind], k))
    changes.extend(Change("delete", k, actual=actual[k]) for k in gone)
    return Plan(changes, unchanged)


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, str) and value.startswith("projects/"):
        value = ".../" + value.rsplit("/", 1)[-1]  # references differ in their last segment
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_plan(p: Plan) -> str:
    lines = []
    sym = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
    for c in p.changes:
        lines.append(f"{sym[c.action]} {c.key}")
        for f in c.fields:
            lines.append(f"    {f.path}: {_short(f.old)} -> {_short(f.new)}")
    n = p.counts()
    lines.append(
        f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
        f"{n['delete']} to delete, {p.unchanged} unchanged."
    )
    return "\n".join(lines)
