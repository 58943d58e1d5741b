"""`kubegce delete cluster NAME`: removes the spec from the state store."""

from __future__ import annotations

import click

from kubegce.cli.common import repository
from kubegce.cli.output import info


@click.group("delete")
def command() -> None:
    """Delete clusters."""


@command.command("cluster")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Really delete; without it, list what would be deleted.")
@click.pass_context
def delete_cluster(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete a cluster's spec from the state store."""
    repo = repository(ctx)
    stored = repo.get(name)
    keys = [f"{name}/cluster"] + [f"{name}/instancegroup/{g.name}" for g in stored.bundle.instance_groups]
    if not yes:
        for k in keys:
            click.echo(f"- state {k}")
        info("(dry run: pass --yes to delete)")
        return
    repo.delete(name)
    info(f"deleted cluster {name} from {repo.store.url}")
