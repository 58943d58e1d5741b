"""validate and diagnose instance against the emulator (simulated boots)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration


def kubegce(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def create_and_apply(endpoint: str, image: str = "rocky-linux-cloud/rocky-linux-9") -> None:
    r = kubegce(endpoint, "create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
                "us-central1-a,us-central1-b", "--image", image, "--node-count", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr


def apply(endpoint: str, *extra: str) -> None:
    r = kubegce(endpoint, "update", "cluster", "demo.example.com", "--yes", *extra)
    assert r.returncode == 0, r.stderr


def test_validate_waits_until_every_node_joined(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=2.0) as emu:
        create_and_apply(emu.endpoint)
        apply(emu.endpoint)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--wait", "60s", "--interval", "0.5",
                    "-o", "json")  # fmt: skip
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["ok"] and len(report["nodes"]) == 3
        assert {n["phase"] for n in report["nodes"]} == {"joined"}
        assert {n["channel"] for n in report["nodes"]} == {"startup-script"}
        assert sorted((g["current"], g["target"]) for g in report["groups"]) == [(1, 1), (1, 1), (1, 1)]


def test_failed_join_is_reported_and_diagnosed(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.5, boot_outcome="fail:kubeadm_join") as emu:
        create_and_apply(emu.endpoint)
        apply(emu.endpoint)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "--wait", "5s", "--interval", "0.5",
                    "-o", "json")  # fmt: skip
        assert r.returncode == 1
        report = json.loads(r.stdout)
        assert {n["phase"] for n in report["nodes"]} == {"failed"}
        assert "kubegce diagnose instance" in r.stderr
        node = report["nodes"][0]
        d = kubegce(emu.endpoint, "diagnose", "instance", node["instance"], "--zone", node["zone"], "--project",
                    "my-proj", "-o", "json")  # fmt: skip
        assert d.returncode == 1, d.stderr
        out = json.loads(d.stdout)
        assert out["cause"] == "join-failed" and out["step"] == "kubeadm_join" and out["evidence"]


def test_user_data_forced_on_rhel_is_diagnosed_as_no_init_channel(state: str) -> None:
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.5) as emu:
        create_and_apply(emu.endpoint, image="rhel-cloud/rhel-9")
        r = kubegce(emu.endpoint, "edit", "instancegroup", "demo.example.com", "nodes", "--set",
                    "spec.bootstrap.channel=user-data")  # fmt: skip
        assert r.returncode == 2 and "has no cloud-init" in r.stderr
        r = kubegce(emu.endpoint, "edit", "instancegroup", "demo.example.com", "nodes", "--set",
                    "spec.bootstrap.channel=user-data", "--force")  # fmt: skip
        assert r.returncode == 0, r.stderr
        apply(emu.endpoint, "--force")
        import time

        time.sleep(1.0)
        r = kubegce(emu.endpoint, "validate", "cluster", "demo.example.com", "-o", "json")
        nodes = [n for n in json.loads(r.stdout)["nodes"] if n["group"] == "nodes"]
        assert nodes and all(n["phase"] == "-" for n in nodes)
        d = kubegce(emu.endpoint, "diagnose", "instance", nodes[0]["instance"], "--zone", nodes[0]["zone"],
                    "--project", "my-proj")  # fmt: skip
        assert d.returncode == 1
        assert "cause: no-init-channel" in d.stdout and "No startup scripts to run." in d.stdout
        assert "spec.bootstrap.channel=auto" in d.stdout
