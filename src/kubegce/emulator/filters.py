"""The Compute API list filter, as far as clients of kubegce (and gcloud users) write it:

name = "web-*"            exact, with * wildcards
name != "x"
name eq ".*-demo-.*"       RE2-style full match (legacy syntax)
name ne "x"
labels.team = "web"       nested fields with dots
(a = "x") (b = "y")        clauses, optionally joined with AND
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

_CLAUSE = re.compile(
    r"""\(?\s*(?P<field>[A-Za-z][\w.\-]*)\s*(?P<op>!=|=|:|\beq\b|\bne\b)\s*"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s()]+)\s*\)?"""
)


class FilterError(ValueError):
    pass


def _get(obj: Any, path: str) -> Any:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def compile_filter(text: str | None) -> Callable[[dict[str, Any]], bool]:
    if not text or not text.strip():
        return lambda _obj: True
    rest = text.strip()
    clauses: list[tuple[str, str, str]] = []
    while rest:
        if rest.upper().startswith("AND "):
            rest = rest[4:].lstrip()
            continue
        m = _CLAUSE.match(rest)
        if not m:
            raise FilterError(f"Invalid value for field 'filter': '{text}'. Invalid list filter expression.")
        value = m.group("value")
        if value[:1] in "\"'":
            value = value[1:-1].replace('\\"', '"')
        clauses.append((m.group("field"), m.group("op"), value))
        rest = rest[m.end() :].lstrip()

    def match(obj: dict[str, Any]) -> bool:
        for field, op, value in clauses:
            got = _get(obj, field)
            text_value = "" if got is None else (str(got).lower() if isinstance(got, bool) else str(got))
            if op in ("eq", "ne"):
                ok = re.fullmatch(value, text_value) is not None
                ok = ok if op == "eq" else not ok
            elif op == ":":
                ok = got is not None
            else:
                ok = fnmatch.fnmatchcase(text_value, value)
                ok = ok if op == "=" else not ok
            if not ok:
                return False
        return True

    return match
