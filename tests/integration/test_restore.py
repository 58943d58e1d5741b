"""Issue 22: backups and restores against the emulator with a gs:// state store (fake-gcs-server).

The simulated control planes run the backup job with the URLs their node config holds
(emulator/backups.py); `kubegce restore etcd` is the real CLI, as a process. The cluster loses
every control plane and every control-plane disk through the Compute API, is restored, and its
simulated Kubernetes API has exactly the backup's namespaces afterwards."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.state.backups import RESTORED, read_restore_marker
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import backup_key
from kubegce.state.store import open_store
from tests.conftest import gcs_state_url

pytestmark = pytest.mark.integration
NAME = "dr.example.com"
ZONES = "us-central1-a,us-central1-b,us-central1-c"


@pytest.fixture
def gcs_state(fake_gcs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = gcs_state_url(fake_gcs, monkeypatch, "dr")
    monkeypatch.setenv("KUBEGCE_STATE", url)
    monkeypatch.setenv("KUBEGCE_USER_CATALOG", str(tmp_path / "no-user-catalog.yaml"))
    return url


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with RunningEmulator(0, FaultConfig(operation_ms=10), boot_seconds=0.4, kube=True, backup_interval_s=3600) as e:
        yield e


def kubegce(*args: str, endpoint: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint})  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    return r


def wait_for(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def namespaces(emu: RunningEmulator) -> set[str]:
    assert emu.cluster is not None
    return {n["metadata"]["name"] for n in emu.cluster.kube.list_namespaces()["items"]}


def create_namespace(emu: RunningEmulator, name: str) -> None:
    assert emu.cluster is not None
    status, _ = emu.cluster.kube.create_namespace({"metadata": {"name": name}})
    assert status == 201


def cluster_instances(emu: RunningEmulator) -> dict[str, dict[str, Any]]:
    with emu.state.lock:
        return {k[3]: dict(r) for k, r in emu.state.resources.items() if k[2] == "instances"}


def up(emu: RunningEmulator, tmp_path: Path) -> Path:
    """A cluster of three control planes (one per zone) and two workers, every node Ready."""
    ok(kubegce("create", "cluster", NAME, "--project", "my-proj", "--zones", ZONES, "--control-plane-count", "3",
               "--node-count", "2", endpoint=emu.endpoint))  # fmt: skip
    ok(kubegce("update", "cluster", NAME, "--yes", endpoint=emu.endpoint))
    assert emu.cluster is not None
    cluster = emu.cluster
    wait_for("five nodes", lambda: len(cluster.kube.snapshot().nodes) == 5)
    return emu.cluster.write_kubeconfig(tmp_path / "kubeconfig")


def backups(emu: RunningEmulator) -> list[dict[str, Any]]:
    return list(json.loads(ok(kubegce("get", "backups", NAME, "-o", "json", endpoint=emu.endpoint)).stdout))


def lose_every_control_plane(emu: RunningEmulator) -> list[str]:
    """Every control-plane group and every control-plane disk deleted, through the Compute API."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    opts = ClientOptions(api_endpoint=emu.endpoint)
    creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
    migs = compute_v1.InstanceGroupManagersClient(client_options=opts, credentials=creds, transport="rest")
    disks = compute_v1.DisksClient(client_options=opts, credentials=creds, transport="rest")
    gone = sorted(n for n, r in cluster_instances(emu).items() if n.startswith("control-plane"))

    def disks_left() -> list[Any]:
        with emu.state.lock:
            return [k for k in emu.state.resources if k[2] == "disks" and k[3].startswith("control-plane")]

    for zone in ZONES.split(","):
        for mig in migs.list(project="my-proj", zone=zone):
            if "control-plane" in mig.name:
                migs.delete_unary(project="my-proj", zone=zone, instance_group_manager=mig.name)
    wait_for(
        "the control planes to go", lambda: not [n for n in cluster_instances(emu) if n.startswith("control-plane")]
    )
    for zone in ZONES.split(","):
        for d in disks.list(project="my-proj", zone=zone):
            if d.name.startswith("control-plane"):
                disks.delete_unary(project="my-proj", zone=zone, disk=d.name)
    wait_for("their disks to go", lambda: not disks_left())
    return gone


