"""Issue 11 section 5: the demo prints like the rest of the tool and cleans up after itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_reads_like_update_and_removes_its_temp_state() -> None:
    r = subprocess.run([sys.executable, "-m", "kubegce", "demo", "--boot-seconds", "0.5"], capture_output=True,
                       text=True, timeout=240)  # fmt: skip
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert re.search(r"^Plan: \d+ to create, 0 to update", err, re.M), err
    assert "{'create'" not in err  # not a Python dict
    assert "boot channels (why" in err and "nodes-coreos: fedora-coreos-cloud/fedora-coreos-stable" in err
    waiting = [line for line in err.splitlines() if line.startswith("waiting for nodes")]
    assert waiting and all(a != b for a, b in zip(waiting, waiting[1:], strict=False))
    assert "next, try:" in err
    removed = re.search(r"removed the demo's temporary state (\S+)", err)
    assert removed and not Path(removed.group(1)).exists()


def test_demo_keeps_a_given_state_dir(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "kubegce", "demo", "--boot-seconds", "0.5", "--state-dir",
                        str(tmp_path / "s")], capture_output=True, text=True, timeout=240)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"file://{tmp_path / 's'}" in r.stderr and list((tmp_path / "s").rglob("*.obj"))
