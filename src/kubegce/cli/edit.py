"""`kubegce edit cluster NAME --set P=V --unset P` and `edit instancegroup CLUSTER IG ...`.

Every write is conditional on the generation read, so a concurrent edit is refused, never lost.
"""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from kubegce import service
from kubegce.cli.common import load_catalog, repository
from kubegce.cli.output import info, warn
from kubegce.errors import NotFoundError, SpecError, UserError
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.edit import apply_edits
from kubegce.spec.loader import validation_problems
from kubegce.spec.models import Cluster, InstanceGroup

_set = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Set a field (repeatable).")
_unset = click.option("--unset", "unsets", multiple=True, metavar="PATH", help="Remove a field (repeatable).")
_force = click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")


def _edited(model: Cluster | InstanceGroup, sets: tuple[str, ...], unsets: tuple[str, ...]) -> dict[str, Any]:
    if not sets and not unsets:
        raise UserError("edit: give at least one --set PATH=VALUE or --unset PATH")
    doc = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return apply_edits(doc, list(sets), list(unsets))


@click.group("edit")
def command() -> None:
    """Change a stored spec field by field, or in $KUBE_EDITOR / $EDITOR."""


@command.command("cluster")
@click.argument("name")
@_set
@_unset
@_force
@click.pass_context
def edit_cluster(ctx: click.Context, name: str, sets: tuple[str, ...], unsets: tuple[str, ...], force: bool) -> None:
    """Edit a cluster's spec."""
    repo = repository(ctx)
    stored = repo.get(name)
    doc = _edited(stored.bundle.cluster, sets, unsets)
    try:
        cluster = Cluster.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, Cluster, f"cluster {name}")) from None
    stored.bundle = apply_defaults(stored.bundle.model_copy(update={"cluster": cluster}))
    for w in service.check_spec(stored.bundle, load_catalog(), force=force):
        warn(w)
    repo.save_cluster(stored)
    info(f"cluster {name} updated; `kubegce update cluster {name}` shows what changes")


@command.command("instancegroup")
@click.argument("cluster")
@click.argument("group")
@_set
@_unset
@_force
@click.pass_context
def edit_group(ctx: click.Context, cluster: str, group: str, sets: tuple[str, ...], unsets: tuple[str, ...],
               force: bool) -> None:  # fmt: skip
    """Edit one instance group's spec."""
    repo = repository(ctx)
    stored = repo.get(cluster)
    current = stored.bundle.group(group)
    if current is None:
        names = ", ".join(g.name for g in stored.bundle.instance_groups)
        raise NotFoundError(f"instance group {group!r} not in cluster {cluster}; groups: {names}")
    doc = _edited(current, sets, unsets)
    try:
        updated = InstanceGroup.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, InstanceGroup, f"instancegroup {group}")) from None
    groups = [updated if g.name == group else g for g in stored.bundle.instance_groups]
    stored.bundle = apply_defaults(stored.bundle.model_copy(update={"instance_groups": groups}))
    for w in service.check_spec(stored.bundle, load_catalog(), force=force):
        warn(w)
    repo.save_group(stored, updated)
    info(f"instance group {group} of {cluster} updated")


command.add_command(edit_group, "ig")
