"""`kubegce backup etcd CLUSTER`: an etcd backup now, into the state store."""

from __future__ import annotations

import click

from kubegce.cli.common import parse_duration, repository
from kubegce.cli.output import info
from kubegce.errors import UserError


@click.group("backup")
def command() -> None:
    """Back a cluster's etcd up to the state store now."""


@command.command("etcd")
@click.argument("cluster")
@click.option("--timeout", "timeout", default="5m", show_default=True, help="How long to wait for the backup.")
@click.pass_context
def backup_etcd(ctx: click.Context, cluster: str, timeout: str) -> None:
    """Ask the cluster's etcd leader for a backup and print its id once it is in the store."""
    from kubegce.state.backups import take_backup

    timeout_s = parse_duration(timeout, "--timeout", maximum=3600)
    repo = repository(ctx)
    stored = repo.get(cluster)
    if not stored.bundle.cluster.spec.etcd.backup.enabled:
        raise UserError(f"spec.etcd.backup.enabled is false for {cluster}: enable it "
                        f"(`kubegce edit cluster {cluster} --set spec.etcd.backup.enabled=true`, then update --yes)")  # fmt: skip
    if not repo.store.nodes_can_read:
        raise UserError(f"state store {repo.store.url}: control planes cannot reach a file:// store, so they cannot "
                        "write backups to it; use a gs:// state store (docs/disaster-recovery.md)")  # fmt: skip
    try:
        manifest = take_backup(repo.store, cluster, timeout_s=timeout_s, progress=info)
    except TimeoutError as exc:
        raise UserError(str(exc)) from None
    info(f"backup {manifest.id}: revision {manifest.revision}, {manifest.size} bytes, sha256 {manifest.sha256[:12]}")
    click.echo(manifest.id)
