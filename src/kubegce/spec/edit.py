"""`--set PATH=VALUE` and `--unset PATH` on a document: spec.kubernetesVersion, spec.cloudLabels.team,
spec.zones[1], spec.nodeLabels[node.kubernetes.io/pool] (brackets for keys with dots)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from kubegce.errors import UserError
from kubegce.spec.text import shown, shown_key
from kubegce.spec.yamlio import MAX_VALUE_CHARS, load_value

MAX_PATH_CHARS = 1000

_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def shown_plain(text: str, limit: int = 60) -> str:
    """Text for a suggested command line: as is when short and printable, else cut."""
    return text if len(text) <= limit and text.isprintable() else text[:limit].encode("unicode_escape").decode() + "…"


def parse_path(path: str) -> list[str | int]:
    if len(path) > MAX_PATH_CHARS:
        raise UserError(f"--set/--unset path {shown(path)}: at most {MAX_PATH_CHARS} characters")
    parts: list[str | int] = []
    pos = 0
    while pos < len(path):
        if path[pos] == ".":
            pos += 1
            continue
        m = _SEGMENT.match(path, pos)
        if not m:
            raise UserError(f"--set/--unset path {shown(path)}: cannot read it at position {pos}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        else:
            inner = m.group(2)
            parts.append(int(inner) if inner.isascii() and inner.isdigit() and len(inner) < 10 else inner)
        pos = m.end()
    if not parts:
        raise UserError("--set/--unset: empty path")
    return parts


def parse_assignment(text: str) -> tuple[list[str | int], Any]:
    path, sep, raw = text.partition("=")
    if not sep:
        raise UserError(f"--set {shown(text)}: write PATH=VALUE, e.g. spec.kubernetesVersion=1.33.2")
    if len(raw) > MAX_VALUE_CHARS:
        raise UserError(f"--set {shown(path)}: the value is {len(raw)} characters; at most {MAX_VALUE_CHARS}")
    try:
        value = load_value(raw, f"--set {shown(path)}") if raw.strip() else ""
    except (yaml.YAMLError, ValueError):  # not YAML (or a number too long to be one): the text as typed
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
                raise UserError(f"{shown_key(path_text)}: index {part} is out of range")
            cur = cur[part]
        else:
            if not isinstance(cur, dict):
                raise UserError(f"{shown_key(path_text)}: {shown(part)} is below a value that is not a mapping")
            if part not in cur or cur[part] is None:
                if not create:
                    raise UserError(f"{shown_key(path_text)}: {shown(part)} is not set")
                cur[part] = [] if nxt_is_index else {}
            cur = cur[part]
    return cur


def set_value(doc: dict[str, Any], path: list[str | int], value: Any, path_text: str) -> None:
    parent = _walk(doc, path[:-1], path_text, create=True)
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(parent, list):
            raise UserError(f"{shown_key(path_text)}: not a list")
        if last == len(parent):
            parent.append(value)
        elif last < len(parent):
            parent[last] = value
        else:
            raise UserError(f"{shown_key(path_text)}: index {last} is out of range (list has {len(parent)})")
    else:
        if not isinstance(parent, dict):
            raise UserError(f"{shown_key(path_text)}: not a mapping")
        current = parent.get(last)
        if isinstance(current, list) and not isinstance(value, list | None):
            items = ",".join(v.strip() for v in str(value).split(",")) if isinstance(value, str) else str(value)
            raise UserError(
                f"--set {shown_key(path_text)}: {shown_key(path_text)} is a list; write lists in brackets, "
                f"e.g. --set '{shown_plain(path_text)}=[{shown_plain(items)}]' (an item alone: "
                f"{shown_plain(path_text)}[0]=VALUE)"
            )
        if isinstance(current, dict) and current and not isinstance(value, dict | None):
            raise UserError(
                f"--set {shown_key(path_text)}: {shown_key(path_text)} is a mapping; set one key with "
                f"--set '{shown_plain(path_text)}.KEY=VALUE' or write it as {{key: value}}"
            )
        parent[last] = value


def unset_value(doc: dict[str, Any], path: list[str | int], path_text: str) -> None:
    parent = _walk(doc, path[:-1], path_text, create=False)
    last = path[-1]
    try:
        del parent[last]
    except (KeyError, IndexError, TypeError):
        raise UserError(f"{shown_key(path_text)}: is not set") from None


def apply_edits(doc: dict[str, Any], sets: list[str], unsets: list[str]) -> dict[str, Any]:
    for text in unsets:
        unset_value(doc, parse_path(text), text)
    for text in sets:
        path, value = parse_assignment(text)
        if path[:1] in (["apiVersion"], ["kind"]) or path[:2] == ["metadata", "name"]:
            raise UserError(f"--set {shown(text)}: {'.'.join(map(str, path))} cannot be changed")
        set_value(doc, path, value, text.partition("=")[0])
    return doc
