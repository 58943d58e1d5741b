"""`kubegce demo`: create a cluster on the built-in emulator, apply it, show each node's boot channel."""

from __future__ import annotations

from pathlib import Path

import click

from kubegce.cli.output import emit, info, output_option
from kubegce.errors import UserError


@click.command("demo")
@click.option("--endpoint", envvar="KUBEGCE_COMPUTE_ENDPOINT", metavar="URL",
              help="Use a running emulator instead of starting one.")  # fmt: skip
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where the demo keeps its spec (default: temp).")
@click.option("--boot-seconds", type=float, default=3.0, show_default=True)
@output_option()
def command(endpoint: str | None, state_dir: str | None, boot_seconds: float, output: str) -> None:
    """Run kubegce end to end on the local GCE emulator (nothing leaves 127.0.0.1)."""
    from kubegce.cli.progress import ConsoleProgress
    from kubegce.demo import run_demo
    from kubegce.emulator.compute import FaultConfig
    from kubegce.emulator.server import RunningEmulator

    emulator = None
    kube = None
    if not endpoint:
        emulator = RunningEmulator(0, FaultConfig(operation_ms=100), boot_seconds=boot_seconds, kube=True)
        endpoint = emulator.endpoint
        info(f"started the local GCE emulator on {endpoint}")
        if emulator.cluster is not None:
            from kubegce.kube.client import KubeClient

            kube = KubeClient.from_url(emulator.cluster.url)
            info(f"  and its simulated cluster's Kubernetes API on {emulator.cluster.url}")
    try:
        result = run_demo(endpoint, Path(state_dir) if state_dir else None, info, progress=ConsoleProgress,
                          kube=kube)  # fmt: skip
    finally:
        if emulator is not None:
            emulator.close()
    from kubegce.cloud.gce.instances import INSTANCE_COLUMNS

    emit([v.as_dict() for v in result.instances], output, columns=INSTANCE_COLUMNS,
         rows=[v.row() for v in result.instances])  # fmt: skip
    info(f"re-plan after apply: {result.rerun_changes} changes (converged)" if result.rerun_changes == 0
         else f"re-plan after apply: {result.rerun_changes} changes left")  # fmt: skip
    if result.new_machine_type:
        rolled = ", ".join(f"{g} {n}" for g, n in result.rolled.items() if n) or "none"
        on_new = all(v.need_update != "yes" for v in result.instances)
        info(f"rolling update to machine type {result.new_machine_type}: replaced {rolled}; "
             + ("every node is on its group's current template" if on_new else "some nodes are on an old template"))  # fmt: skip
    info("node boots are simulated by the emulator; `kubegce lab boot` runs the real guest software")
    if result.errors:
        raise UserError("demo apply had errors:\n" + "\n".join(result.errors), exit_code=1)
