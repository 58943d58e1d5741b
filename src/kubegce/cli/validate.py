"""`kubegce validate cluster NAME [--wait 10m]`."""

from __future__ import annotations

import contextlib
import time

import click

from kubegce import service
from kubegce.cli.common import endpoint_option, parse_duration, repository
from kubegce.cli.output import emit, info, output_option

COLUMNS = ("INSTANCE", "ZONE", "GROUP", "STATUS", "CHANNEL", "PHASE", "READY", "ERROR")


@click.group("validate")
def command() -> None:
    """Check that a cluster's groups are at size and its nodes initialized (and Ready)."""


@command.command("cluster", help="Exit 0 only when every group is at its target size and every node is ready.")
@click.argument("name")
@click.option("--wait", "wait", default="0", help="Poll until valid or this long passes (e.g. 10m).")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between polls.")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False),
              help="Check node readiness in Kubernetes (else a node is ready when its phase is joined).")  # fmt: skip
@endpoint_option
@output_option()
@click.pass_context
def validate_cluster(ctx: click.Context, name: str, wait: str, interval: float, kubeconfig: str | None,
                     endpoint: str | None, output: str) -> None:  # fmt: skip
    from rich.console import Console

    from kubegce.cloud.model import spot_groups
    from kubegce.diagnose.validate import validate

    deadline = time.monotonic() + parse_duration(wait, "--wait", allow_zero=True)
    stored = repository(ctx).get(name)
    target = service.connect(endpoint, stored.bundle.cluster.spec.project, name)
    console = Console(stderr=True)
    while True:
        with console.status(f"validating {name}") if console.is_terminal else contextlib.nullcontext():
            report = validate(target, kubeconfig, spot=spot_groups(stored.bundle))
        if report.ok or time.monotonic() >= deadline:
            break
        ready = sum(1 for n in report.nodes if n.ready)
        info(f"{ready}/{len(report.nodes)} nodes ready, {len(report.problems)} problems; "
             f"{max(0, int(deadline - time.monotonic()))}s left")  # fmt: skip
        time.sleep(interval)
    rows = [(n.view.name, n.view.zone, n.view.group, n.view.status, n.view.channel, n.view.phase,
             "yes" if n.ready else "no", n.view.attributes.get("error", "")) for n in report.nodes]  # fmt: skip
    emit(report.as_dict(), output, columns=COLUMNS, rows=rows)
    if output == "table":
        for g in report.groups:
            click.echo(f"group {g.group} {g.mig} ({g.zone}): {g.current}/{g.target}")
    for p in report.problems:
        info(f"problem: {p}")
    net = stored.bundle.cluster.spec.networking
    if net.plugin == "none":
        info(
            "note: networking.plugin is none (bring your own pod network): kubegce installed none, so "
            "nodes stay NotReady until you install one; apply your CNI's manifest with its pod CIDR set "
            f"to {net.pod_cidr} (kubectl --kubeconfig ADMIN.conf apply -f YOUR-CNI.yaml), then rerun validate"
        )
    if not report.ok:
        raise SystemExit(1)
    info(f"cluster {name} is valid")
