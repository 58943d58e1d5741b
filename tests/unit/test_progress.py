"""The apply's progress on stderr: per-resource lines, and the run's quota figures at the end."""

from __future__ import annotations

import pytest

from kubegce.cli.progress import ConsoleProgress
from kubegce.cloud.executor import Task, TaskResult
from kubegce.cloud.pace import PaceStats


def test_summary_says_how_long_the_run_waited_for_quota(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ConsoleProgress(1)
    progress.pace = PaceStats(throttled=7, quota_wait_s=12.34)
    progress.started(Task("k", "create network/n", lambda: None))
    result = TaskResult("k", "create network/n", True, seconds=0.5)
    progress.finished(result)
    progress.summary([result])
    err = capsys.readouterr().err
    assert "create network/n" in err and "1 done, 0 failed, 0 skipped" in err
    assert "waited 12.3s for quota" in err and "7 calls throttled" in err
    assert "\x1b[2K" not in err  # not a terminal: no live summary line
