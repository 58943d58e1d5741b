"""`kubegce edit cluster NAME --set P=V --unset P` and `edit instancegroup CLUSTER IG ...`.

`--set`/`--unset` is a patch: the whole cluster (cluster + every group) is validated as it will
be stored, before anything is written, and the write is conditional on the generations read (a
cluster-level generation covers every object of the cluster). When another edit landed
meanwhile, the same assignments are re-applied to what is stored now (bounded retries with
jitter); a conflict is reported only when they no longer make a valid spec or retries run out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError

from kubegce import service
from kubegce.cli.common import load_catalog, repository
from kubegce.cli.output import info, warn
from kubegce.errors import ConflictError, NotFoundError, SpecError, UserError
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.edit import apply_edits
from kubegce.spec.loader import validation_problems
from kubegce.spec.models import Cluster, InstanceGroup
from kubegce.state.clusters import ClusterRepository, StoredBundle

PATCH_ATTEMPTS = 12

_set = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Set a field (repeatable).")
_unset = click.option("--unset", "unsets", multiple=True, metavar="PATH", help="Remove a field (repeatable).")
_force = click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")


def _edited(model: Cluster | InstanceGroup, sets: tuple[str, ...], unsets: tuple[str, ...]) -> dict[str, Any]:
    doc = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return apply_edits(doc, list(sets), list(unsets))


def _patch_cluster(stored: StoredBundle, sets: tuple[str, ...], unsets: tuple[str, ...]) -> None:
    name = stored.bundle.cluster.name
    doc = _edited(stored.bundle.cluster, sets, unsets)
    try:
        cluster = Cluster.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, Cluster, f"cluster {name}")) from None
    stored.bundle = apply_defaults(stored.bundle.model_copy(update={"cluster": cluster}))


def _patch_group(stored: StoredBundle, group: str, sets: tuple[str, ...], unsets: tuple[str, ...]) -> InstanceGroup:
    current = stored.bundle.group(group)
    if current is None:
        names = ", ".join(g.name for g in stored.bundle.instance_groups)
        raise NotFoundError(f"instance group {group!r} not in cluster {stored.bundle.cluster.name}; groups: {names}")
    doc = _edited(current, sets, unsets)
    try:
        updated = InstanceGroup.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, InstanceGroup, f"instancegroup {group}")) from None
    # no defaults here: the group is validated (with the whole cluster) exactly as it is stored
    groups = [updated if g.name == group else g for g in stored.bundle.instance_groups]
    stored.bundle = stored.bundle.model_copy(update={"instance_groups": groups})
    return updated


def run_patch(repo: ClusterRepository, name: str, patch: Callable[[StoredBundle], None], *, force: bool,
              attempts: int = PATCH_ATTEMPTS) -> None:  # fmt: skip
    """Read, patch, validate the whole cluster, write; on a conflict re-read and re-apply."""
    catalog = load_catalog()
    for attempt in range(attempts):
        stored = repo.get(name)
        patch(stored)
        warnings = service.check_spec(stored.bundle, catalog, force=force)  # the whole cluster, before any write
        try:
            if stored.edited_group is not None:
                repo.save_group(stored, stored.edited_group)
            else:
                repo.save_cluster(stored)
        except ConflictError as exc:
            if attempt + 1 >= attempts:
                raise ConflictError(f"{exc} (gave up after {attempts} attempts)") from None
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))  # jitter: concurrent editors spread out
            continue
        for w in warnings:
            warn(w)
        return


@click.group("edit")
def command() -> None:
    """Change a stored spec field by field, or in $KUBE_EDITOR / $EDITOR."""


def _require_edits(sets: tuple[str, ...], unsets: tuple[str, ...]) -> None:
    if not sets and not unsets:
        raise UserError("edit: give at least one --set PATH=VALUE or --unset PATH")


@command.command("cluster")
@click.argument("name")
@_set
@_unset
@_force
@click.pass_context
def edit_cluster(ctx: click.Context, name: str, sets: tuple[str, ...], unsets: tuple[str, ...], force: bool) -> None:
    """Edit a cluster's spec."""
    _require_edits(sets, unsets)
    run_patch(repository(ctx), name, lambda stored: _patch_cluster(stored, sets, unsets), force=force)
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
    _require_edits(sets, unsets)

    def patch(stored: StoredBundle) -> None:
        stored.edited_group = _patch_group(stored, group, sets, unsets)

    run_patch(repository(ctx), cluster, patch, force=force)
    info(f"instance group {group} of {cluster} updated")


command.add_command(edit_group, "ig")
