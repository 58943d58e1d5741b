"""`kubegce delete cluster NAME`: list (default) or delete everything the cluster owns, then its spec."""

from __future__ import annotations

import contextlib

import click

from kubegce import service
from kubegce.cli.common import endpoint_option, next_step, repository
from kubegce.cli.output import info, status, warn
from kubegce.cli.progress import ConsoleProgress
from kubegce.errors import UserError


@click.group("delete")
def command() -> None:
    """Delete clusters."""


@command.command("cluster")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Really delete; without it, list what would be deleted.")
@click.option("--state-only", is_flag=True, help="Remove only the spec from the state store, touch no cloud.")
@click.option("--parallelism", type=click.IntRange(1, 512), default=None,
              help="At most this many API calls in flight (default: adaptive, as the project's quota allows).")  # fmt: skip
@endpoint_option
@click.pass_context
def delete_cluster(ctx: click.Context, name: str, yes: bool, state_only: bool, parallelism: int | None,
                   endpoint: str | None) -> None:  # fmt: skip
    """Delete the cloud resources the cluster owns (by marker), in reverse dependency order, then its spec."""
    repo = repository(ctx)
    bundle = repo.get(name).bundle
    target = None if state_only else service.connect(endpoint, bundle.cluster.spec.project, name)
    with status(f"reading what cluster {name} owns") if target is not None else contextlib.nullcontext():
        deletion = service.plan_deletion(bundle, target)
    for key in deletion.unowned:
        warn(f"{key} has a name like this cluster's but is not owned by it: it will not be deleted")
    for change in deletion.diff.changes if deletion.diff else []:
        click.echo(f"- {change.key}")
    for state_key in deletion.state_keys:
        click.echo(f"- state {state_key}")
    if not yes:
        info("(dry run: nothing was deleted)")
        next_step(
            f"`kubegce delete cluster {name}{' --state-only' if state_only else ''} --yes` deletes what is listed"
        )
        return
    total = len(deletion.diff.changes) if deletion.diff else 0
    results = service.delete(deletion, target, repo=repo, parallelism=parallelism, progress=ConsoleProgress(total))
    if any(not r.ok for r in results):
        raise UserError("some resources were not deleted (listed above); the spec is kept: re-run", exit_code=1)
    info(f"deleted cluster {name}")
    next_step("`kubegce get clusters` lists the clusters left")
