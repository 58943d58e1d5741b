"""The emulator's model of Compute's pace: fixed-window rate quotas.

Compute counts mutating requests per project in fixed windows (default 1,500 per 60 s) that
refill at the start of the next window; a request over the quota is answered 403 with reason
``rateLimitExceeded``. ``--write-quota N/WINDOW`` (and ``--read-quota``) make the emulator do the
same, and keep per-window counts so a test can check how hard a client pushed against the limit.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_QUOTA_RX = re.compile(r"(?P<n>[1-9][0-9]{0,6})/(?P<w>[1-9][0-9]{0,5})(?P<unit>ms|s|m)")


class QuotaSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class QuotaSpec:
    calls: int
    window_s: float

    def __str__(self) -> str:
        return f"{self.calls}/{self.window_s:g}s"


def parse_quota(text: str) -> QuotaSpec:
    """``N/Ws``, ``N/Wm`` or ``N/Wms``: N calls per fixed window."""
    m = _QUOTA_RX.fullmatch(text)
    if m is None:
        raise QuotaSyntaxError(f"expected CALLS/WINDOW such as 1500/60s, 150/5s or 20/500ms, got {text[:30]!r}")
    window = int(m["w"]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m["unit"]]
    return QuotaSpec(int(m["n"]), window)


@dataclass
class WindowCount:
    admitted: int = 0
    refused: int = 0
    in_flight_at_start: int = 0  # calls the emulator was serving when the window opened
    # refusals that came after the window's first refusal had been answered: calls a client sent
    # although it had already heard that the window was used up
    refused_after_notice: int = 0
    noticed: bool = False


@dataclass
class WindowQuota:
    spec: QuotaSpec
    clock: Callable[[], float] = time.monotonic
    windows: dict[int, WindowCount] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._origin = self.clock()
        self._in_flight = 0

    def window_of(self, now: float) -> int:
        return math.floor((now - self._origin) / self.spec.window_s)

    def seconds_to_refill(self) -> float:
        now = self.clock()
        return (self.window_of(now) + 1) * self.spec.window_s - (now - self._origin)

    def admit(self) -> bool:
        """Count one call; False when the window is used up (answer 403 rateLimitExceeded)."""
        with self._lock:
            index = self.window_of(self.clock())
            count = self.windows.get(index)
            if count is None:
                count = self.windows[index] = WindowCount(in_flight_at_start=self._in_flight)
            if count.admitted >= self.spec.calls:
                count.refused += 1
                if count.noticed:
                    count.refused_after_notice += 1
                return False
            count.admitted += 1
            self._in_flight += 1
            return True

    def refusal_sent(self) -> None:
        """A refusal's answer went out: later calls in this window were sent after the client could know."""
        with self._lock:
            count = self.windows.get(self.window_of(self.clock()))
            if count is not None:
                count.noticed = True

    def done(self) -> None:
        """An admitted call finished (its answer was sent)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def report(self) -> list[dict[str, int]]:
        with self._lock:
            return [{"window": i, "admitted": c.admitted, "refused": c.refused,
                     "inFlightAtStart": c.in_flight_at_start, "refusedAfterNotice": c.refused_after_notice} for i, c in sorted(self.windows.items())]  # fmt: skip
