"""Apply at the cloud's pace: the emulator answers every call after 50 ms and runs every
mutating operation for 1 s (as GCE does: inserts answer fast, their operations take seconds), and
the client runs with its default settings (adaptive concurrency, no --parallelism).

    python benchmarks/apply_scale.py [--json] [--rows zonal-1,zonal-10,zonal-100,quota-100,regional-100]

Rows: zonal instance groups (one MIG per zone) at 1, 10 and 100 groups over 3 zones without a
quota; zonal at 100 groups under --write-quota 150/5s; regional MIGs at 100 groups.

bound_s: without a quota, the longest dependency chain x (latency + op time); with a quota N/W, the
larger of that and (ceil(mutations / N) - 1) x W + latency + op time. ratio = apply_s / bound_s.
plan_reads: calls a plan makes (the same at every size); rerun_mutations: calls a converged rerun
makes; throttled: calls the emulator refused for quota; failed: changes that did not apply.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubegce import service
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.target import GceTarget
from kubegce.images.catalog import Catalog
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.models import ClusterBundle, InstanceGroup, InstanceGroupSpec, ObjectMeta, Role

ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def bundle_with_groups(groups: int, regional: bool = False) -> ClusterBundle:
    bundle = bundle_from_options(
        CreateClusterOptions(name="bench.example.com", project="bench-proj", zones=ZONES, node_count=3)
    )
    bundle.instance_groups = [g for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE]
    for i in range(groups):
        bundle.instance_groups.append(
            InstanceGroup(
                metadata=ObjectMeta(name=f"nodes-{i}"),
                spec=InstanceGroupSpec(
                    role=Role.NODE,
                    min_size=3,
                    max_size=3,
                    zones=ZONES,
                    image="rocky-linux-cloud/rocky-linux-9",
                    **({"zone_distribution": "regional"} if regional else {}),
                ),  # fmt: skip
            )
        )
    return bundle


class Emulator:
    """The emulator in its own process (so its CPU does not share our GIL), reached over HTTP."""

    def __init__(self, latency_ms: float, op_ms: float, quota: str | None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubegce", "emulator", "--port", str(port), "--latency", str(latency_ms),
             "--op-ms", str(op_ms), *(["--write-quota", quota] if quota else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/_emulator/calls", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("emulator did not start")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def calls(self) -> tuple[int, int]:
        data = self.counts()
        return int(data["reads"]), int(data["mutations"])

    def counts(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(urllib.request.urlopen(self.endpoint + "/_emulator/calls", timeout=5).read())
        return data

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()


ROWS = {
    "zonal-1": (1, False, None),
    "zonal-10": (10, False, None),
    "zonal-100": (100, False, None),
    "quota-100": (100, False, "150/5s"),
    "regional-100": (100, True, None),
}


def measure(groups: int, regional: bool, quota: str | None, latency_ms: float, op_ms: float) -> dict[str, Any]:
    catalog = Catalog.load()
    bundle = bundle_with_groups(groups, regional)
    with Emulator(latency_ms, op_ms, quota) as emu:
        target = GceTarget(ComputeClients.create(emu.endpoint), "bench-proj", "bench.example.com")
        reads0, _ = emu.calls()
        cp = service.plan(bundle, catalog, target=target)
        reads1, muts1 = emu.calls()
        throttled0 = int(emu.counts().get("throttled", 0))
        emu_cpu0, cpu0, t0 = emu.cpu_s(), time.process_time(), time.perf_counter()
        results = service.apply(target, cp)
        apply_s = time.perf_counter() - t0
        client_cpu_s, emulator_cpu_s = time.process_time() - cpu0, emu.cpu_s() - emu_cpu0
        failed = [r for r in results if not r.ok]
        _, muts2 = emu.calls()
        throttled = int(emu.counts().get("throttled", 0)) - throttled0
        rerun = service.plan(bundle, catalog, target=target)
        service.apply(target, rerun)
        _, muts3 = emu.calls()
        step_s = (latency_ms + op_ms) / 1000.0
        bound_s = cp.graph.depth() * step_s
        mutations = muts2 - muts1 - throttled
        if quota:
            calls, window = quota.split("/")
            window_s = float(window.rstrip("s"))
            bound_s = max(bound_s, (math.ceil(mutations / int(calls)) - 1) * window_s + step_s)
        return {
            "groups": groups,
            "zones": len(ZONES),
            "regional": regional,
            "latency_ms": latency_ms,
            "op_ms": op_ms,
            "quota": quota,
            "resources": len(cp.graph),
            "plan_reads": reads1 - reads0,
            "apply_s": round(apply_s, 3),
            "bound_s": round(bound_s, 3),
            "ratio": round(apply_s / bound_s, 2),
            "rerun_mutations": muts3 - muts2,
            "throttled": throttled,
            "failed": len(failed),
            # not in --json: where the time went
            "mutations": mutations,
            "client_cpu_s": round(client_cpu_s, 2),
            "emulator_cpu_s": round(emulator_cpu_s, 2),
        }


JSON_KEYS = ("groups", "zones", "regional", "latency_ms", "op_ms", "quota", "resources", "plan_reads", "apply_s",
             "bound_s", "ratio", "rerun_mutations", "throttled", "failed")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {', '.join(ROWS)}")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--op-ms", type=float, default=1000.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [measure(*ROWS[name], args.latency_ms, args.op_ms) for name in args.rows.split(",")]
    if args.json:
        json.dump([{k: r[k] for k in JSON_KEYS} for r in rows], sys.stdout, indent=2)
        print()
        return
    cols = list(rows[0])
    print(f"latency {args.latency_ms:g} ms, op {args.op_ms:g} ms, load average {os.getloadavg()[0]:.1f}")
    print("  ".join(f"{c:>15}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]!s:>15}" for c in cols))
    print(f"whole benchmark: {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
