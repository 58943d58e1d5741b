"""Kubernetes label selectors: the object form (`matchLabels`, `matchExpressions`) that
PodDisruptionBudgets carry, and the query-string form (`a=b,c!=d,e in (x,y),!f`) of `labelSelector`.

Pure functions: the drain library matches PDBs to pods with them, and the emulator's API server
filters lists with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Labels = Mapping[str, str]
Requirement = Callable[[Labels], bool]

_SET_RE = re.compile(r"\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*")  # matched as a whole string


class SelectorError(ValueError):
    """A selector that does not parse; the message says which part."""


def selector_matches(selector: Mapping[str, Any] | None, labels: Labels) -> bool:
    """The object form. `None` matches nothing and `{}` everything, as for a policy/v1 PDB."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = str(expr.get("key", ""))
        op = str(expr.get("operator", ""))
        values = [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise SelectorError(f"matchExpressions operator {op!r} is not one of In, NotIn, Exists, DoesNotExist")
    return True


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _requirement(term: str) -> Requirement:
    m = _SET_RE.fullmatch(term)
    if m:
        key, op = m.group(1), m.group(2)
        values = {v.strip() for v in m.group(3).split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: key not in labels or labels[key] not in values
    for sep in ("!=", "==", "="):
        if sep in term:
            key, _, value = (s.strip() for s in term.partition(sep))
            if not key:
                raise SelectorError(f"label selector term {term!r} has no key")
            if sep == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if re.fullmatch(r"[A-Za-z0-9./_-]+", term):
        return lambda labels: term in labels
    raise SelectorError(
        f"label selector term {term!r} does not parse; write key=value, key!=value, key, !key or key in (a,b)"
    )


def parse_label_selector(text: str) -> Requirement:
    """The query-string form; the empty string matches everything."""
    requirements = [_requirement(term) for term in _split_top(text)]
    return lambda labels: all(req(labels) for req in requirements)
