from __future__ import annotations

import random
import threading
import time

import pytest

from kubegce.cloud.executor import Task, execute, retry


def test_dependency_order_bounded_concurrency_and_failed_branches() -> None:
    order: list[str] = []
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(name: str, fail: bool = False) -> Task:
        def run() -> None:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.02)
            with lock:
                running -= 1
                order.append(name)
            if fail:
                raise RuntimeError(f"{name} broke")

        return Task(name, name, run)

    tasks = [work("net"), work("sub"), work("bad", fail=True)] + [work(f"t{i}") for i in range(6)] + [work("mig")]
    deps = {"sub": {"net"}, "bad": {"net"}, "mig": {"bad"}, **{f"t{i}": {"sub"} for i in range(6)}}
    for t in tasks:
        t.deps = set(deps.get(str(t.key), set()))
    results = {r.key: r for r in execute(tasks, parallelism=3)}
    assert order.index("net") < order.index("sub") < min(order.index(f"t{i}") for i in range(6))
    assert peak <= 3
    assert not results["bad"].ok and "broke" in results["bad"].error
    assert results["mig"].skipped and "depends on failed bad" in results["mig"].error
    assert all(results[f"t{i}"].ok for i in range(6))  # independent branches went on


def test_retry_backs_off_and_gives_up_on_non_retryable() -> None:
    calls = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError("reset")
        return "ok"

    got = retry(flaky, is_retryable=lambda e: isinstance(e, ConnectionError), rng=random.Random(1),
                sleep=sleeps.append, base_s=0.1)  # fmt: skip
    assert got == "ok" and len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= 0.1 * 2 ** (i + 1) for i, s in enumerate(sleeps))
    with pytest.raises(ValueError):
        retry(lambda: (_ for _ in ()).throw(ValueError("bad input")), is_retryable=lambda e: False)
    with pytest.raises(ConnectionError):  # the deadline ends the retries
        retry(lambda: (_ for _ in ()).throw(ConnectionError("down")), is_retryable=lambda e: True,
              deadline_s=0.05, base_s=1.0, sleep=lambda s: None)  # fmt: skip


def test_a_cycle_is_reported_not_hung_and_outside_deps_count_as_done() -> None:
    ran: list[str] = []
    tasks = [
        Task("a", "a", lambda: ran.append("a"), {"b"}),
        Task("b", "b", lambda: ran.append("b"), {"a"}),
        Task("c", "c", lambda: ran.append("c"), {"not-in-this-run"}),
    ]
    results = {r.key: r for r in execute(tasks, parallelism=2)}
    assert ran == ["c"] and results["c"].ok
    assert results["a"].skipped and results["b"].skipped and "never finished" in results["a"].error


def test_a_failure_skips_its_whole_subtree_once() -> None:
    def boom() -> None:
        raise RuntimeError("no")

    tasks = [Task("root", "root", boom), Task("mid", "mid", lambda: None, {"root"}),
             Task("leaf", "leaf", lambda: None, {"mid", "root"}), Task("other", "other", lambda: None)]  # fmt: skip
    results = execute(tasks, parallelism=4)
    assert sorted(str(r.key) for r in results) == ["leaf", "mid", "other", "root"]
    by = {r.key: r for r in results}
    assert by["mid"].skipped and by["leaf"].skipped and by["other"].ok
