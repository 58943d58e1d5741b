"""Run tasks in dependency order with bounded concurrency; a failure fails its branch only.

Retries are the caller's business (see :func:`retry`); this module only orders and reports.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Task:
    key: Hashable
    label: str
    run: Callable[[], None]
    deps: set[Hashable] = field(default_factory=set)


@dataclass
class TaskResult:
    key: Hashable
    label: str
    ok: bool
    error: str = ""
    skipped: bool = False
    seconds: float = 0.0


class Progress:
    """Receives start/finish events; the CLI prints them on stderr."""

    def started(self, task: Task) -> None:
        pass

    def finished(self, result: TaskResult) -> None:
        pass


def execute(tasks: list[Task], parallelism: int, progress: Progress | None = None) -> list[TaskResult]:
    progress = progress or Progress()
    by_key = {t.key: t for t in tasks}
    pending = dict(by_key)
    done: set[Hashable] = set()
    failed: set[Hashable] = set()
    results: list[TaskResult] = []
    running: dict[Future[float], Task] = {}

    def timed(task: Task) -> float:
        start = time.monotonic()
        task.run()
        return time.monotonic() - start

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="kubegce-apply") as pool:
        while pending or running:
            # fail the branches under failed tasks
            for key, task in list(pending.items()):
                blocked = [d for d in task.deps if d in failed]
                if blocked:
                    del pending[key]
                    failed.add(key)
                    result = TaskResult(key, task.label, False, f"skipped: depends on failed {by_key[blocked[0]].label}",
                                        skipped=True)  # fmt: skip
                    results.append(result)
                    progress.finished(result)
            ready = [t for t in pending.values() if all(d in done or d not in by_key for d in t.deps)]
            for task in ready[: max(0, parallelism - len(running))]:
                del pending[task.key]
                progress.started(task)
                running[pool.submit(timed, task)] = task
            if not running:
                if pending:  # a cycle or a dependency that can never finish
                    for key, task in pending.items():
                        results.append(TaskResult(key, task.label, False, "dependency never finished", skipped=True))
                    pending.clear()
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                task = running.pop(fut)
                exc = fut.exception()
                if exc is None:
                    done.add(task.key)
                    result = TaskResult(task.key, task.label, True, seconds=fut.result())
                else:
                    failed.add(task.key)
                    result = TaskResult(task.key, task.label, False, str(exc) or type(exc).__name__)
                results.append(result)
                progress.finished(result)
    return results


def retry(fn: Callable[[], T], *, is_retryable: Callable[[BaseException], bool], deadline_s: float = 300.0,
          base_s: float = 0.2, cap_s: float = 10.0, rng: random.Random | None = None,
          sleep: Callable[[float], None] = time.sleep) -> T:  # fmt: skip
    """Call fn until it succeeds, a non-retryable error, or the deadline; full-jitter backoff."""
    rng = rng or random.Random()
    end = time.monotonic() + deadline_s
    attempt = 0
    while True:
        try:
            return fn()
        except BaseException as exc:
            if not is_retryable(exc):
                raise
            attempt += 1
            delay = rng.uniform(0, min(cap_s, base_s * (2**attempt)))
            if time.monotonic() + delay > end:
                raise
            sleep(delay)
