"""Apply at scale against the emulator (latency 50 ms per call): plan read cost, apply time against
the critical-path bound, and mutating calls on a converged rerun.

    python benchmarks/apply_scale.py [--sizes 1,10,100] [--latency-ms 50] [--parallelism 64] [--json]

bound_s = longest dependency chain x calls per resource on it x latency (operations finish at
once in this run, so a resource costs one call: its insert).

The table also shows where the time goes: client_cpu_s (this process, google-cloud-compute over
requests) and emulator_cpu_s (the emulator process) during the apply, and widest_level (the most
resources that could be in flight at once). With unbounded parallelism the apply still takes about
depth x latency + widest_level x client CPU per call, because every call's request and response
handling holds this process's GIL.
"""

from __future__ import annotations

import argparse
import json
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


def bundle_with_groups(groups: int) -> ClusterBundle:
    bundle = bundle_from_options(
        CreateClusterOptions(name="bench.example.com", project="bench-proj", zones=ZONES, node_count=3)
    )
    bundle.instance_groups = [g for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE]
    for i in range(groups):
        bundle.instance_groups.append(
            InstanceGroup(
                metadata=ObjectMeta(name=f"nodes-{i}"),
                spec=InstanceGroupSpec(
                    role=Role.NODE, min_size=3, max_size=3, zones=ZONES, image="rocky-linux-cloud/rocky-linux-9"
                ),  # fmt: skip
            )
        )
    return bundle


class Emulator:
    """The emulator in its own process (so its CPU does not share our GIL), reached over HTTP."""

    def __init__(self, latency_ms: float) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubegce", "emulator", "--port", str(port), "--latency", str(latency_ms)],
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
        data = json.loads(urllib.request.urlopen(self.endpoint + "/_emulator/calls", timeout=5).read())
        return int(data["reads"]), int(data["mutations"])

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()


def measure(groups: int, latency_ms: float, parallelism: int) -> dict[str, Any]:
    catalog = Catalog.load()
    bundle = bundle_with_groups(groups)
    with Emulator(latency_ms) as emu:
        target = GceTarget(ComputeClients.create(emu.endpoint), "bench-proj", "bench.example.com")
        reads0, _ = emu.calls()
        cp = service.plan(bundle, catalog, target=target)
        reads1, muts1 = emu.calls()
        emu_cpu0, cpu0, t0 = emu.cpu_s(), time.process_time(), time.perf_counter()
        results = service.apply(target, cp, parallelism=parallelism)
        apply_s = time.perf_counter() - t0
        client_cpu_s, emulator_cpu_s = time.process_time() - cpu0, emu.cpu_s() - emu_cpu0
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"apply failed: {failed[0].label}: {failed[0].error}")
        _, muts2 = emu.calls()
        rerun = service.plan(bundle, catalog, target=target)
        service.apply(target, rerun, parallelism=parallelism)
        _, muts3 = emu.calls()
        bound_s = cp.graph.depth() * 1 * latency_ms / 1000.0
        return {
            "groups": groups,
            "resources": len(cp.graph),
            "plan_reads": reads1 - reads0,
            "apply_mutations": muts2 - muts1,
            "apply_s": round(apply_s, 3),
            "bound_s": round(bound_s, 3),
            "ratio": round(apply_s / bound_s, 2),
            "rerun_mutations": muts3 - muts2,
            "widest_level": max(cp.graph.level_widths()),
            "client_cpu_s": round(client_cpu_s, 2),
            "emulator_cpu_s": round(emulator_cpu_s, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(int(n), args.latency_ms, args.parallelism) for n in args.sizes.split(",")]
    if args.json:
        keys = ("groups", "plan_reads", "apply_s", "bound_s", "ratio", "rerun_mutations")
        json.dump([{k: r[k] for k in keys} for r in rows], sys.stdout, indent=2)
        print()
        return
    cols = list(rows[0])
    print(f"latency {args.latency_ms:g} ms, parallelism {args.parallelism}")
    print("  ".join(f"{c:>15}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]!s:>15}" for c in cols))


if __name__ == "__main__":
    main()
