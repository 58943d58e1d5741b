"""Field-by-field comparison of a desired body with what GCE returns.

Only fields kubegce sets are compared (GCE adds many of its own). References compare by their
``projects/...`` tail so full selfLinks equal the partial URLs we send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubegce.cloud.names import url_tail


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any


def normalize(value: Any) -> Any:
    if isinstance(value, str):
        return url_tail(value) if value.startswith("https://") else value
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
    return _diff(normalize(desired), normalize(actual), path)


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
