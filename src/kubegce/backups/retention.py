"""Which backups a retention policy keeps (kOps's spirit: every backup of the last hour, the
newest of each hour for a week, the newest of each day for a month).

Hours and days are UTC calendar buckets. The newest backup is always kept, so pruning can never
leave a cluster with no backup. The node's pruning job (lib/backup.sh) runs the same rule: it asks
nothing of Python, so the rule is small enough to write twice and tests hold both to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

DURATION_RE = re.compile(r"(0|[1-9][0-9]{0,5}(?:s|m|h|d))")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_S = 60  # a real spec refuses intervals under a minute (the job runs once a minute)
MAX_INTERVAL_S = 7 * 86400
MAX_RETENTION_S = 3660 * 86400  # ten years


def duration_s(text: object) -> int | None:
    """Seconds of a spec duration (0, or a whole number and s, m, h or d: 15m, 168h, 30d), the
    whole string; None when it is not one."""
    if not isinstance(text, str) or not DURATION_RE.fullmatch(text):
        return None
    return 0 if text == "0" else int(text[:-1]) * UNIT_S[text[-1]]


@dataclass(frozen=True)
class Retention:
    """Seconds: every backup younger than ``all_s``; the newest of each UTC hour younger than
    ``hourly_s``; the newest of each UTC day younger than ``daily_s``."""

    all_s: int = 3600
    hourly_s: int = 7 * 24 * 3600
    daily_s: int = 30 * 24 * 3600

    @property
    def keeps_something(self) -> bool:
        return max(self.all_s, self.hourly_s, self.daily_s) > 0


def _hour(t: datetime) -> tuple[int, int, int, int]:
    u = t.astimezone(UTC)
    return (u.year, u.month, u.day, u.hour)


def _day(t: datetime) -> tuple[int, int, int]:
    u = t.astimezone(UTC)
    return (u.year, u.month, u.day)


def kept(times: Sequence[tuple[str, datetime]], now: datetime, policy: Retention) -> set[str]:
    """The ids (of ``(id, time)`` pairs) the policy keeps at ``now``; the rest may be deleted.
    A backup time in the future (a node's clock ahead) counts as age 0."""
    if not times:
        return set()
    keep: set[str] = {max(times, key=lambda p: (p[1], p[0]))[0]}  # the newest, always
    newest_of_hour: dict[tuple[int, int, int, int], tuple[datetime, str]] = {}
    newest_of_day: dict[tuple[int, int, int], tuple[datetime, str]] = {}
    for ident, t in times:
        age = max(0.0, (now - t).total_seconds())
        if age < policy.all_s:
            keep.add(ident)
        if age < policy.hourly_s:
            h = _hour(t)
            if h not in newest_of_hour or (t, ident) > newest_of_hour[h]:
                newest_of_hour[h] = (t, ident)
        if age < policy.daily_s:
            d = _day(t)
            if d not in newest_of_day or (t, ident) > newest_of_day[d]:
                newest_of_day[d] = (t, ident)
    keep.update(ident for _, ident in newest_of_hour.values())
    keep.update(ident for _, ident in newest_of_day.values())
    return keep
