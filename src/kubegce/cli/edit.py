"""`kubegce edit cluster NAME --set P=V --unset P` and `edit instancegroup CLUSTER IG ...`.

Every write is conditional on the generation read, so a concurrent edit is refused, never lost.
"""

from __future__ import annotations

from collections.abc import Callable
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
    """Edit a cluster's spec: --set/--unset, or without them in $KUBE_EDITOR / $EDITOR / vi."""
    if not sets and not unsets:
        _edit_cluster_in_editor(ctx, name, force)
        return
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
    """Edit one instance group's spec: --set/--unset, or without them in $KUBE_EDITOR / $EDITOR / vi."""
    if not sets and not unsets:
        _edit_group_in_editor(ctx, cluster, group, force)
        return
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


# ---------------------------------------------------------------------- editor mode (no --set/--unset)
EDIT_HEADER = """\
# Edit {what} below and save; close without saving, empty the file or exit the editor with an
# error to cancel. Lines starting with '#' are ignored. The spec is validated when you save.
"""


def editor_command() -> list[str]:
    """$KUBE_EDITOR, then $EDITOR, then vi (split like a shell would)."""
    import os
    import shlex

    for var in ("KUBE_EDITOR", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise UserError(f"${var} {value[:80]!r} cannot be split into a command: {exc}") from None
    return ["vi"]


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")).strip()


def edit_in_editor(what: str, model: Cluster | InstanceGroup,
                   accept: Callable[[dict[str, Any]], Callable[[], None]]) -> bool:  # fmt: skip
    """Open ``model`` as YAML in the user's editor until it validates, is cancelled or is unchanged.

    ``accept`` turns the edited document into the write to make (raising UserError/SpecError when
    invalid); the edit is reopened with the problems as comments. Returns True when written."""
    import subprocess
    import tempfile
    from pathlib import Path

    import yaml

    from kubegce.spec.loader import parse_documents

    original = yaml.safe_dump(model.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False)
    body = original
    problems: list[str] = []
    previous_attempt: str | None = None
    command_ = editor_command()
    with tempfile.TemporaryDirectory(prefix="kubegce-edit-") as tmp:
        path = Path(tmp) / f"{model.name}.yaml"
        while True:
            head = EDIT_HEADER.format(what=what)
            if problems:
                head += "#\n# The edit was not saved:\n" + "".join(f"#   {p}\n" for p in problems) + "#\n"
            path.write_text(head + body)
            try:
                done = subprocess.run([*command_, str(path)], check=False)
            except OSError as exc:
                raise UserError(
                    f"cannot run the editor {command_[0]!r}: {exc.strerror or exc}; set $KUBE_EDITOR or $EDITOR"
                ) from None
            if done.returncode != 0:
                info(f"the editor exited with status {done.returncode}: edit cancelled, nothing written")
                return False
            edited = _strip_comments(path.read_text(errors="replace"))
            if not edited:
                info("the file was emptied: edit cancelled, nothing written")
                return False
            if edited == _strip_comments(original):
                info(f"no change to {what}")
                return False
            if edited == previous_attempt:
                raise UserError(f"edit of {what} cancelled: the problems above were not fixed; nothing written")
            try:
                docs = parse_documents(edited, f"edited {what}")
                if len(docs) != 1:
                    raise UserError(f"edited {what}: give exactly one document (got {len(docs)})")
                write = accept(docs[0])
            except SpecError as exc:
                problems = exc.problems
            except UserError as exc:
                problems = [str(exc)]
            else:
                write()
                return True
            for p in problems:
                warn(p)
            previous_attempt, body = edited, edited + "\n"


def _edit_cluster_in_editor(ctx: click.Context, name: str, force: bool) -> None:
    repo = repository(ctx)
    stored = repo.get(name)

    def accept(doc: dict[str, Any]) -> Callable[[], None]:
        try:
            cluster = Cluster.model_validate(doc)
        except ValidationError as exc:
            raise SpecError(validation_problems(exc, Cluster, f"cluster {name}")) from None
        if cluster.name != name:
            raise UserError(f"metadata.name: a cluster cannot be renamed ({name!r} -> {cluster.name!r}); put it back")
        bundle = apply_defaults(stored.bundle.model_copy(update={"cluster": cluster}))
        for w in service.check_spec(bundle, load_catalog(), force=force):
            warn(w)
        if bundle.cluster == stored.bundle.cluster:
            raise _NoChange
        stored.bundle = bundle
        return lambda: repo.save_cluster(stored)

    if _run_editor(f"cluster {name}", stored.bundle.cluster, accept):
        info(f"cluster {name} updated")
        click.echo(f"next: `kubegce update cluster {name}` shows what changes in the cloud", err=True)


def _edit_group_in_editor(ctx: click.Context, cluster: str, group: str, force: bool) -> None:
    repo = repository(ctx)
    stored = repo.get(cluster)
    current = stored.bundle.group(group)
    if current is None:
        names = ", ".join(g.name for g in stored.bundle.instance_groups)
        raise NotFoundError(f"instance group {group!r} not in cluster {cluster}; groups: {names}")

    def accept(doc: dict[str, Any]) -> Callable[[], None]:
        try:
            updated = InstanceGroup.model_validate(doc)
        except ValidationError as exc:
            raise SpecError(validation_problems(exc, InstanceGroup, f"instancegroup {group}")) from None
        if updated.name != group:
            raise UserError(f"metadata.name: an instance group cannot be renamed ({group!r} -> {updated.name!r})")
        groups = [updated if g.name == group else g for g in stored.bundle.instance_groups]
        bundle = apply_defaults(stored.bundle.model_copy(update={"instance_groups": groups}))
        for w in service.check_spec(bundle, load_catalog(), force=force):
            warn(w)
        saved = bundle.group(group)
        assert saved is not None
        if saved == current:
            raise _NoChange
        stored.bundle = bundle
        return lambda: repo.save_group(stored, saved)

    if _run_editor(f"instance group {group} of {cluster}", current, accept):
        info(f"instance group {group} of {cluster} updated")
        click.echo(f"next: `kubegce update cluster {cluster}` shows what changes in the cloud", err=True)


class _NoChange(Exception):
    """The edited document means the same spec as the stored one (e.g. a default spelt out)."""


def _run_editor(what: str, model: Cluster | InstanceGroup,
                accept: Callable[[dict[str, Any]], Callable[[], None]]) -> bool:  # fmt: skip
    try:
        return edit_in_editor(what, model, accept)
    except _NoChange:
        info(f"no change to {what}")
        return False
