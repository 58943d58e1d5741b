"""Progress on stderr: one line per resource as it starts and finishes, a live summary line (done /
in flight / waiting for quota) when stderr is a terminal, then a summary with the time the run
waited for the project's rate quota."""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.markup import escape

from kubegce.cloud.executor import Task, TaskResult
from kubegce.service import ApplyProgress

MAX_ERROR_CHARS = 500


def shown_error(error: str) -> str:
    """An error as one printable line: never read as markup (an API message may hold '[/x]', which
    rich would refuse mid-apply), and cut (a proxy's error page is not worth a screen)."""
    text = " ".join(error.split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + f"... ({len(error)} characters)"
    return escape(text)


class ConsoleProgress(ApplyProgress):
    def __init__(self, total: int) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.total = total
        self.done = 0
        self.failed = 0
        self.started_at = time.monotonic()
        self.lock = threading.Lock()
        self.live = self.console.is_terminal

    def _status(self) -> None:
        """The live summary line, redrawn under the per-resource lines (terminals only)."""
        if not self.live:
            return
        pace = self.pace
        calls = f", {pace.in_flight} calls in flight, {pace.waiting} waiting" if pace is not None else ""
        quota = f", {pace.throttled} throttled" if pace is not None and pace.throttled else ""
        self.console.file.write(f"\r\x1b[2K[{self.done}/{self.total} done{calls}{quota}]")
        self.console.file.flush()

    def _line(self, text: str) -> None:
        if self.live:
            self.console.file.write("\r\x1b[2K")
        self.console.print(text)
        self._status()

    def started(self, task: Task) -> None:
        with self.lock:
            self._line(f"[dim]…[/dim] {escape(task.label)}")

    def finished(self, result: TaskResult) -> None:
        with self.lock:
            self.done += 1
            if result.ok:
                self._line(f"[green]✓[/green] {escape(result.label)} [dim]({result.seconds:.1f}s) "
                                   f"[{self.done}/{self.total}][/dim]")  # fmt: skip
            else:
                self.failed += 1
                mark = "[yellow]-[/yellow]" if result.skipped else "[red]✗[/red]"
                self._line(
                    f"{mark} {escape(result.label)}: {shown_error(result.error)} [dim][{self.done}/{self.total}][/dim]"
                )

    def summary(self, results: list[TaskResult]) -> None:
        ok = sum(1 for r in results if r.ok)
        failed = [r for r in results if not r.ok and not r.skipped]
        skipped = [r for r in results if r.skipped]
        elapsed = time.monotonic() - self.started_at
        if self.live:
            self.console.file.write("\r\x1b[2K")
        self.console.print(f"{ok} done, {len(failed)} failed, {len(skipped)} skipped in {elapsed:.1f}s")
        if self.pace is not None:
            self.console.print(f"waited {self.pace.quota_wait_s:.1f}s for quota (summed over calls); "
                               f"{self.pace.throttled} calls throttled (rateLimitExceeded, retried)")  # fmt: skip
        for r in failed:
            self.console.print(f"[red]error[/red] {escape(r.label)}: {shown_error(r.error)}")
