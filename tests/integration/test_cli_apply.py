"""The CLI against the emulator, including an apply killed at random points and re-run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration


def kubegce(*args: str, endpoint: str, env_extra: dict[str, str] | None = None,
            wait: bool = True) -> subprocess.Popen[str] | subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint, **(env_extra or {})}
    cmd = [sys.executable, "-m", "kubegce", *args]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=env)


def create(state: str, endpoint: str) -> None:
    r = kubegce("create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
                "us-central1-a,us-central1-b,us-central1-c", "--control-plane-count", "3", "--node-count", "6",
                endpoint=endpoint)  # fmt: skip
    assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr


def test_update_yes_plan_and_delete(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=10), boot_seconds=1.0) as emu:
        create(state, emu.endpoint)
        r = kubegce("update", "cluster", "demo.example.com", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess)
        assert r.returncode == 0 and "Plan: 23 to create" in r.stdout and "(plan only" in r.stdout
        r = kubegce("update", "cluster", "demo.example.com", "--yes", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        assert "23 done, 0 failed" in r.stderr and "✓ create network/demo-example-com" in r.stderr
        r = kubegce("update", "cluster", "demo.example.com", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess)
        assert "0 to create, 0 to update, 0 to replace, 0 to delete, 23 unchanged" in r.stdout
        r = kubegce("delete", "cluster", "demo.example.com", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0
        assert "- network/demo-example-com" in r.stdout and "dry run" in r.stderr
        r = kubegce("delete", "cluster", "demo.example.com", "--yes", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        with emu.state.lock:
            assert emu.state.resources == {}
        r = kubegce("get", "clusters", "-o", "json", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.stdout.strip() == "[]"


def test_apply_to_real_gce_with_file_store_is_refused(state: str) -> None:
    create(state, "")
    env = {k: v for k, v in os.environ.items() if k != "KUBEGCE_COMPUTE_ENDPOINT"}
    r = subprocess.run([sys.executable, "-m", "kubegce", "update", "cluster", "demo.example.com", "--yes"],
                       capture_output=True, text=True, env=env)  # fmt: skip
    assert r.returncode == 2 and "refusing to apply to the real Compute API" in r.stderr


def test_killed_apply_converges_on_rerun(state: str) -> None:
    """Kill `update --yes` after a random number of mutating calls (10 trials); the rerun converges."""
    from kubegce import service
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.cloud.gce.target import GceTarget
    from kubegce.images.catalog import Catalog
    from kubegce.state.clusters import ClusterRepository
    from kubegce.state.store import open_store

    rng = random.Random(1234)
    expected = {"networks": 1, "subnetworks": 1, "firewalls": 9, "instanceTemplates": 2, "addresses": 1,
                "httpHealthChecks": 1, "targetPools": 1, "forwardingRules": 1, "instanceGroupManagers": 6,
                "instanceGroups": 6, "instances": 9, "disks": 9 + 3}  # fmt: skip  # a boot disk each, an etcd disk per control plane
    with RunningEmulator(0, FaultConfig(latency_ms=20, operation_ms=40), boot_seconds=1.0) as emu:
        create(state, emu.endpoint)
        cleaner = GceTarget(ComputeClients.create(emu.endpoint), "my-proj", "demo.example.com")
        killed_at = []
        for _trial in range(10):
            with emu.state.lock:
                start = emu.state.calls.mutations
            kill_after = rng.randint(1, 18)  # an apply makes 21 mutating calls (the last ones end fast)
            proc = kubegce("update", "cluster", "demo.example.com", "--yes", "--parallelism", "4",
                           endpoint=emu.endpoint, wait=False)  # fmt: skip
            assert isinstance(proc, subprocess.Popen)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                with emu.state.lock:
                    done = emu.state.calls.mutations - start
                if done >= kill_after:
                    proc.send_signal(signal.SIGKILL)
                    killed_at.append(done)
                    break
                time.sleep(0.005)
            proc.wait()
            # the killed run's lease is still in the store (nothing renews it): the rerun is refused,
            # naming it, and takes it with --break-lease
            if _trial == 0:
                refused = kubegce("update", "cluster", "demo.example.com", "--yes", endpoint=emu.endpoint)
                assert isinstance(refused, subprocess.CompletedProcess) and refused.returncode == 3, refused.stderr
                assert "holds its lease" in refused.stderr and "--break-lease" in refused.stderr
            rerun = kubegce("update", "cluster", "demo.example.com", "--yes", "--break-lease", endpoint=emu.endpoint)
            assert isinstance(rerun, subprocess.CompletedProcess) and rerun.returncode == 0, rerun.stderr
            with emu.state.lock:
                counts = dict(Counter(k[2] for k in emu.state.resources))
            assert counts == expected  # converged, nothing duplicated
            bundle = ClusterRepository(open_store(state)).get("demo.example.com").bundle
            assert service.plan(bundle, Catalog.load(), target=cleaner).diff.empty
            results = service.delete(service.plan_deletion(bundle, cleaner), cleaner)
            assert all(r.ok for r in results)
        assert len(killed_at) >= 10, killed_at
