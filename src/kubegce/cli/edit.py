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
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from kubegce import service
from kubegce.cli.common import load_catalog, next_step, repository
from kubegce.cli.output import info, warn
from kubegce.errors import ConflictError, NotFoundError, SpecError, UserError
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.edit import apply_edits
from kubegce.spec.loader import validation_problems
from kubegce.spec.models import Cluster, InstanceGroup
from kubegce.state.clusters import ClusterRepository, StoredBundle

M = TypeVar("M", Cluster, InstanceGroup)

PATCH_ATTEMPTS = 12

_set = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Set a field (repeatable).")
_unset = click.option("--unset", "unsets", multiple=True, metavar="PATH", help="Remove a field (repeatable).")
_force = click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")


def _validated(model: type[M], doc: Any, where: str) -> M:
    """The document as ``model``, or a SpecError naming each problem under ``where``."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, model, where)) from None


def _edited(model: Cluster | InstanceGroup, sets: tuple[str, ...], unsets: tuple[str, ...]) -> dict[str, Any]:
    doc = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return apply_edits(doc, list(sets), list(unsets))


def _patch_cluster(stored: StoredBundle, sets: tuple[str, ...], unsets: tuple[str, ...]) -> None:
    name = stored.bundle.cluster.name
    doc = _edited(stored.bundle.cluster, sets, unsets)
    cluster = _validated(Cluster, doc, f"cluster {name}")
    stored.bundle = apply_defaults(stored.bundle.model_copy(update={"cluster": cluster}))


def _patch_group(stored: StoredBundle, group: str, sets: tuple[str, ...], unsets: tuple[str, ...]) -> InstanceGroup:
    current = stored.bundle.group(group)
    if current is None:
        names = ", ".join(g.name for g in stored.bundle.instance_groups)
        raise NotFoundError(f"instance group {group!r} not in cluster {stored.bundle.cluster.name}; groups: {names}")
    doc = _edited(current, sets, unsets)
    updated = _validated(InstanceGroup, doc, f"instancegroup {group}")
    # no defaults here: the group is validated (with the whole cluster) exactly as it is stored
    groups = [updated if g.name == group else g for g in stored.bundle.instance_groups]
    stored.bundle = stored.bundle.model_copy(update={"instance_groups": groups})
    return updated


def run_patch(repo: ClusterRepository, name: str, patch: Callable[[StoredBundle], None], *, force: bool,
              attempts: int = PATCH_ATTEMPTS) -> bool:  # fmt: skip
    """Read, patch, validate the whole cluster, write; on a conflict re-read and re-apply.
    False (nothing written) when the patch changes nothing."""
    catalog = load_catalog()
    for attempt in range(attempts):
        stored = repo.get(name)
        before = stored.bundle
        patch(stored)
        if stored.bundle == before:
            if attempt:  # after a conflict: what this edit asks for is stored (an earlier attempt of it, or
                return True  # another writer's same change): the edit holds
            info("no change")
            return False
        warnings = service.check_spec(stored.bundle, catalog, force=force, previous=before)  # before any write
        try:
            if stored.edited_group is not None:
                repo.save_group(stored, stored.edited_group)
            else:
                repo.save_cluster(stored)
        except ConflictError as exc:
            if attempt + 1 >= attempts:
                raise ConflictError(f"{exc} (gave up after {attempts} attempts)") from None
            time.sleep(random.uniform(0.05, 0.2) * min(attempt + 1, 6))  # bounded, jittered: editors spread out
            continue
        for w in warnings:
            warn(w)
        return True
    return False


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
    if run_patch(repository(ctx), name, lambda stored: _patch_cluster(stored, sets, unsets), force=force):
        info(f"cluster {name} updated")
        next_step(f"`kubegce update cluster {name}` shows what changes in the cloud")


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

    def patch(stored: StoredBundle) -> None:
        stored.edited_group = _patch_group(stored, group, sets, unsets)

    if run_patch(repository(ctx), cluster, patch, force=force):
        info(f"instance group {group} of {cluster} updated")
        next_step(f"`kubegce update cluster {cluster}` shows what changes in the cloud")


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
    """The text without the comment block at its top (the header and any problems written there).

    Only leading comment lines go: a '#' line further down may be inside a multi-line string (a
    script in additionalUserData), and YAML itself ignores the comments that are comments."""
    lines = text.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("#")):
        lines.pop(0)
    return "".join(f"{line}\n" for line in lines)  # the last line's newline belongs to a `|` block


def _read_edited(path: Path) -> str | None:
    """What the editor left at ``path``, or None (after saying why) when it cannot be an edit."""
    from kubegce.spec.yamlio import MAX_FILE_BYTES

    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        info(f"cannot read the edited file ({exc.strerror or exc}): edit cancelled, nothing written")
        return None
    if len(data) > MAX_FILE_BYTES:
        info(f"the edited file is over {MAX_FILE_BYTES // 1024} KiB (a spec is a few KiB): edit cancelled, "
             "nothing written")  # fmt: skip
        return None
    return data.decode("utf-8", errors="replace")


def edit_in_editor(what: str, model: Cluster | InstanceGroup,
                   accept: Callable[[dict[str, Any]], Callable[[], None]]) -> bool:  # fmt: skip
    """Open ``model`` as YAML in the user's editor until it validates, is cancelled or is unchanged.

    ``accept`` turns the edited document into the write to make (raising UserError/SpecError when
    invalid); the edit is reopened with the problems as comments. Returns True when written."""
    import subprocess
    import tempfile

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
            if done.returncode != 0:  # kubectl edit: "there was a problem with the editor", exit 1
                raise UserError(f"the editor {command_[0][:80]!r} exited with status {done.returncode}: edit "
                                "cancelled, nothing written", exit_code=1)  # fmt: skip
            text = _read_edited(path)
            if text is None:
                return False
            edited = _strip_comments(text)
            if not edited.strip():
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
            previous_attempt, body = edited, edited


def _edit_cluster_in_editor(ctx: click.Context, name: str, force: bool) -> None:
    repo = repository(ctx)
    stored = repo.get(name)

    def accept(doc: dict[str, Any]) -> Callable[[], None]:
        cluster = _validated(Cluster, doc, f"cluster {name}")
        if cluster.name != name:
            raise UserError(f"metadata.name: a cluster cannot be renamed ({name!r} -> {cluster.name!r}); put it back")
        bundle = apply_defaults(stored.bundle.model_copy(update={"cluster": cluster}))
        for w in service.check_spec(bundle, load_catalog(), force=force, previous=stored.bundle):
            warn(w)
        if bundle.cluster == stored.bundle.cluster:
            raise _NoChange
        stored.bundle = bundle
        return lambda: repo.save_cluster(stored)

    if _run_editor(f"cluster {name}", stored.bundle.cluster, accept):
        info(f"cluster {name} updated")
        next_step(f"`kubegce update cluster {name}` shows what changes in the cloud")


def _edit_group_in_editor(ctx: click.Context, cluster: str, group: str, force: bool) -> None:
    repo = repository(ctx)
    stored = repo.get(cluster)
    current = stored.bundle.group(group)
    if current is None:
        names = ", ".join(g.name for g in stored.bundle.instance_groups)
        raise NotFoundError(f"instance group {group!r} not in cluster {cluster}; groups: {names}")

    def accept(doc: dict[str, Any]) -> Callable[[], None]:
        updated = _validated(InstanceGroup, doc, f"instancegroup {group}")
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
        next_step(f"`kubegce update cluster {cluster}` shows what changes in the cloud")


class _NoChange(Exception):
    """The edited document means the same spec as the stored one (e.g. a default spelt out)."""


def _run_editor(what: str, model: Cluster | InstanceGroup,
                accept: Callable[[dict[str, Any]], Callable[[], None]]) -> bool:  # fmt: skip
    try:
        return edit_in_editor(what, model, accept)
    except _NoChange:
        info(f"no change to {what}")
        return False
