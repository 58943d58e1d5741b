"""Adaptive concurrency for mutating Compute calls: as fast as the project's quota allows.

Compute's rate quota for mutating requests is counted in fixed windows (60 s by default, 1,500
calls) that refill at the start of the next window; over it the API answers 403 (sometimes 429)
with reason ``rateLimitExceeded``. A fixed number of calls in flight is either too slow (the
dependency chain waits on our own queue) or too fast (a burst runs into the quota). The limiter
here starts wide and adapts (AIMD, as TCP does):

- every mutating call holds a slot while it is on the wire;
- a success adds ``1/limit`` to the limit (about one more slot per round of calls), up to the cap;
- a ``rateLimitExceeded`` halves the limit (at most once per ``cooldown_s``, so one burst of
  refusals counts once) and pauses *every* new call until a jittered backoff has passed: the
  window must refill, and hammering it only burns the next one;
- after a pause, one call probes the quota alone: until a call succeeds again, no second call
  goes out, so a window that has not refilled yet costs one refused call, not a burst. Only a
  call admitted after the last refusal ends probing: a success that was already on the wire when
  the quota ran out says nothing about the next window.

Throttling is never a failure: the retry loop calls again after the pause. The limiter keeps count
of throttled calls and of the time callers spent waiting for quota, for the progress summary.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PaceStats:
    throttled: int = 0  # calls refused for quota
    quota_wait_s: float = 0.0  # summed over callers: time spent paused for quota
    in_flight: int = 0
    waiting: int = 0  # callers paused or queued for a slot
    limit: float = 0.0
    peak_in_flight: int = 0


class AdaptiveLimiter:
    def __init__(self, *, initial: int = 64, cap: int = 512, floor: int = 1, cooldown_s: float = 1.0,
                 pause_base_s: float = 1.0, pause_cap_s: float = 30.0, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if cap < 1 or floor < 1 or initial < 1:
            raise ValueError("limits are at least 1")
        self.cap = cap
        self.floor = min(floor, cap)
        self._limit = float(min(initial, cap))
        self.cooldown_s = cooldown_s
        self.pause_base_s = pause_base_s
        self.pause_cap_s = pause_cap_s
        self.rng = rng or random.Random()
        self.clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._paused_until = 0.0
        self._last_cut = -1e18
        self._probing = False  # refused and not yet admitted again: one call at a time
        self._consecutive = 0  # throttle bursts without a success in between: grows the pause
        self._admitted = 0  # tickets: the sequence number of each admitted call
        self._refused_after = 0  # the last ticket admitted when a call was last refused
        self.stats = PaceStats(limit=self._limit)

    @property
    def limit(self) -> int:
        return max(self.floor, int(self._limit))

    def acquire(self) -> int:
        """Block until a slot is free and no quota pause is in force; the call's ticket."""
        with self._cond:
            self.stats.waiting += 1
            try:
                while True:
                    now = self.clock()
                    if now < self._paused_until:
                        start = now
                        self._cond.wait(timeout=self._paused_until - now)
                        self.stats.quota_wait_s += max(0.0, self.clock() - start)
                        continue
                    if self._in_flight < (1 if self._probing else self.limit):
                        break
                    self._cond.wait(timeout=0.5)
            finally:
                self.stats.waiting -= 1
            self._in_flight += 1
            self._admitted += 1
            self.stats.in_flight = self._in_flight
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
            return self._admitted

    def release(self, ticket: int | None = None, *, throttled: bool = False) -> None:
        """End a call. A success admitted before the last refusal (an older ``ticket``) frees its
        slot and changes nothing else."""
        with self._cond:
            self._in_flight -= 1
            self.stats.in_flight = self._in_flight
            if throttled:
                self._on_throttle()
                self._refused_after = self._admitted
            elif ticket is not None and ticket <= self._refused_after:
                pass  # it was on the wire before the quota ran out
            else:
                self._consecutive = 0
                self._probing = False
                self._limit = min(float(self.cap), self._limit + 1.0 / max(1.0, self._limit))
            self.stats.limit = self._limit
            self._cond.notify_all()

    def _on_throttle(self) -> None:
        now = self.clock()
        self.stats.throttled += 1
        self._probing = True
        if now - self._last_cut >= self.cooldown_s:  # a burst of refusals counts once
            self._consecutive += 1
            self._limit = max(float(self.floor), self._limit / 2)
            self._last_cut = now
        pause = min(self.pause_cap_s, self.pause_base_s * 2 ** min(self._consecutive - 1, 8))
        until = now + pause / 2 + self.rng.uniform(0, pause / 2)
        self._paused_until = max(self._paused_until, until)

    def call(self, fn: Callable[[], object], is_throttle: Callable[[BaseException], bool]) -> object:
        """Run ``fn`` holding a slot; a throttle error is recorded and re-raised for the retry loop."""
        ticket = self.acquire()
        throttled = False
        try:
            return fn()
        except BaseException as exc:
            throttled = is_throttle(exc)
            raise
        finally:
            self.release(ticket, throttled=throttled)
