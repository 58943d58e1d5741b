"""`kubegce rolling-update cluster NAME`: what would be replaced (default), or replace it with --yes."""

from __future__ import annotations

import click

from kubegce import service
from kubegce.cli.common import endpoint_option, parse_duration, repository
from kubegce.cli.output import emit, info, output_option
from kubegce.cloud.rollout import parse_budget
from kubegce.errors import UserError


@click.group("rolling-update")
def command() -> None:
    """Replace instances whose instance template is not their group's."""


@command.command("cluster")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Replace the instances (without it: only show what needs it).")
@click.option("--instance-group", "groups", multiple=True, metavar="G", help="Only this group (repeatable).")
@click.option("--cloudonly", is_flag=True,
              help="Do not talk to the Kubernetes API: no drain, no node validation (boot phases still count).")  # fmt: skip
@click.option("--kubeconfig", type=click.Path(dir_okay=False), envvar="KUBECONFIG",
              help="Kubeconfig of the cluster's API (drain, node readiness) [env KUBECONFIG].")  # fmt: skip
@click.option("--max-surge", default="1", show_default=True, metavar="N|P%", help="Extra instances per group.")
@click.option("--max-unavailable", default="0", show_default=True, metavar="N|P%",
              help="Ready instances a group may lose.")  # fmt: skip
@click.option("--drain-timeout", default="5m", show_default=True, help="Per node.")
@click.option("--validation-timeout", default="15m", show_default=True,
              help="How long new instances, a control plane's health and the cluster's validation after "
                   "each batch may take.")  # fmt: skip
@click.option("--post-drain-delay", default="5s", show_default=True, help="Pause after each deleted batch.")
@click.option("--force", is_flag=True, help="Replace every instance, even those on the current template.")
@click.option("--break-lease", is_flag=True,
              help="Take the cluster's lease from a run that was killed (docs/state-store.md).")  # fmt: skip
@endpoint_option
@output_option()
@click.pass_context
def rolling_update_cluster(ctx: click.Context, name: str, yes: bool, groups: tuple[str, ...], cloudonly: bool,
                           kubeconfig: str | None, max_surge: str, max_unavailable: str, drain_timeout: str,
                           validation_timeout: str, post_drain_delay: str, force: bool, break_lease: bool,
                           endpoint: str | None, output: str) -> None:  # fmt: skip
    """Show each group's instances on an old template; with --yes replace them (control planes
    first, one at a time; node groups surge, drain and validate batch by batch)."""
    settings = service.rolling.Settings(
        surge=parse_budget(max_surge, "--max-surge"),
        unavailable=parse_budget(max_unavailable, "--max-unavailable"),
        drain_timeout_s=parse_duration(drain_timeout, "--drain-timeout"),
        validation_timeout_s=parse_duration(validation_timeout, "--validation-timeout"),
        post_drain_delay_s=parse_duration(post_drain_delay, "--post-drain-delay", allow_zero=True),
        cloudonly=cloudonly,
        force=force,
        break_lease=break_lease,
    )
    repo = repository(ctx)
    bundle = repo.get(name).bundle
    chosen = service.rolling.select_groups(bundle, list(groups))
    service.rolling.check_budgets(settings, chosen)
    kube = None
    if yes and not cloudonly:
        if not kubeconfig:
            raise UserError(
                "the rolling update drains nodes through the Kubernetes API: pass --kubeconfig PATH (or set "
                f"KUBECONFIG; `kubegce export kubeconfig {name} --admin` writes one), or --cloudonly to skip it"
            )
        from kubegce.kube.client import KubeClient

        kube = KubeClient.from_kubeconfig(kubeconfig)
    gce = service.connect(endpoint, bundle.cluster.spec.project, name)
    roller = service.rolling.Roller(gce, bundle, kube=kube, store=repo.store, settings=settings, log=info)
    if not yes:
        rows = roller.status(chosen)
        if force:
            rows = [service.rolling.GroupStatus(r.group, r.role, r.nodes, r.ready, r.min, r.target, r.max, r.nodes)
                    for r in rows]  # fmt: skip
        emit([r.as_dict() for r in rows], output, columns=service.rolling.STATUS_COLUMNS, rows=[r.row() for r in rows])
        if output == "table" and any(r.need_update for r in rows):
            click.echo(
                f"\n(nothing was changed: pass --yes to replace them: kubegce rolling-update cluster {name} --yes)"
            )
        return
    done = service.rolling.rolling_update(roller, chosen)
    total = sum(done.values())
    rows = roller.status(chosen)
    emit([r.as_dict() for r in rows], output, columns=service.rolling.STATUS_COLUMNS, rows=[r.row() for r in rows])
    info(f"rolling update of cluster {name} done: {total} instance(s) replaced")
