"""Diff the desired graph against what exists, field by field.

Only fields kubegce sets are compared (GCE adds many of its own). References compare by their
``projects/...`` tail so full selfLinks equal the partial URLs we send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kubegce.cloud.graph import IMMUTABLE_KINDS, KINDS, Resource, ResourceGraph, ResourceKey

Action = Literal["create", "update", "delete", "replace"]


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


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


def normalize(value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith("https://") and "/projects/" in value:
            return "projects/" + value.split("/projects/", 1)[1]
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "fingerprint"}
        items = value.get("items")
        # metadata: compare items as a mapping
        if (
            set(value) == {"items"}
            and isinstance(items, list)
            and all(isinstance(i, dict) and "key" in i for i in items)
        ):
            return {i["key"]: normalize(i.get("value")) for i in items}
        return {k: normalize(v) for k, v in value.items()}
    return value


def diff_fields(desired: Any, actual: Any, path: str = "") -> list[FieldChange]:
    """Differences in the fields desired sets; fields only actual has are ignored."""
    d, a = normalize(desired), normalize(actual)
    return _diff(d, a, path)


def _diff(d: Any, a: Any, path: str) -> list[FieldChange]:
    if isinstance(d, dict) and isinstance(a, dict):
        out: list[FieldChange] = []
        for k, v in d.items():
            if k == "name":
                continue
            sub = f"{path}.{k}" if path else k
            if k not in a:
                if v in (None, False, "", [], {}, "0"):
                    continue  # GCE omits defaults
                out.append(FieldChange(sub, None, v))
            else:
                out.extend(_diff(v, a[k], sub))
        return out
    if isinstance(d, list) and isinstance(a, list) and len(d) == len(a):
        out = []
        for i, (dv, av) in enumerate(zip(d, a, strict=True)):
            out.extend(_diff(dv, av, f"{path}[{i}]"))
        return out
    return [] if d == a else [FieldChange(path, a, d)]


def plan(desired: ResourceGraph, actual: dict[ResourceKey, dict[str, Any]]) -> Plan:
    changes: list[Change] = []
    unchanged = 0
    for r in desired.ordered():
        existing = actual.get(r.key)
        if existing is None:
            changes.append(Change("create", r.key, desired=r))
            continue
        fields = diff_fields(r.body, existing)
        if not fields:
            unchanged += 1
        elif r.kind in IMMUTABLE_KINDS:
            changes.append(Change("replace", r.key, desired=r, actual=existing, fields=fields))
        else:
            changes.append(Change("update", r.key, desired=r, actual=existing, fields=fields))
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    gone = sorted((k for k in actual if k not in desired.resources), key=lambda k: (-kind_rank[k.kind], k))
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
