"""Issue 14 item 1: a label edit on an HA cluster updates the API's address in place (setLabels)."""

from __future__ import annotations

import subprocess

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from tests.integration.test_cli_apply import create, kubegce

pytestmark = pytest.mark.integration


def _address(emu: RunningEmulator) -> dict[str, object]:
    with emu.state.lock:
        found = [r for k, r in emu.state.resources.items() if k[2] == "addresses"]
    assert len(found) == 1
    return dict(found[0])


def test_ha_label_edit_keeps_the_address(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=5), boot_seconds=1.0) as emu:
        create(state, emu.endpoint)
        r = kubegce("update", "cluster", "demo.example.com", "--yes", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        before = _address(emu)
        r = kubegce("edit", "cluster", "demo.example.com", "--set", "spec.cloudLabels.team=blue", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        r = kubegce("update", "cluster", "demo.example.com", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        line = next(ln for ln in r.stdout.splitlines() if "address/" in ln)
        assert line.lstrip().startswith("~"), r.stdout
        for _ in range(2):  # the second run converges, nothing wedged
            r = kubegce("update", "cluster", "demo.example.com", "--yes", endpoint=emu.endpoint)
            assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        after = _address(emu)
        assert after["address"] == before["address"] and after["id"] == before["id"]
        labels = after["labels"]
        assert isinstance(labels, dict) and labels.get("team") == "blue"
        r = kubegce("update", "cluster", "demo.example.com", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and "0 to update, 0 to replace" in r.stdout, r.stdout
