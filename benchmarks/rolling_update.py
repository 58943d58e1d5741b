"""Time to roll a node group against the emulator: a 3-zone, 30-node group whose machine type
changes, rolled with the default settings (maxSurge 1, maxUnavailable 0, 5 s post-drain delay,
drained through the simulated cluster's Kubernetes API) and with a larger surge.

    python benchmarks/rolling_update.py [--nodes 30] [--latency-ms 50] [--operation-ms 1000]
        [--boot-seconds 4] [--surge 1] [--surge 5] [--json]

Each surge value gets its own emulator (in this process) and its own cluster. Prints, per run, the
roll's wall time, instances replaced, the Compute API calls it made, and the machine's 1-minute
load average at the start and the end of the roll (the figures depend on it: 2 cores shared).
The zones of the group roll at the same time, each with its share of the group's surge
(docs/rolling-update.md): with --max-surge 1 one zone at a time, with 5 all three.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kubegce import service
from kubegce.cloud.gce.instances import list_instances
from kubegce.cloud.rollout import parse_budget
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.kube.client import KubeClient
from kubegce.service import rolling
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import FileStateStore

NAME = "bench.example.com"
PROJECT = "kubegce-bench"
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def run(nodes: int, surge: str, latency_ms: float, operation_ms: float, boot_seconds: float) -> dict[str, Any]:
    faults = FaultConfig(latency_ms=latency_ms, operation_ms=operation_ms)
    with RunningEmulator(0, faults, boot_seconds=boot_seconds, kube=True) as emu, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        assert emu.cluster is not None
        repo = ClusterRepository(FileStateStore(Path(tmp)))
        bundle = bundle_from_options(CreateClusterOptions(name=NAME, project=PROJECT, zones=ZONES, node_count=nodes))
        repo.create(bundle)
        catalog = Catalog.load()
        target = service.connect(emu.endpoint, PROJECT, NAME)
        service.apply(target, service.plan(bundle, catalog, target=target))
        deadline = time.monotonic() + 120 + boot_seconds * 2
        while time.monotonic() < deadline:
            views = list_instances(target.clients, PROJECT, NAME)
            if len(views) == nodes + 1 and all(v.phase == "joined" for v in views):
                break
            time.sleep(1)
        stored = repo.get(NAME)
        group = next(g for g in stored.bundle.instance_groups if g.name == "nodes")
        group.spec.machine_type = "e2-standard-4"
        repo.save_group(stored, group)
        bundle = repo.get(NAME).bundle
        service.apply(target, service.plan(bundle, catalog, target=target))
        settings = rolling.Settings(surge=parse_budget(surge, "--surge"))
        kube = KubeClient.from_url(emu.cluster.url)
        roller = rolling.Roller(target, bundle, kube=kube, store=repo.store, settings=settings)
        with emu.state.lock:
            emu.state.calls.reset()
        load_start = os.getloadavg()[0]
        t0 = time.monotonic()
        done = rolling.rolling_update(roller, rolling.select_groups(bundle, ["nodes"]))
        elapsed = time.monotonic() - t0
        with emu.state.lock:
            calls = emu.state.calls.as_dict()
        left = [s for s in roller.status(rolling.select_groups(bundle, ["nodes"])) if s.need_update]
        return {"nodes": nodes, "zones": len(ZONES), "surge": surge, "latency_ms": latency_ms,
                "operation_ms": operation_ms, "boot_seconds": boot_seconds, "roll_s": round(elapsed, 1),
                "replaced": done["nodes"], "stale_left": len(left), "reads": calls["reads"],
                "mutations": calls["mutations"], "load_start": round(load_start, 1),
                "load_end": round(os.getloadavg()[0], 1)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=30)
    p.add_argument("--latency-ms", type=float, default=50)
    p.add_argument("--operation-ms", type=float, default=1000)
    p.add_argument("--boot-seconds", type=float, default=4.0)
    p.add_argument("--surge", action="append", help="maxSurge values to run (default: 1 and 5)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = [run(args.nodes, s, args.latency_ms, args.operation_ms, args.boot_seconds) for s in args.surge or ["1", "5"]]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    cols = list(rows[0])
    print("  ".join(f"{c:>12}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]!s:>12}" for c in cols))


if __name__ == "__main__":
    main()