def test_backups_and_a_restore_after_every_control_plane_and_disk_is_gone(
    gcs_state: str, emu: RunningEmulator, tmp_path: Path
) -> None:
    kubeconfig = up(emu, tmp_path)
    scheduled = wait_for("the first scheduled backup", lambda: backups(emu))
    assert scheduled[0]["id"].split("-", 1)[1].startswith("control-plane")
    assert {"id", "time", "size", "sha256", "revision", "kubernetesVersion"} <= set(scheduled[0])

    create_namespace(emu, "before-backup")
    t0 = time.monotonic()
    taken = ok(kubegce("backup", "etcd", NAME, endpoint=emu.endpoint)).stdout.strip()
    backup_s = time.monotonic() - t0
    assert taken in [b["id"] for b in backups(emu)] and taken != scheduled[0]["id"]
    create_namespace(emu, "after-backup")

    old_cps = lose_every_control_plane(emu)
    repo = ClusterRepository(open_store(gcs_state))

    # without --yes: it says what it will do, and does nothing
    r = ok(kubegce("restore", "etcd", NAME, "--backup", taken, endpoint=emu.endpoint))
    assert "every control plane is replaced" in r.stderr and "back to the backup's time" in r.stderr
    assert read_restore_marker(repo.store, NAME) is None
    assert not [n for n in cluster_instances(emu) if n.startswith("control-plane")]

    t0 = time.monotonic()
    r = ok(kubegce("restore", "etcd", NAME, "--backup", taken, "--yes", "--kubeconfig", str(kubeconfig), "-o", "json",
                   endpoint=emu.endpoint))  # fmt: skip
    restore_s = time.monotonic() - t0
    result = json.loads(r.stdout)
    assert len(result["controlPlanes"]) == 3 and not set(result["controlPlanes"]) & set(old_cps)
    assert sorted(result["nodesDeleted"]) == old_cps  # the restored API named them; their instances are gone
    assert "before-backup" in namespaces(emu) and "after-backup" not in namespaces(emu)
    marker = read_restore_marker(repo.store, NAME)
    assert marker is not None and marker.state == RESTORED and marker.backup == taken
    ok(kubegce("validate", "cluster", NAME, "--kubeconfig", str(kubeconfig), endpoint=emu.endpoint))
    print(f"\nemulator, 3 control planes + 2 workers: backup etcd {backup_s:.1f}s, restore etcd {restore_s:.1f}s")


def test_bad_backups_are_refused_and_nothing_changes(gcs_state: str, emu: RunningEmulator, tmp_path: Path) -> None:
    up(emu, tmp_path)
    good = wait_for("a backup", lambda: backups(emu))[0]
    repo = ClusterRepository(open_store(gcs_state))
    before = cluster_instances(emu)

    r = kubegce("restore", "etcd", NAME, "--backup", "20260101T000000Z-nobody", "--yes", "--cloudonly",
                endpoint=emu.endpoint)  # fmt: skip
    assert r.returncode == 4 and "has no backup 20260101T000000Z-nobody" in r.stderr, r.stderr
    hostile = "x$(reboot)\n${HOME}" + "y" * 5000
    r = kubegce("restore", "etcd", NAME, "--backup", hostile, "--yes", "--cloudonly", endpoint=emu.endpoint)
    assert r.returncode == 2 and "is not a backup id" in r.stderr and "y" * 200 not in r.stderr, r.stderr

    # another cluster's manifest copied under this cluster's backups
    manifest = json.loads(repo.store.read(backup_key(NAME, good["id"], "manifest.json")).data)  # type: ignore[union-attr]
    # a recent id: the simulated backup job prunes by retention and would delete an old one meanwhile
    foreign = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 60)) + "-other"
    repo.store.write(backup_key(NAME, foreign, "manifest.json"),
                     json.dumps({**manifest, "id": foreign, "cluster": "other.example.com"}).encode(), if_generation=0,
                     secret=True)  # fmt: skip
    r = kubegce("restore", "etcd", NAME, "--backup", foreign, "--yes", "--cloudonly", endpoint=emu.endpoint)
    assert r.returncode == 2 and "of another cluster" in r.stderr and "nothing was changed" in r.stderr, r.stderr

    # a corrupted snapshot (its sha256 no longer the manifest's)
    snapshot = backup_key(NAME, good["id"], "snapshot.db")
    got = repo.store.read(snapshot)
    assert got is not None
    repo.store.write(snapshot, got.data[:-1] + bytes([got.data[-1] ^ 1]), if_generation=got.generation, secret=True)
    r = kubegce("restore", "etcd", NAME, "--backup", good["id"], "--yes", "--cloudonly", endpoint=emu.endpoint)
    assert r.returncode == 2 and "corrupted" in r.stderr and "nothing was changed" in r.stderr, r.stderr

    assert read_restore_marker(repo.store, NAME) is None
    after = cluster_instances(emu)
    assert {n: r["id"] for n, r in after.items()} == {n: r["id"] for n, r in before.items()}


