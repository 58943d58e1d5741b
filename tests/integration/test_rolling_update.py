"""`rolling-update cluster` against the emulator: a template change rolls every node instance
within the budgets, a killed roll converges on rerun, a failed boot stops the roll, bad flags."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.compute.handlers import booted_image
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration
NAME = "roll.example.com"


def kubegce(*args: str, endpoint: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def setup_cluster(endpoint: str, nodes: int = 4) -> None:
    ok(kubegce("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a,us-central1-b",
               "--node-count", str(nodes), endpoint=endpoint))  # fmt: skip
    ok(kubegce("update", "cluster", NAME, "--yes", endpoint=endpoint))


def change_machine_type(endpoint: str, machine_type: str = "e2-standard-4") -> str:
    group = "nodes"
    ok(kubegce("edit", "instancegroup", NAME, group, "--set", f"spec.machineType={machine_type}", endpoint=endpoint))
    r = ok(kubegce("update", "cluster", NAME, "--yes", endpoint=endpoint))
    assert "rolling-update cluster" in r.stderr + r.stdout
    return group


def members(emu: RunningEmulator) -> dict[str, list[dict[str, Any]]]:
    """Per MIG: its live instances (read from the emulator's state directly)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with emu.state.lock:
        migs = {r["selfLink"]: r for k, r in emu.state.resources.items() if k[2] == "instanceGroupManagers"}
        for link in migs:
            out[link] = [r for r in emu.state.resources.values() if r.get("_mig") == link]
    return out


def stale(emu: RunningEmulator) -> list[str]:
    with emu.state.lock:
        migs = {r["selfLink"]: r for k, r in emu.state.resources.items() if k[2] == "instanceGroupManagers"}
        return [r["name"] for r in emu.state.resources.values()
                if r.get("_mig") in migs and r["_template"] != migs[r["_mig"]]["instanceTemplate"]]  # fmt: skip


class Sampler(threading.Thread):
    """Every 100 ms: per node MIG, the live instances and those that have joined."""

    def __init__(self, emu: RunningEmulator) -> None:
        super().__init__(daemon=True)
        self.emu = emu
        self.stop = threading.Event()
        self.samples: list[tuple[str, int, int]] = []

    def run(self) -> None:
        st = self.emu.state
        while not self.stop.is_set():
            for link, insts in members(self.emu).items():
                if "nodes" not in link:
                    continue
                joined = 0
                for r in insts:
                    with st.lock:
                        try:
                            attrs = st.boot.guest_attributes(r, booted_image(st, r), "kubegce/")
                        except Exception:  # noqa: BLE001 - not reported yet
                            continue
                    items = {i["key"]: i["value"] for i in attrs["queryValue"]["items"]}
                    joined += items.get("phase") == "joined"
                self.samples.append((link, len(insts), joined))
            time.sleep(0.1)


def test_change_rolls_every_node_within_budget(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.6) as emu:
        setup_cluster(emu.endpoint)
        time.sleep(0.8)
        group = change_machine_type(emu.endpoint)
        r = ok(kubegce("rolling-update", "cluster", NAME, "-o", "json", endpoint=emu.endpoint))
        rows = {row["group"]: row for row in json.loads(r.stdout)}
        assert rows[group]["status"] == "NeedsUpdate" and rows[group]["needUpdate"] == 4
        r = ok(kubegce("get", "instances", NAME, endpoint=emu.endpoint))
        assert "NEEDUPDATE" in r.stdout
        sampler = Sampler(emu)
        sampler.start()
        r = ok(kubegce("rolling-update", "cluster", NAME, "--yes", "--cloudonly", "--post-drain-delay", "0s",
                       endpoint=emu.endpoint))  # fmt: skip
        sampler.stop.set()
        sampler.join()
        assert stale(emu) == []
        for link, insts in members(emu).items():
            assert len(insts) == 2 if "nodes" in link else 1, link
            for inst in insts:
                if "nodes" in link:
                    assert inst["machineType"].endswith("/e2-standard-4")
        per_mig_target = 2
        assert sampler.samples
        for link, live, joined in sampler.samples:
            assert live <= per_mig_target + 1, (link, live)
            assert joined >= per_mig_target, (link, live, joined)  # maxUnavailable 0: never below target Ready
        r = ok(kubegce("rolling-update", "cluster", NAME, "-o", "json", endpoint=emu.endpoint))
        assert all(row["status"] == "Ready" for row in json.loads(r.stdout))


def test_killed_roll_converges(state: str) -> None:
    """10 runs killed after a random delay, then one to the end: no stale, no surplus instance."""
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.4) as emu:
        setup_cluster(emu.endpoint)
        rng = random.Random(13)
        env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": emu.endpoint}
        cmd = [sys.executable, "-m", "kubegce", "rolling-update", "cluster", NAME, "--yes", "--cloudonly",
               "--post-drain-delay", "0s"]  # fmt: skip
        for i in range(10):
            if i % 5 == 0:  # a new template twice: some kills land on a roll that another change restarted
                change_machine_type(emu.endpoint, ["e2-standard-4", "e2-standard-8"][i // 5])
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            time.sleep(rng.uniform(1.2, 3.0))
            p.send_signal(signal.SIGKILL)
            p.wait()
        ok(kubegce("rolling-update", "cluster", NAME, "--yes", "--cloudonly", "--post-drain-delay", "0s",
                   endpoint=emu.endpoint))  # fmt: skip
        assert stale(emu) == []
        for link, insts in members(emu).items():
            assert len(insts) == (2 if "nodes" in link else 1), link
        with emu.state.lock:
            for k, r in emu.state.resources.items():
                if k[2] == "instanceGroupManagers":
                    assert r["targetSize"] == (2 if "nodes" in r["name"] else 1)


def test_failed_boot_stops_the_roll(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.4) as emu:
        setup_cluster(emu.endpoint, nodes=2)
        time.sleep(0.5)
        change_machine_type(emu.endpoint)
        emu.state.boot.outcome = "fail:kubeadm_join"
        r = kubegce("rolling-update", "cluster", NAME, "--yes", "--cloudonly", "--post-drain-delay", "0s",
                    endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode != 0
        assert "reported phase failed" in r.stderr and "kubeadm_join: exit 1 (simulated)" in r.stderr
        assert "kubegce diagnose instance" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-surge", "0", "--max-unavailable", "0"], "both come to 0"),
        (["--max-surge", "150%"], "at most 100%"),
        (["--max-unavailable", "abc"], "--max-unavailable: expected a count"),
        (["--instance-group", "nope"], "--instance-group nope: cluster roll.example.com has no such group"),
        (["--drain-timeout", "soon"], "--drain-timeout 'soon'"),
    ],
)
def test_bad_flags(state: str, flags: list[str], message: str) -> None:
    ok(kubegce("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a", endpoint=""))
    r = kubegce("rolling-update", "cluster", NAME, *flags, endpoint="http://127.0.0.1:9")
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_roll_drains_through_the_kubernetes_api(state: str, tmp_path: Path) -> None:
    """Without --cloudonly: new nodes Ready in Kubernetes, old ones cordoned, drained (PDB
    respected, DaemonSet pods left) and gone; no node left cordoned."""
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.4, kube=True) as emu:
        assert emu.cluster is not None
        kubeconfig = emu.cluster.write_kubeconfig(tmp_path / "kubeconfig")
        setup_cluster(emu.endpoint)
        deadline = time.monotonic() + 20
        while len(emu.cluster.kube.snapshot().nodes) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        old_nodes = {n for n in emu.cluster.kube.snapshot().nodes if "nodes" in n}
        assert len(old_nodes) == 4
        change_machine_type(emu.endpoint)
        r = kubegce("rolling-update", "cluster", NAME, "--yes", "--post-drain-delay", "0s", "--kubeconfig",
                    str(kubeconfig), endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert stale(emu) == []
        time.sleep(0.3)
        snap = emu.cluster.kube.snapshot()
        assert not old_nodes & set(snap.nodes)
        assert len([n for n in snap.nodes if "nodes" in n]) == 4
        assert not any(n.unschedulable for n in snap.nodes.values())
        evicted = {e.node for e in snap.evictions}
        assert old_nodes <= evicted, (old_nodes, evicted)
        assert not any(e.pod.startswith("node-agent") for e in snap.evictions)  # DaemonSet pods are left


def test_without_kubeconfig_the_roll_asks_for_one_or_cloudonly(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.4) as emu:
        ok(kubegce("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a", endpoint=""))
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        r = subprocess.run([sys.executable, "-m", "kubegce", "rolling-update", "cluster", NAME, "--yes"],
                           capture_output=True, text=True, env={**env, "KUBEGCE_COMPUTE_ENDPOINT": emu.endpoint})  # fmt: skip
        assert r.returncode != 0 and "--cloudonly" in r.stderr and "Traceback" not in r.stderr


def test_demo_ends_with_every_node_on_the_new_template(tmp_path: Path) -> None:
    from kubegce.demo import run_demo
    from kubegce.kube.client import KubeClient

    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.5, kube=True) as emu:
        assert emu.cluster is not None
        result = run_demo(emu.endpoint, tmp_path / "state", lambda m: None, kube=KubeClient.from_url(emu.cluster.url))
    assert result.errors == [] and result.new_machine_type == "e2-standard-4"
    assert result.rolled["nodes"] == 2
    assert result.instances and all(v.need_update == "no" for v in result.instances)
