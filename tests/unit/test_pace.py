"""Client-side adaptive concurrency and the emulator's fixed-window quota."""

from __future__ import annotations

import random
import threading

import pytest

from kubegce.cloud.pace import AdaptiveLimiter
from kubegce.emulator.pace import QuotaSyntaxError, WindowQuota, parse_quota


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("text", "calls", "window"), [("1500/60s", 1500, 60.0), ("150/5s", 150, 5.0),
                                                        ("20/500ms", 20, 0.5), ("10/1m", 10, 60.0)])  # fmt: skip
def test_parse_quota(text: str, calls: int, window: float) -> None:
    spec = parse_quota(text)
    assert (spec.calls, spec.window_s) == (calls, window)


@pytest.mark.parametrize("text", ["", "0/5s", "5/0s", "5/5", "5/5h", "a/5s", "5/5s\n", "-5/5s"])
def test_parse_quota_refuses(text: str) -> None:
    with pytest.raises(QuotaSyntaxError):
        parse_quota(text)


def test_window_quota_refuses_over_n_and_refills_at_the_boundary() -> None:
    clock = Clock()
    q = WindowQuota(parse_quota("3/5s"), clock=clock)
    assert [q.admit() for _ in range(4)] == [True, True, True, False]
    clock.now = 4.9
    assert not q.admit()
    clock.now = 5.0
    assert q.admit()
    assert q.report()[0]["refused"] == 2
    assert q.report()[1]["admitted"] == 1


def test_limiter_halves_on_throttle_once_per_cooldown_and_pauses() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(initial=64, cap=128, cooldown_s=1.0, pause_base_s=2.0, rng=random.Random(1), clock=clock)
    for _ in range(3):
        lim.acquire()
    for _ in range(3):
        lim.release(throttled=True)
    assert lim.limit == 32  # one burst of refusals cuts once
    assert lim.stats.throttled == 3
    clock.now = 100.0  # past the pause (at most pause_cap_s)
    lim.acquire()
    lim.release(throttled=True)
    assert lim.limit == 16


def test_limiter_grows_additively_to_the_cap() -> None:
    lim = AdaptiveLimiter(initial=2, cap=4)
    for _ in range(50):
        lim.acquire()
        lim.release()
    assert lim.limit == 4


def test_limiter_bounds_calls_in_flight() -> None:
    lim = AdaptiveLimiter(initial=3, cap=3)
    peak = 0
    live = 0
    lock = threading.Lock()
    gate = threading.Event()

    def work() -> None:
        nonlocal peak, live
        lim.acquire()
        with lock:
            live += 1
            peak = max(peak, live)
        gate.wait(0.05)
        with lock:
            live -= 1
        lim.release()

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak <= 3
    assert lim.stats.peak_in_flight <= 3


def test_limiter_pause_blocks_new_calls_until_it_passes() -> None:
    lim = AdaptiveLimiter(initial=4, pause_base_s=0.2, rng=random.Random(0))
    lim.acquire()
    lim.release(throttled=True)
    import time

    start = time.monotonic()
    lim.acquire()
    waited = time.monotonic() - start
    lim.release()
    assert 0.09 <= waited <= 1.0
    assert lim.stats.quota_wait_s > 0


def test_a_success_already_on_the_wire_does_not_end_probing() -> None:
    """Calls admitted before a refusal that succeed afterwards say nothing about the next window:
    after the pause, still one probe at a time (this let a burst of refusals through)."""
    clock = Clock()
    lim = AdaptiveLimiter(initial=8, cap=8, pause_base_s=1.0, rng=random.Random(1), clock=clock)
    early = [lim.acquire() for _ in range(4)]
    lim.release(early[0], throttled=True)  # the quota ran out
    for t in early[1:]:
        lim.release(t)  # admitted before the refusal, answered after it
    clock.now = 100.0  # past the pause
    probe = lim.acquire()
    second = threading.Thread(target=lim.acquire)
    second.start()
    second.join(0.3)
    assert second.is_alive()  # no second call while the probe is out
    lim.release(probe)  # the probe, admitted after the refusal, succeeds: probing ends
    second.join(2)
    assert not second.is_alive()
