"""`kubegce replace -f FILE`: replace stored cluster specs with edited documents (as `get -o yaml` prints)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubegce import service
from kubegce.cli.common import load_catalog, next_step, repository
from kubegce.cli.output import info, warn
from kubegce.errors import UserError

if TYPE_CHECKING:
    from kubegce.spec.models import ClusterBundle
    from kubegce.state.clusters import ClusterRepository


@click.command("replace")
@click.option("-f", "--filename", "filenames", multiple=True, type=click.Path(dir_okay=False),
              help="kubegce or kOps YAML documents ('-' reads stdin), e.g. from `kubegce get cluster NAME -o yaml`.")  # fmt: skip
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@click.pass_context
def command(ctx: click.Context, filenames: tuple[str, ...], force: bool) -> None:
    """Replace existing cluster specs (validated like create; a concurrent change is refused)."""
    if not filenames:
        raise UserError("replace: give -f FILE (e.g. the output of `kubegce get cluster NAME -o yaml`)")
    repo = repository(ctx)
    bundles, warnings = _read_inputs(filenames, repo)
    more, changed = service.replace_clusters(repo, bundles, load_catalog(), force=force)
    for w in [*warnings, *more]:
        warn(w)
    if not changed:
        info("no change")
        return
    for line in changed:
        info(f"replaced {line}")
    name = bundles[0].cluster.name if len(bundles) == 1 else "NAME"
    next_step(f"`kubegce update cluster {name}` shows what changes in the cloud")


def _read_inputs(filenames: tuple[str, ...], repo: ClusterRepository) -> tuple[list[ClusterBundle], list[str]]:
    """The bundles in the ``-f`` inputs, read like `create -f` reads them; an input of instance groups
    alone (`kubegce get instancegroups NAME -o yaml`, each labelled with its cluster) is read with
    its stored cluster, as `kops replace -f` reads `kops get ig -o yaml`."""
    import sys

    from kubegce.spec.loader import load_bundles, parse_documents, read_spec_file
    from kubegce.spec.yamlio import decode_text

    bundles: list[ClusterBundle] = []
    warnings: list[str] = []
    for name in filenames:
        source = "-f -" if name == "-" else name
        text = decode_text(sys.stdin.buffer.read(), source) if name == "-" else read_spec_file(name)
        found, more = load_bundles(_with_stored_cluster(parse_documents(text, source), repo), source)
        bundles.extend(found)
        warnings.extend(more)
    return bundles, warnings


def _with_stored_cluster(docs: list[dict[str, Any]], repo: ClusterRepository) -> list[dict[str, Any]]:
    """``docs`` with the stored Cluster document in front when they are instance groups of one
    cluster (named by the kubegce.io/cluster label, which is then dropped: it is not stored)."""
    from kubegce.spec.models import CLUSTER_LABEL

    if not docs or any(d.get("kind") != "InstanceGroup" for d in docs):
        return docs
    labels = [m.get("labels") if isinstance(m := d.get("metadata"), dict) else None for d in docs]
    named = {ls.get(CLUSTER_LABEL) if isinstance(ls, dict) else None for ls in labels}
    if len(named) != 1 or not isinstance(cluster := named.pop(), str) or not cluster:
        return docs  # the loader says what is missing
    stored = repo.get(cluster).bundle.cluster
    for ls in labels:
        if isinstance(ls, dict):
            ls.pop(CLUSTER_LABEL, None)
    return [stored.model_dump(mode="json", by_alias=True, exclude_none=True), *docs]
