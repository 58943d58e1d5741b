"""Spot node groups against the emulator: GCE preempts a Spot VM (the admin API's model of it), its
group brings it back, `get instances` says PREEMPTED while it is down, `validate cluster` names the
preemption (not a failed boot) and passes once it joined again; a rolling update survives a
preemption mid-way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubegce import service
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.models import SPOT_NODE_LABEL, ProvisioningModel
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import FileStateStore
from tests.integration.test_pace import http

pytestmark = pytest.mark.integration
NAME = "spot.example.com"
CATALOG = Catalog.load()
ZONE = "us-central1-a"


def kubegce(*args: str, endpoint: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)  # fmt: skip


def admin(emu: RunningEmulator, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    return http(emu, "POST", f"/_emulator/{path}", body)


def spot_cluster(emu: RunningEmulator, state: str, nodes: int = 2) -> ClusterRepository:
    repo = ClusterRepository(FileStateStore(Path(state.removeprefix("file://"))))
    bundle = bundle_from_options(CreateClusterOptions(name=NAME, project="my-proj", zones=[ZONE], node_count=nodes))
    group = next(g for g in bundle.instance_groups if g.name == "nodes")
    group.spec.provisioning_model = ProvisioningModel.SPOT
    repo.create(bundle)
    target = service.connect(emu.endpoint, "my-proj", NAME)
    assert all(r.ok for r in service.apply(target, service.plan(repo.get(NAME).bundle, CATALOG, target=target)))
    return repo


def node_instances(emu: RunningEmulator) -> dict[str, dict[str, Any]]:
    with emu.state.lock:
        return {k[3]: dict(r) for k, r in emu.state.resources.items() if k[2] == "instances" and "nodes" in k[3]}


def test_a_preempted_spot_node_is_recreated_and_the_cluster_validates(state: str, tmp_path: Path) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4, kube=True) as emu:
        assert emu.cluster is not None
        kubeconfig = str(emu.cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        spot_cluster(emu, state)
        r = kubegce("validate", "cluster", NAME, "--wait", "30s", "--interval", "0.2", "--kubeconfig", kubeconfig,
                    endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        nodes = node_instances(emu)
        assert all(n["scheduling"]["provisioningModel"] == "SPOT" for n in nodes.values())
        snap = emu.cluster.kube.snapshot()
        assert all(snap.nodes[n].labels.get(SPOT_NODE_LABEL) == "true" for n in nodes)
        victim = sorted(nodes)[0]

        code, body = admin(emu, "preempt", {"zone": ZONE, "instance": victim, "downSeconds": 6})
        assert code == 200, body
        assert body["instanceTerminationAction"] == "DELETE"
        assert victim not in node_instances(emu)  # deleted; its group recreates it when capacity is back

        got = json.loads(kubegce("get", "instances", NAME, "-o", "json", endpoint=emu.endpoint).stdout)
        shown = {i["instance"]: i for i in got}
        assert shown[victim]["status"] == "PREEMPTED" and shown[victim]["preempted"]
        assert all(i["status"] == "RUNNING" for n, i in shown.items() if n != victim)

        r = kubegce("validate", "cluster", NAME, "-o", "json", endpoint=emu.endpoint)
        assert r.returncode != 0
        problems = json.loads(r.stdout)["problems"]
        assert any(victim in p and "preempted by GCE" in p for p in problems), problems
        assert not any("failed" in p for p in problems), problems

        assert any("1 of 2 instances" in p and victim in p for p in problems), problems
        r = kubegce("validate", "cluster", NAME, "--wait", "30s", "--interval", "0.2", "--kubeconfig", kubeconfig,
                    endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert node_instances(emu)[victim]["id"] != nodes[victim]["id"]  # recreated: a new VM, the same name
        got = json.loads(kubegce("get", "instances", NAME, "-o", "json", endpoint=emu.endpoint).stdout)
        assert {i["instance"]: i["status"] for i in got}[victim] == "RUNNING"


def test_only_spot_vms_are_preempted(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.2) as emu:
        spot_cluster(emu, state, nodes=1)
        with emu.state.lock:
            cp = next(k[3] for k in emu.state.resources if k[2] == "instances" and "control-plane" in k[3])
        code, body = admin(emu, "preempt", {"zone": ZONE, "instance": cp})
        assert code == 400 and "not a Spot VM" in body["error"]["message"]
        code, body = admin(emu, "preempt", {"zone": ZONE, "instance": "nope"})
        assert code == 404
        code, body = admin(emu, "preempt", {"zone": ZONE, "instance": "Bad$Name\n"})
        assert code == 400 and body["error"]["errors"][0]["location"] == "instance"
        code, body = admin(emu, "preempt", {"zone": ZONE})
        assert code == 400 and "instance" in body["error"]["message"]


def test_a_roll_survives_a_preemption_midway(state: str) -> None:
    """A Spot node preempted while its group rolls: the MIG recreates it from its current template;
    the roll neither counts it as a failed boot nor leaves a stale instance."""
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4) as emu:
        repo = spot_cluster(emu, state, nodes=3)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if kubegce("validate", "cluster", NAME, endpoint=emu.endpoint).returncode == 0:
                break
        stored = repo.get(NAME)
        g = next(g for g in stored.bundle.instance_groups if g.name == "nodes")
        g.spec.machine_type = "e2-standard-4"
        repo.save_group(stored, g)
        target = service.connect(emu.endpoint, "my-proj", NAME)
        assert all(r.ok for r in service.apply(target, service.plan(repo.get(NAME).bundle, CATALOG, target=target)))
        env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": emu.endpoint}
        roll = subprocess.Popen([sys.executable, "-m", "kubegce", "rolling-update", "cluster", NAME, "--yes",
                                 "--cloudonly", "--post-drain-delay", "0s", "--max-surge", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        old = sorted(node_instances(emu))
        code, body = admin(emu, "preempt", {"zone": ZONE, "instance": old[-1], "downSeconds": 1})  # an old one
        assert code == 200, body
        preempted = ""
        deadline = time.monotonic() + 60
        while roll.poll() is None and time.monotonic() < deadline and not preempted:
            fresh = [n for n, r in node_instances(emu).items() if "e2-standard-4" in r["machineType"]]
            if fresh:  # the first new instance of the roll
                preempted = fresh[0]
                code, body = admin(emu, "preempt", {"zone": ZONE, "instance": preempted, "downSeconds": 0.5})
                assert code == 200, body
            time.sleep(0.05)
        out, err = roll.communicate(timeout=120)
        assert preempted, "no new instance appeared"
        assert roll.returncode == 0, out + err
        nodes = node_instances(emu)
        assert len(nodes) == 3 and all("e2-standard-4" in r["machineType"] for r in nodes.values())
        assert kubegce("validate", "cluster", NAME, "--wait", "20s", "--interval", "0.2",
                       endpoint=emu.endpoint).returncode == 0  # fmt: skip
