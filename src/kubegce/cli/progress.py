"""Progress on stderr: one line per resource as it starts and finishes, then a summary."""

from __future__ import annotations

import threading
import time

from rich.console import Console

from kubegce.cloud.executor import Task, TaskResult
from kubegce.service import ApplyProgress


class ConsoleProgress(ApplyProgress):
    def __init__(self, total: int) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.total = total
        self.done = 0
        self.failed = 0
        self.started_at = time.monotonic()
        self.lock = threading.Lock()

    def started(self, task: Task) -> None:
        with self.lock:
            self.console.print(f"[dim]…[/dim] {task.label}")

    def finished(self, result: TaskResult) -> None:
        with self.lock:
            self.done += 1
            if result.ok:
                self.console.print(f"[green]✓[/green] {result.label} [dim]({result.seconds:.1f}s) "
                                   f"[{self.done}/{self.total}][/dim]")  # fmt: skip
            else:
                self.failed += 1
                mark = "[yellow]-[/yellow]" if result.skipped else "[red]✗[/red]"
                self.console.print(f"{mark} {result.label}: {result.error} [dim][{self.done}/{self.total}][/dim]")

    def summary(self, results: list[TaskResult]) -> None:
        ok = sum(1 for r in results if r.ok)
        failed = [r for r in results if not r.ok and not r.skipped]
        skipped = [r for r in results if r.skipped]
        elapsed = time.monotonic() - self.started_at
        self.console.print(f"{ok} done, {len(failed)} failed, {len(skipped)} skipped in {elapsed:.1f}s")
        for r in failed:
            self.console.print(f"[red]error[/red] {r.label}: {r.error}")
