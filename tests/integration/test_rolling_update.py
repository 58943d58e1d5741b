"""`rolling-update cluster` against the emulator: a template change rolls every node instance
within the group's budgets (zones at once), a killed roll converges on rerun, a failed boot stops
the roll, a failed validation stops it before the next batch, bad flags.

Clusters are made in-process (what `create` + `update --yes` do, in the state store the CLI
reads); the rolls themselves run through the CLI where what the user sees matters."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubegce import service
from kubegce.cloud.rollout import Budget
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.compute.handlers import booted_image
from kubegce.emulator.server import RunningEmulator
from kubegce.errors import UserError
from kubegce.images.catalog import Catalog
from kubegce.service import rolling
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import FileStateStore

pytestmark = pytest.mark.integration
NAME = "roll.example.com"
CATALOG = Catalog.load()
TWO_ZONES = ["us-central1-a", "us-central1-b"]
THREE_ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def kubegce(*args: str, endpoint: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, r.stdout + r.stderr
    return r


class Cluster:
    """A cluster applied to the emulator in-process, stored where the CLI (KUBEGCE_STATE) reads it."""

    def __init__(self, emu: RunningEmulator, state: str, zones: list[str], nodes: int) -> None:
        self.emu = emu
        self.repo = ClusterRepository(FileStateStore(Path(state.removeprefix("file://"))))
        self.repo.create(bundle_from_options(CreateClusterOptions(name=NAME, project="my-proj", zones=zones,
                                                                  node_count=nodes)))  # fmt: skip
        self.target = service.connect(emu.endpoint, "my-proj", NAME)
        self.apply()

    def apply(self) -> None:
        bundle = self.repo.get(NAME).bundle
        assert all(r.ok for r in service.apply(self.target, service.plan(bundle, CATALOG, target=self.target)))

    def change_machine_type(self, machine_type: str = "e2-standard-4", group: str = "nodes") -> None:
        stored = self.repo.get(NAME)
        g = next(g for g in stored.bundle.instance_groups if g.name == group)
        g.spec.machine_type = machine_type
        self.repo.save_group(stored, g)
        self.apply()

    def wait_joined(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.emu.state.lock:
                instances = [r for k, r in self.emu.state.resources.items() if k[2] == "instances"]
                joined = sum(1 for r in instances if instance_phase(self.emu, r) == "joined")
            if joined >= count:
                return
            time.sleep(0.05)
        pytest.fail(f"{count} instances did not join")


def instance_phase(emu: RunningEmulator, r: dict[str, Any]) -> str:
    st = emu.state
    with st.lock:
        try:
            attrs = st.boot.guest_attributes(r, booted_image(st, r), "kubegce/")
        except Exception:  # noqa: BLE001 - not reported yet
            return ""
    return str({i["key"]: i["value"] for i in attrs["queryValue"]["items"]}.get("phase", ""))


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


def converged(emu: RunningEmulator, per_mig: int) -> None:
    """No stale instance, every node MIG at its size (no surplus), one control plane."""
    assert stale(emu) == []
    for link, insts in members(emu).items():
        assert len(insts) == (per_mig if "nodes" in link else 1), link
    with emu.state.lock:
        for k, r in emu.state.resources.items():
            if k[2] == "instanceGroupManagers":
                assert r["targetSize"] == (per_mig if "nodes" in r["name"] else 1), r["name"]


class Sampler(threading.Thread):
    """Every 100 ms, the node group as a whole: live instances, joined ones, and how many of its
    MIGs are above their size at that moment (zones rolling at once)."""

    def __init__(self, emu: RunningEmulator, per_mig: int) -> None:
        super().__init__(daemon=True)
        self.emu = emu
        self.per_mig = per_mig
        self.stop = threading.Event()
        self.samples: list[tuple[int, int, int]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            live = joined = surged = 0
            for link, insts in members(self.emu).items():
                if "nodes" not in link:
                    continue
                live += len(insts)
                surged += len(insts) > self.per_mig
                joined += sum(1 for r in insts if instance_phase(self.emu, r) == "joined")
            self.samples.append((live, joined, surged))
            time.sleep(0.1)


def test_change_rolls_every_node_within_budget(state: str) -> None:
    """Three zones, two instances each, --max-surge 2: two zones roll at once (1 + 1 of the surge),
    and the group as a whole is never above 6 + 2 instances nor below 6 joined."""
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.6) as emu:
        cluster = Cluster(emu, state, THREE_ZONES, nodes=6)
        cluster.wait_joined(7)
        cluster.change_machine_type()
        r = ok(kubegce("rolling-update", "cluster", NAME, "-o", "json", endpoint=emu.endpoint))
        rows = {row["group"]: row for row in json.loads(r.stdout)}
        assert rows["nodes"]["status"] == "NeedsUpdate" and rows["nodes"]["needUpdate"] == 6
        assert rows["control-plane"]["status"] == "Ready"
        r = ok(kubegce("get", "instances", NAME, endpoint=emu.endpoint))
        assert "NEEDUPDATE" in r.stdout
        sampler = Sampler(emu, per_mig=2)
        sampler.start()
        r = ok(kubegce("rolling-update", "cluster", NAME, "--yes", "--cloudonly", "--max-surge", "2",
                       "--post-drain-delay", "0s", "-o", "json", endpoint=emu.endpoint))  # fmt: skip
        sampler.stop.set()
        sampler.join()
        converged(emu, per_mig=2)
        for link, insts in members(emu).items():
            if "nodes" in link:
                assert all(inst["machineType"].endswith("/e2-standard-4") for inst in insts)
        assert all(row["status"] == "Ready" for row in json.loads(r.stdout))
        assert sampler.samples
        for live, joined, _ in sampler.samples:
            assert live <= 6 + 2, sampler.samples
            assert joined >= 6, sampler.samples  # maxUnavailable 0: never below target joined
        assert max(s for _, _, s in sampler.samples) == 2, sampler.samples  # two zones at once, never three


# A CLI process with the slow imports (the Compute and Kubernetes clients, ~3 s on a loaded
# machine) done, that runs `kubegce` with the arguments given on its stdin: the kill test kills the
# real CLI mid-roll, not mid-import.
WARM_CLI = (
    "import json, sys; import google.cloud.compute_v1, kubernetes, kubegce.cli.main, kubegce.cli.rolling, "
    "kubegce.service.rolling, kubegce.kube.drain, kubegce.diagnose.validate; "
    "sys.argv[1:] = json.loads(sys.stdin.readline()); kubegce.cli.main.main()"
)


def warm_cli(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WARM_CLI], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, text=True)  # fmt: skip


def test_killed_roll_converges(state: str, tmp_path: Path) -> None:
    """Ten runs SIGKILLed: six aimed, one at each phase of a batch (reading, right after a resize,
    while the new instance boots, mid-drain, right after a deleteInstances, while validating), and
    four at random times after a run's first read, with the surge alternating 1 and 2 (one zone,
    then two at once) and the template changed three times; then one run to the end: no stale and
    no surplus instance, no node left cordoned. (Random times alone often killed a run before it
    did anything: each kill costs a CLI start, so the aimed ones make sure every phase is hit.)"""
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4, kube=True) as emu:
        assert emu.cluster is not None
        kubeconfig = str(emu.cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        cluster = Cluster(emu, state, TWO_ZONES, nodes=4)
        cluster.wait_joined(5)
        env = {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": emu.endpoint}
        kube = emu.cluster.kube

        def calls(method: str) -> Callable[[], int]:
            def count() -> int:
                with emu.state.lock:
                    return emu.state.calls.counts.get(f"instanceGroupManagers.{method}", 0)

            return count

        def evictions() -> int:
            return len(kube.snapshot().evictions)

        # (what to watch, seconds after it moved): every phase of a batch
        rng = random.Random(7)
        points: list[tuple[Callable[[], int], float]] = [
            (calls("listManagedInstances"), 0.0), (calls("resize"), 0.0), (calls("resize"), 0.2),
            (evictions, 0.0), (calls("deleteInstances"), 0.0), (calls("deleteInstances"), 0.15),
            *[(calls("listManagedInstances"), rng.uniform(0.05, 0.6)) for _ in range(4)],
        ]  # fmt: skip
        killed = 0
        warm = warm_cli(env)
        for i, (watch, after) in enumerate(points):
            if i % 3 == 0 and i < 9:  # a new template three times: some kills land on a restarted roll
                cluster.change_machine_type(["e2-standard-4", "e2-standard-8", "e2-standard-2"][i // 3])
            before = watch()
            p, warm = warm, warm_cli(env)  # the next one imports while this one rolls
            assert p.stdin is not None
            # each rerun takes the lease the killed run left (the operator's --break-lease)
            p.stdin.write(json.dumps(["rolling-update", "cluster", NAME, "--yes", "--kubeconfig", kubeconfig,
                                      "--post-drain-delay", "0s", "--max-surge", str(1 + i % 2),
                                      "--break-lease"]) + "\n")  # fmt: skip
            p.stdin.flush()
            deadline = time.monotonic() + 30
            while watch() == before and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(after)
            if i < 6:
                assert p.poll() is None, f"run {i} ended before its kill point"
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.wait()
        warm.kill()
        warm.wait()
        assert killed >= 9, killed  # a random time may outlast a short run, rarely
        ok(kubegce("rolling-update", "cluster", NAME, "--yes", "--kubeconfig", kubeconfig,
                   "--post-drain-delay", "0s", "--break-lease", endpoint=emu.endpoint))  # fmt: skip
        converged(emu, per_mig=2)
        time.sleep(0.3)
        snap = kube.snapshot()
        assert len([n for n in snap.nodes if "nodes" in n]) == 4
        assert not any(n.unschedulable for n in snap.nodes.values())


def test_failed_boot_stops_the_roll(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4) as emu:
        cluster = Cluster(emu, state, TWO_ZONES, nodes=2)
        cluster.wait_joined(3)
        cluster.change_machine_type()
        emu.state.boot.outcome = "fail:kubeadm_join"
        r = kubegce("rolling-update", "cluster", NAME, "--yes", "--cloudonly", "--post-drain-delay", "0s",
                    endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode != 0
        assert "reported phase failed" in r.stderr and "kubeadm_join: exit 1 (simulated)" in r.stderr
        assert "kubegce diagnose instance" in r.stderr and "Traceback" not in r.stderr


def test_a_failed_validation_stops_the_roll_before_the_next_batch(state: str) -> None:
    """After a batch the cluster is validated as `validate cluster` does: a node of another group
    NotReady in Kubernetes stops the roll with the validation's problem, before the next batch."""
    from kubegce.kube.client import KubeClient

    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.3, kube=True) as emu:
        assert emu.cluster is not None
        cluster = Cluster(emu, state, ["us-central1-a"], nodes=2)
        cluster.wait_joined(3)
        cluster.change_machine_type()
        kube = emu.cluster.kube
        deadline = time.monotonic() + 10
        while len(kube.snapshot().nodes) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        (cp,) = [n for n in kube.snapshot().nodes if n.startswith("control-plane")]
        kube.set_node_ready(cp, False)
        bundle = cluster.repo.get(NAME).bundle
        settings = rolling.Settings(validation_timeout_s=1.0, post_drain_delay_s=0, poll_s=0.2)
        lines: list[str] = []
        roller = rolling.Roller(cluster.target, bundle, kube=KubeClient.from_url(emu.cluster.url),
                                settings=settings, log=lines.append)  # fmt: skip
        with pytest.raises(UserError) as err:
            rolling.rolling_update(roller, rolling.select_groups(bundle, ["nodes"]))
        message = str(err.value)
        assert "did not validate within --validation-timeout (1s) after the last batch" in message
        assert f"{cp} (us-central1-a): not Ready in Kubernetes" in message
        assert f"kubegce validate cluster {NAME}" in message
        assert len(stale(emu)) == 1, lines  # the first batch replaced one instance; the second never began
        assert sum(1 for line in lines if "resize 2 -> 3" in line) == 1, lines
        # --cloudonly validates too, by boot phase: the NotReady node does not count there
        roller = rolling.Roller(cluster.target, bundle, settings=rolling.Settings(
            surge=Budget(1, False), post_drain_delay_s=0, poll_s=0.2, cloudonly=True))  # fmt: skip
        assert rolling.rolling_update(roller, rolling.select_groups(bundle, ["nodes"])) == {"nodes": 1}
        assert stale(emu) == []


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
    respected, DaemonSet pods left) and gone, two zones at once; no node left cordoned."""
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4, kube=True) as emu:
        assert emu.cluster is not None
        kubeconfig = emu.cluster.write_kubeconfig(tmp_path / "kubeconfig")
        cluster = Cluster(emu, state, TWO_ZONES, nodes=4)
        deadline = time.monotonic() + 20
        while len(emu.cluster.kube.snapshot().nodes) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        old_nodes = {n for n in emu.cluster.kube.snapshot().nodes if "nodes" in n}
        assert len(old_nodes) == 4
        cluster.change_machine_type()
        r = kubegce("rolling-update", "cluster", NAME, "--yes", "--post-drain-delay", "0s", "--max-surge", "2",
                    "--kubeconfig", str(kubeconfig), endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode == 0, r.stderr
        converged(emu, per_mig=2)
        time.sleep(0.3)
        snap = emu.cluster.kube.snapshot()
        assert not old_nodes & set(snap.nodes)
        assert len([n for n in snap.nodes if "nodes" in n]) == 4
        assert not any(n.unschedulable for n in snap.nodes.values())
        evicted = {e.node for e in snap.evictions}
        assert old_nodes <= evicted, (old_nodes, evicted)
        assert not any(e.pod.startswith("node-agent") for e in snap.evictions)  # DaemonSet pods are left
        assert not any(e.pod.startswith(("etcd-", "kube-apiserver-")) for e in snap.evictions)  # static pods too


def test_without_kubeconfig_the_roll_asks_for_one_or_cloudonly(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4) as emu:
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