def test_a_restore_killed_at_random_points_converges_when_rerun(
    gcs_state: str, emu: RunningEmulator, tmp_path: Path
) -> None:
    """A rollback: the old control planes still run (their API answers) when the restore starts;
    it deletes them all before it makes a new one, and a run killed anywhere and rerun converges."""
    kubeconfig = up(emu, tmp_path)
    create_namespace(emu, "before-backup")
    taken = ok(kubegce("backup", "etcd", NAME, endpoint=emu.endpoint)).stdout.strip()
    create_namespace(emu, "after-backup")
    old_cps = sorted(n for n in cluster_instances(emu) if n.startswith("control-plane"))
    old_ids = {r["id"] for n, r in cluster_instances(emu).items() if n in old_cps}
    args = ("restore", "etcd", NAME, "--backup", taken, "--kubeconfig", str(kubeconfig), "--yes", "--break-lease")
    rng = random.Random(int(os.environ.get("KUBEGCE_TEST_SEED", "22")))
    killed = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "kubegce", *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": emu.endpoint})  # fmt: skip
        time.sleep(rng.uniform(0.8, 4.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate()
    assert killed >= 1
    ok(kubegce(*args, endpoint=emu.endpoint))
    cps = {n: r for n, r in cluster_instances(emu).items() if n.startswith("control-plane")}
    assert len(cps) == 3 and not {r["id"] for r in cps.values()} & old_ids  # every old one replaced, no extra
    assert "before-backup" in namespaces(emu) and "after-backup" not in namespaces(emu)
    ok(kubegce("validate", "cluster", NAME, "--kubeconfig", str(kubeconfig), endpoint=emu.endpoint))


def test_a_round_whose_leader_failed_is_replaced_by_a_new_one(gcs_state: str, emu: RunningEmulator,
                                                              tmp_path: Path) -> None:  # fmt: skip
    """The leader's restore fails (the emulator no longer has the snapshot's objects): the run
    fails naming the control plane; `restore etcd --abort` gives it up; once the snapshot is
    back, a rerun starts a new round, which replaces the failed round's control planes."""
    kubeconfig = up(emu, tmp_path)
    assert emu.cluster is not None
    taken = ok(kubegce("backup", "etcd", NAME, endpoint=emu.endpoint)).stdout.strip()
    snapshots = dict(emu.cluster.etcd.snapshots)
    emu.cluster.etcd.snapshots.clear()
    args = ("restore", "etcd", NAME, "--backup", taken, "--cloudonly", "--yes", "--timeout", "60s")
    r = kubegce(*args, endpoint=emu.endpoint)
    assert r.returncode == 1 and "failed to come up in the restore" in r.stderr, r.stderr
    repo = ClusterRepository(open_store(gcs_state))
    first = read_restore_marker(repo.store, NAME)
    assert first is not None and first.in_progress
    r = kubegce("rolling-update", "cluster", NAME, "--yes", "--cloudonly", "--force", endpoint=emu.endpoint)
    assert r.returncode == 2 and "is in progress" in r.stderr, r.stderr

    ok(kubegce("restore", "etcd", NAME, "--abort", endpoint=emu.endpoint))
    aborted = read_restore_marker(repo.store, NAME)
    assert aborted is not None and aborted.state == "aborted" and aborted.token == first.token

    emu.cluster.etcd.snapshots.update(snapshots)
    r = ok(kubegce("restore", "etcd", NAME, "--backup", taken, "--kubeconfig", str(kubeconfig), "--yes",
                   endpoint=emu.endpoint))  # fmt: skip
    done = read_restore_marker(repo.store, NAME)
    assert done is not None and done.state == RESTORED and done.token != first.token
    ok(kubegce("validate", "cluster", NAME, "--kubeconfig", str(kubeconfig), endpoint=emu.endpoint))
