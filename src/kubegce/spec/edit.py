"""`--set PATH=VALUE` and `--unset PATH` on a document: spec.kubernetesVersion, spec.cloudLabels.team,
spec.zones[1], spec.nodeLabels[node.kubernetes.io/pool] (brackets for keys with dots)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from kubegce.errors import UserError

_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _SEGMENT.match(path, pos)
        if not m:
            raise UserError(f"--set/--unset path {path!r}: cannot read it at position {pos}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        else:
            inner = m.group(2)
            parts.append(int(inner) if inner.isdigit() else inner)
        pos = m.end()
    if not parts:
        raise UserError("--set/--unset: empty path")
    return parts


def parse_assignment(text: str) -> tuple[list[str | int], Any]:
    path, sep, raw = text.partition("=")
    if not sep:
        raise UserError(f"--set {text!r}: write PATH=VALUE, e.g. spec.kubernetesVersion=1.33.2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, float):
        value = raw  # 1.33 is a version, not a number
    return parse_path(path), value


def _walk(doc: Any, parts: list[str | int], path_text: str, create: bool) -> Any:
    cur = doc
    for i, part in enumerate(parts):
        nxt_is_index = isinstance(parts[i + 1], int) if i + 1 < len(parts) else False
        if isinstance(part, int):
            if not isinstance(cur, list) or part >= len(cur):
                raise UserError(f"{path_text}: index {part} is out of range")
            cur = cur[part]
        else:
            if not isinstance(cur, dict):
                raise UserError(f"{path_text}: '{part}' is below a value that is not a mapping")
            if part not in cur or cur[part] is None:
                if not create:
                    raise UserError(f"{path_text}: '{part}' is not set")
                cur[part] = [] if nxt_is_index else {}
            cur = cur[part]
    return cur


def set_value(doc: dict[str, Any], path: list[str | int], value: Any, path_text: str) -> None:
    parent = _walk(doc, path[:-1], path_text, create=True)
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(parent, list):
            raise UserError(f"{path_text}: not a list")
        if last == len(parent):
            parent.append(value)
        elif last < len(parent):
            parent[last] = value
        else:
            raise UserError(f"{path_text}: index {last} is out of range (list has {len(parent)})")
    else:
        if not isinstance(parent, dict):
            raise UserError(f"{path_text}: not a mapping")
        parent[last] = value


def unset_value(doc: dict[str, Any], path: list[str | int], path_text: str) -> None:
    parent = _walk(doc, path[:-1], path_text, create=False)
    last = path[-1]
    try:
        del parent[last]
    except (KeyError, IndexError, TypeError):
        raise UserError(f"{path_text}: is not set") from None


def apply_edits(doc: dict[str, Any], sets: list[str], unsets: list[str]) -> dict[str, Any]:
    for text in unsets:
        unset_value(doc, parse_path(text), text)
    for text in sets:
        path, value = parse_assignment(text)
        if path[:1] in (["apiVersion"], ["kind"]) or path[:2] == ["metadata", "name"]:
            raise UserError(f"--set {text}: {'.'.join(map(str, path))} cannot be changed")
        set_value(doc, path, value, text.partition("=")[0])
    return doc
