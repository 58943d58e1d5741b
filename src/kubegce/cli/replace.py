"""`kubegce replace -f FILE`: replace stored cluster specs with edited documents (as `get -o yaml` prints).

Documents carry ``metadata.resourceVersion`` (the stored object's generation, as kubectl's): one
older than what is stored, or none (a hand-written document), is refused unless ``--force``, so a
stale file cannot silently undo later edits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubegce import service
from kubegce.cli.common import (
    groups_cluster,
    load_catalog,
    next_step,
    pop_resource_version,
    read_documents,
    repository,
    with_stored_cluster,
)
from kubegce.cli.output import info, warn
from kubegce.errors import UserError

if TYPE_CHECKING:
    from kubegce.spec.models import ClusterBundle
    from kubegce.state.clusters import ClusterRepository

Versions = dict[str, dict[str, int | None]]  # cluster -> store key of each given document -> its version


@click.command("replace")
@click.option("-f", "--filename", "filenames", multiple=True, type=click.Path(dir_okay=False),
              help="kubegce or kOps YAML documents ('-' reads stdin), e.g. from `kubegce get cluster NAME -o yaml`.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace even when a document is older than what is stored (its "
              "metadata.resourceVersion) or has none; and keep a boot channel the image cannot run.")  # fmt: skip
@click.pass_context
def command(ctx: click.Context, filenames: tuple[str, ...], force: bool) -> None:
    """Replace existing cluster specs (validated like create; a concurrent change is refused)."""
    if not filenames:
        raise UserError("replace: give -f FILE (e.g. the output of `kubegce get cluster NAME -o yaml`)")
    repo = repository(ctx)
    bundles, warnings, versions = _read_inputs(filenames, repo)
    source = f"replace -f {filenames[0]}" if len(filenames) == 1 else "replace"
    more, changed = service.replace_clusters(repo, bundles, load_catalog(), force=force, versions=versions,
                                             source=source)  # fmt: skip
    for w in [*warnings, *more]:
        warn(w)
    if not changed:
        info("no change")
        return
    for line in changed:
        info(f"replaced {line}")
    name = bundles[0].cluster.name if len(bundles) == 1 else "NAME"
    next_step(f"`kubegce update cluster {name}` shows what changes in the cloud")


def _read_inputs(filenames: tuple[str, ...],
                 repo: ClusterRepository) -> tuple[list[ClusterBundle], list[str], Versions]:  # fmt: skip
    """The bundles in the ``-f`` inputs, read like `create -f` reads them, and the resourceVersion
    of each document given; an input of instance groups alone (`kubegce get instancegroups NAME -o
    yaml`, each labelled with its cluster) is read with its stored cluster, as `kops replace -f`
    reads `kops get ig -o yaml` (that cluster document is not replaced, so it has no version)."""
    from kubegce.spec.loader import load_bundles
    from kubegce.state.layout import cluster_key, group_key

    bundles: list[ClusterBundle] = []
    warnings: list[str] = []
    versions: Versions = {}
    for source, docs in read_documents(filenames):
        given = [(d.get("kind"), _name(d), _label(d), pop_resource_version(d, f"{source} document {i + 1}"))
                 for i, d in enumerate(docs)]  # fmt: skip
        alone = groups_cluster(docs)
        found, more = load_bundles(with_stored_cluster(docs, repo), source)
        bundles.extend(found)
        warnings.extend(more)
        only = found[0].cluster.name if len(found) == 1 else None
        for kind, name, label, version in given:
            cluster = name if kind == "Cluster" else (alone or label or only)
            if not isinstance(name, str) or not isinstance(cluster, str):
                continue  # the loader refused what it cannot place
            key = cluster_key(name) if kind == "Cluster" else group_key(cluster, name)
            versions.setdefault(cluster, {})[key] = version
    return bundles, warnings, versions


def _name(doc: dict[str, Any]) -> Any:
    return doc["metadata"].get("name") if isinstance(doc.get("metadata"), dict) else None


def _label(doc: dict[str, Any]) -> Any:
    from kubegce.spec.models import CLUSTER_LABEL

    meta = doc.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels.get(CLUSTER_LABEL, labels.get("kops.k8s.io/cluster")) if isinstance(labels, dict) else None
