"""How user-supplied values appear in messages: short, one line, never the whole (possibly hostile) value."""

from __future__ import annotations

from typing import Any

SHOWN_CHARS = 40
MAX_PROBLEMS = 40


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value as a message quotes it: repr'd (so newlines and control characters are visible) and
    cut to ``limit`` characters with the full length said, e.g. ``'aaaa…' (5000 characters)``.

    Containers are described by type and size, never expanded (an alias bomb repr'd is gigabytes).
    """
    if isinstance(value, dict):
        return f"a mapping of {len(value)} {'entry' if len(value) == 1 else 'entries'}"
    if isinstance(value, list | tuple | set):
        return f"a list of {len(value)} {'item' if len(value) == 1 else 'items'}"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit number"  # str() of a 5,000-digit int raises ValueError
    if not isinstance(value, str):
        return str(value) if isinstance(value, bool | int | float) or value is None else type(value).__name__
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


def shown_key(key: Any, limit: int = SHOWN_CHARS) -> str:
    """A mapping key or path segment as a field path shows it: as is when short and printable."""
    text = str(key)
    if len(text) <= limit and text.isprintable():
        return text
    return shown(text, limit)


def capped(problems: list[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """At most ``limit`` problems, then one line saying how many more (a 100,000-entry map of bad
    labels is one screen, not 100,000 lines)."""
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit} more problems like these"]
