"""`kubegce diagnose --serial-log FILE` (offline) and `kubegce diagnose instance NAME --zone Z` (live)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubegce.cli.common import endpoint_option, load_catalog
from kubegce.cli.output import emit, output_option
from kubegce.errors import UserError

CAUSE_HELP = "Exit 0 when the cause is ok, 1 for any other cause."


def _metadata_file(path: str) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"--metadata {path}: {exc}") from None
    if isinstance(data, dict) and "metadata" in data and isinstance(data["metadata"], dict):
        data = data["metadata"]  # a whole instance resource
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return {i["key"]: str(i.get("value", "")) for i in data["items"]}
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return data
    raise UserError(f"--metadata {path}: give the instance's metadata as {{key: value}}, or an instance resource")


def _show(d: object, output: str) -> None:
    from kubegce.diagnose.analyze import Diagnosis

    assert isinstance(d, Diagnosis)
    if output == "table":
        click.echo(f"cause: {d.cause}")
        click.echo("")
        click.echo(d.explanation)
        if d.evidence:
            click.echo("\nevidence:")
            for ev in d.evidence:
                click.echo(f"  {ev.line:>5}: {ev.text}")
        if d.fix:
            click.echo(f"\nfix: {d.fix}")
    else:
        emit(d.as_dict(), output)
    if d.cause != "ok":
        raise SystemExit(1)


@click.group("diagnose", invoke_without_command=True, help="Say why a node did not initialize. " + CAUSE_HELP)
@click.option("--serial-log", type=click.Path(exists=True, dir_okay=False), help="Serial console output to read.")
@click.option("--metadata", "metadata_file", type=click.Path(exists=True, dir_okay=False),
              help="The instance's metadata as JSON ({key: value} or an instance resource).")  # fmt: skip
@click.option("--image", help="The image the instance booted (e.g. rhel-cloud/rhel-9).")
@output_option()
@click.pass_context
def command(ctx: click.Context, serial_log: str | None, metadata_file: str | None, image: str | None,
            output: str) -> None:  # fmt: skip
    if ctx.invoked_subcommand is not None:
        return
    if not serial_log:
        raise UserError("diagnose: give --serial-log FILE, or `kubegce diagnose instance NAME --zone ZONE`")
    from kubegce.diagnose.analyze import Context, analyze

    profile = load_catalog().resolve(image).profile if image else None
    context = Context(metadata=_metadata_file(metadata_file) if metadata_file else None, image=profile,
                      image_ref=image or "")  # fmt: skip
    _show(analyze(Path(serial_log).read_text(errors="replace"), context), output)


@command.command("instance", help="Read one instance's serial console, guest attributes and metadata. " + CAUSE_HELP)
@click.argument("name")
@click.option("--zone", required=True)
@click.option("--project", required=True, envvar="CLOUDSDK_CORE_PROJECT")
@endpoint_option
@output_option()
def diagnose_instance(name: str, zone: str, project: str, endpoint: str | None, output: str) -> None:
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.diagnose.analyze import analyze
    from kubegce.diagnose.live import instance_context

    log, context = instance_context(ComputeClients.create(endpoint), project, zone, name, load_catalog())
    _show(analyze(log, context), output)
