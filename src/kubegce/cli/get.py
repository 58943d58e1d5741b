"""`kubegce get clusters | instancegroups CLUSTER`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
from pydantic import BaseModel

from kubegce.cli.common import endpoint_option, next_step, repository
from kubegce.cli.output import emit, info, output_option
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.models import CLUSTER_LABEL, InstanceGroup
from kubegce.state.lease import read_lease

if TYPE_CHECKING:
    from kubegce.state.clusters import StoredBundle


def emit_documents(models: Sequence[BaseModel], versions: Sequence[int]) -> None:
    """`---`-separated YAML documents, as `create -f` and `replace -f` read them back, each with
    the stored object's generation as ``metadata.resourceVersion`` (kubectl's name; `replace`
    refuses a document older than what is stored)."""
    import yaml

    from kubegce.cli.common import RESOURCE_VERSION

    docs = []
    for model, version in zip(models, versions, strict=True):
        doc = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        meta = doc["metadata"]
        doc["metadata"] = {"name": meta.pop("name"), RESOURCE_VERSION: str(version), **meta}
        docs.append(doc)
    click.echo(yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True).rstrip())


def _labelled(group: InstanceGroup, cluster: str) -> InstanceGroup:
    labels = {**group.metadata.labels, CLUSTER_LABEL: cluster}
    return group.model_copy(update={"metadata": group.metadata.model_copy(update={"labels": labels})})


def _group_versions(stored: StoredBundle) -> list[int]:
    return [stored.group_generations.get(g.name, 0) for g in stored.bundle.instance_groups]


@click.group("get")
def command() -> None:
    """List clusters, instance groups and etcd backups in the state store."""


@command.command("clusters")
@click.argument("names", nargs=-1)
@output_option()
@click.option("--full", is_flag=True, help="Show every field with the defaults filled in.")
@click.pass_context
def get_clusters(ctx: click.Context, names: tuple[str, ...], output: str, full: bool) -> None:
    """List clusters (or the named ones); -o yaml prints documents `create -f` and `replace -f` read."""
    repo = repository(ctx)
    stored = [repo.get(n) for n in (names or repo.names())]
    if not stored:
        info(f"no clusters in {repo.store.url}")
        next_step("create one with `kubegce create cluster NAME --project PROJECT --zones ZONE` "
                  "or `kubegce create -f cluster.yaml`")  # fmt: skip
        if output == "table":
            return
    bundles = [apply_defaults(s.bundle) if full else s.bundle for s in stored]
    if output == "yaml":
        emit_documents([m for b in bundles for m in (b.cluster, *b.instance_groups)],
                       [v for s in stored for v in (s.cluster_generation, *_group_versions(s))])  # fmt: skip
        return
    data = [b.cluster.model_dump(mode="json", by_alias=True, exclude_none=True) for b in bundles]
    leases = [read_lease(repo.store, s.bundle.cluster.name) for s in stored]
    rows = [
        (
            s.bundle.cluster.name,
            s.bundle.cluster.spec.project,
            ",".join(s.bundle.cluster.spec.zones),
            s.bundle.cluster.spec.kubernetes_version,
            len(s.bundle.instance_groups),
            "-" if lease is None else ("expired" if lease.expired else lease.describe()),
        )  # fmt: skip
        for s, lease in zip(stored, leases, strict=True)
    ]
    emit(data, output, columns=("NAME", "PROJECT", "ZONES", "VERSION", "GROUPS", "LEASE"), rows=rows)


@command.command("instancegroups")
@click.argument("cluster")
@output_option()
@click.pass_context
def get_instancegroups(ctx: click.Context, cluster: str, output: str) -> None:
    """List a cluster's instance groups."""
    stored = repository(ctx).get(cluster)
    groups = stored.bundle.instance_groups
    if output == "yaml":  # each labelled with its cluster, so `replace -f` reads them back alone (as kOps)
        emit_documents([_labelled(g, cluster) for g in groups], _group_versions(stored))
        return
    data = [g.model_dump(mode="json", by_alias=True, exclude_none=True) for g in groups]
    rows = [
        (
            g.name,
            g.spec.role.value,
            g.spec.machine_type,
            g.spec.image,
            g.spec.min_size,
            g.spec.max_size,
            ",".join(g.spec.zones),
            g.spec.bootstrap.channel.value,
        )  # fmt: skip
        for g in groups
    ]
    emit(data, output, columns=("NAME", "ROLE", "MACHINETYPE", "IMAGE", "MIN", "MAX", "ZONES", "CHANNEL"),
         rows=rows)  # fmt: skip


command.add_command(get_instancegroups, "ig")


@command.command("instances")
@click.argument("cluster")
@endpoint_option
@output_option()
@click.pass_context
def get_instances(ctx: click.Context, cluster: str, endpoint: str | None, output: str) -> None:
    """A cluster's instances with their boot channel and phase (guest attributes)."""
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.cloud.gce.instances import instance_table, list_instances

    stored = repository(ctx).get(cluster)
    from kubegce.cloud.model import spot_groups

    views = list_instances(ComputeClients.create(endpoint), stored.bundle.cluster.spec.project, cluster,
                           spot_groups(stored.bundle))  # fmt: skip
    columns, rows = instance_table(views)
    emit([v.as_dict() for v in views], output, columns=columns, rows=rows)


@command.command("secrets")
@click.argument("name")
@output_option()
@click.pass_context
def get_secrets(ctx: click.Context, name: str, output: str) -> None:
    """Names and fingerprints of a cluster's secrets (never their values)."""
    repo = repository(ctx)
    repo.get(name)
    rows = repo.require_secrets(name)[0].fingerprints()
    emit(rows, output, columns=("NAME", "KIND", "FINGERPRINT", "EXPIRES"),
         rows=[(r["name"], r["kind"], r["fingerprint"], r["expires"]) for r in rows])  # fmt: skip


command.add_command(get_clusters, "cluster")


@command.command("backups")
@click.argument("cluster")
@output_option()
@click.pass_context
def get_backups(ctx: click.Context, cluster: str, output: str) -> None:
    """List a cluster's etcd backups in the state store, newest first (docs/disaster-recovery.md)."""
    from kubegce.state.backups import list_backups

    repo = repository(ctx)
    repo.get(cluster)  # an unknown cluster: not found (exit 4)
    listing = list_backups(repo.store, cluster)
    for problem in listing.problems:
        info(f"warning: not listed: {problem}")
    data = [m.as_dict() for m in listing.backups]
    rows = [(m.id, m.as_dict()["time"], m.member, m.revision, m.kubernetes_version, m.size, m.sha256[:12])
            for m in listing.backups]  # fmt: skip
    if not rows and output == "table":
        info(f"no etcd backups of {cluster} yet")
    emit(data, output, columns=("ID", "TIME", "MEMBER", "REVISION", "KUBERNETES", "SIZE", "SHA256"), rows=rows)
