"""`kubegce delete cluster NAME`: list (default) or delete everything the cluster owns, then its spec."""

from __future__ import annotations

import click

from kubegce.cli.common import endpoint_option, repository
from kubegce.cli.output import info, status, warn
from kubegce.cloud.graph import ResourceGraph
from kubegce.errors import UserError


@click.group("delete")
def command() -> None:
    """Delete clusters."""


@command.command("cluster")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Really delete; without it, list what would be deleted.")
@click.option("--state-only", is_flag=True, help="Remove only the spec from the state store, touch no cloud.")
@click.option("--parallelism", type=click.IntRange(1, 256), default=8, show_default=True)
@endpoint_option
@click.pass_context
def delete_cluster(ctx: click.Context, name: str, yes: bool, state_only: bool, parallelism: int,
                   endpoint: str | None) -> None:  # fmt: skip
    """Delete the cloud resources the cluster owns (by marker), in reverse dependency order, then its spec."""
    repo = repository(ctx)
    stored = repo.get(name)
    state_keys = [f"{name}/cluster"] + [f"{name}/instancegroup/{g.name}" for g in stored.bundle.instance_groups]
    plan = None
    target = None
    if not state_only:
        from kubegce.cli.update import compute_target
        from kubegce.cloud.service import deletion_plan

        target = compute_target(endpoint, stored.bundle.cluster.spec.project, name)
        with status(f"reading what cluster {name} owns"):
            found = target.find()
        plan = deletion_plan(found)
        for key in sorted(found.unowned):
            warn(f"{key} has a name like this cluster's but is not owned by it: it will not be deleted")
        for change in plan.changes:
            click.echo(f"- {change.key}")
    for state_key in state_keys:
        click.echo(f"- state {state_key}")
    if not yes:
        info("(dry run: pass --yes to delete)")
        return
    if plan is not None and target is not None and plan.changes:
        from kubegce.cli.progress import apply_with_progress

        results = apply_with_progress(target, plan, _empty_graph(name, stored.bundle.cluster.spec.project), parallelism)
        if any(not r.ok for r in results):
            raise UserError("some resources were not deleted (listed above); the spec is kept: re-run", exit_code=1)
    repo.delete(name)
    info(f"deleted cluster {name}")


def _empty_graph(name: str, project: str) -> ResourceGraph:
    return ResourceGraph(project=project, cluster_name=name)
