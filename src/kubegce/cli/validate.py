"""`kubegce validate cluster NAME [--wait 10m]`."""

from __future__ import annotations

import contextlib
import re
import time

import click

from kubegce.cli.common import endpoint_option, repository
from kubegce.cli.output import emit, info, output_option
from kubegce.errors import UserError

COLUMNS = ("INSTANCE", "ZONE", "GROUP", "STATUS", "CHANNEL", "PHASE", "READY", "ERROR")


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)?", text.strip())
    if not m:
        raise UserError(f"--wait {text!r}: write a duration like 30s, 10m or 1h")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


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

    from kubegce.cli.update import compute_target
    from kubegce.diagnose.validate import validate

    deadline = time.monotonic() + parse_duration(wait)
    stored = repository(ctx).get(name)
    target = compute_target(endpoint, stored.bundle.cluster.spec.project, name)
    console = Console(stderr=True)
    while True:
        with console.status(f"validating {name}") if console.is_terminal else contextlib.nullcontext():
            report = validate(target, kubeconfig)
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
    if not report.ok:
        raise SystemExit(1)
    info(f"cluster {name} is valid")
