"""`kubegce restore etcd CLUSTER --backup ID [--yes]`: the cluster back to one of its etcd backups."""

from __future__ import annotations

import click

from kubegce import service
from kubegce.cli.common import endpoint_option, load_catalog, next_step, parse_duration, repository
from kubegce.cli.output import emit, info, output_option
from kubegce.errors import UserError


@click.group("restore")
def command() -> None:
    """Bring a cluster back to one of its etcd backups."""


@command.command("etcd")
@click.argument("cluster")
@click.option("--backup", "backup_id", metavar="ID", help="The backup (`kubegce get backups CLUSTER`).")
@click.option("--abort", is_flag=True,
              help="Give up a restore in progress: control planes made from now on boot without it.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Restore (without it: only say what would happen).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), envvar="KUBECONFIG",
              help="Kubeconfig of the cluster's API: stale Node objects are deleted, nodes must be Ready [env KUBECONFIG].")  # fmt: skip
@click.option("--cloudonly", is_flag=True,
              help="Do not talk to the Kubernetes API: every worker is reset, nodes count by boot phase.")  # fmt: skip
@click.option("--timeout", default="30m", show_default=True, help="How long the control planes and nodes may take.")
@click.option("--break-lease", is_flag=True,
              help="Take the cluster's lease from a run that was killed (docs/state-store.md).")  # fmt: skip
@endpoint_option
@output_option()
@click.pass_context
def restore_etcd(ctx: click.Context, cluster: str, backup_id: str | None, abort: bool, yes: bool,
                 kubeconfig: str | None, cloudonly: bool, timeout: str, break_lease: bool, endpoint: str | None,
                 output: str) -> None:  # fmt: skip
    """Replace every control plane (new etcd disks), restore the backup's snapshot on the first and
    join the others to it, then have the nodes register again; without --yes, say what it would do."""
    from kubegce.service.restore import abort_restore, check_backup_id, describe_result, plan_restore, restore

    if abort:
        if backup_id is not None:
            raise UserError("--abort gives up the restore in progress: pass it without --backup")
        given_up = abort_restore(repository(ctx), cluster, log=info, break_lease=break_lease)
        if given_up is None:
            info(f"cluster {cluster} has no restore in progress; nothing was changed")
        else:
            info(f"gave up the restore of backup {given_up.backup} begun {given_up.started}; the control planes it "
                 "made stay as they are: `kubegce validate cluster` shows what runs")  # fmt: skip
        return
    if backup_id is None:
        raise UserError(f"--backup ID is required (`kubegce get backups {cluster}` lists them), or --abort")
    check_backup_id(backup_id)
    timeout_s = parse_duration(timeout, "--timeout", maximum=24 * 3600)
    repo = repository(ctx)
    bundle = repo.get(cluster).bundle
    kube = None
    if yes and not cloudonly:
        if not kubeconfig:
            raise UserError(
                "the restore deletes the old control planes' Node objects and waits for every node through the "
                f"Kubernetes API: pass --kubeconfig PATH (or set KUBECONFIG; `kubegce export kubeconfig {cluster} "
                "--admin` writes one), or --cloudonly to reset every worker and count nodes by boot phase"
            )
        from kubegce.kube.client import KubeClient

        kube = KubeClient.from_kubeconfig(kubeconfig)
    gce = service.connect(endpoint, bundle.cluster.spec.project, cluster)
    info(f"checking backup {backup_id} (its manifest and its snapshot's sha256)")
    plan = plan_restore(repo, gce, cluster, backup_id)
    for line in plan.describe():
        info(line)
    if not yes:
        click.echo(
            f"(nothing was changed: pass --yes to restore: kubegce restore etcd {cluster} --backup {backup_id} --yes)"
        )
        return
    result = restore(repo, gce, plan, catalog=load_catalog(), kube=kube, log=info, timeout_s=timeout_s,
                     break_lease=break_lease)  # fmt: skip
    emit(describe_result(result), output if output != "table" else "yaml")
    info(f"cluster {cluster} is back at backup {backup_id} ({result.seconds:.0f}s)")
    next_step(
        f"`kubegce validate cluster {cluster}` checks it again; `kubegce get backups {cluster}` lists the backups"
    )
