"""Run tasks in dependency order with bounded concurrency; a failure fails its branch only.

Retries are the caller's business (see :func:`retry`); this module only orders and reports.
"""

from __future__ import annotations

import random
import time
from collections import deque
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
    """Run every task once its dependencies are done. Scheduling is linear in tasks + edges: each
    task keeps a count of unfinished dependencies and a list of dependents (a dependency that is
    not among the tasks counts as done). A failed dependency never counts down, so a task becomes
    ready only when all of its dependencies succeeded, and is never also skipped."""
    progress = progress or Progress()
    by_key = {t.key: t for t in tasks}
    waiting_on: dict[Hashable, int] = {}
    dependents: dict[Hashable, list[Hashable]] = {k: [] for k in by_key}
    for task in tasks:
        inside = {d for d in task.deps if d in by_key}
        waiting_on[task.key] = len(inside)
        for dep in inside:
            dependents[dep].append(task.key)
    ready: deque[Task] = deque(t for t in tasks if waiting_on[t.key] == 0)
    results: list[TaskResult] = []
    running: dict[Future[float], Task] = {}
    settled: set[Hashable] = set()

    def timed(task: Task) -> float:
        start = time.monotonic()
        task.run()
        return time.monotonic() - start

    def skip_dependents(failed: Task) -> None:
        stack = [(failed, k) for k in dependents[failed.key]]
        while stack:
            cause, key = stack.pop()
            if key in settled:
                continue
            settled.add(key)
            task = by_key[key]
            result = TaskResult(key, task.label, False, f"skipped: depends on failed {cause.label}", skipped=True)
            results.append(result)
            progress.finished(result)
            stack.extend((task, k) for k in dependents[key])

    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="kubegce-apply") as pool:
        while ready or running:
            while ready and len(running) < max(1, parallelism):
                task = ready.popleft()
                settled.add(task.key)
                progress.started(task)
                running[pool.submit(timed, task)] = task
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                task = running.pop(fut)
                exc = fut.exception()
                if exc is None:
                    result = TaskResult(task.key, task.label, True, seconds=fut.result())
                    results.append(result)
                    progress.finished(result)
                    for key in dependents[task.key]:
                        waiting_on[key] -= 1
                        if waiting_on[key] == 0:
                            ready.append(by_key[key])
                else:
                    result = TaskResult(task.key, task.label, False, str(exc) or type(exc).__name__)
                    results.append(result)
                    progress.finished(result)
                    skip_dependents(task)
    for key, task in by_key.items():  # a cycle: these could never start
        if key not in settled:
            results.append(TaskResult(key, task.label, False, "dependency never finished", skipped=True))
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
