"""`kubegce update cluster NAME`: plan (default), Terraform output, or apply with --yes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kubegce import service
from kubegce.cli.common import endpoint_option, load_catalog, next_step, repository
from kubegce.cli.output import emit, info, output_option, print_table, status, warn
from kubegce.cli.progress import ConsoleProgress
from kubegce.cloud.planner import render_plan
from kubegce.errors import UserError


def boot_rows(changes: service.ClusterChangeSet) -> list[tuple[str, ...]]:
    return [
        (
            g.group.name,
            g.image.ref,
            g.image.profile.label if g.image.profile else "unknown",
            g.decision.metadata_channel,
            g.decision.reason,
        )
        for g in changes.boot.groups
    ]


def plan_json(changes: service.ClusterChangeSet) -> dict[str, Any]:
    p = changes.diff
    return {
        "boot": [
            {"group": r[0], "image": r[1], "os": r[2], "channel": r[3], "reason": r[4]} for r in boot_rows(changes)
        ],  # fmt: skip
        "changes": [
            {
                "action": c.action,
                "kind": c.key.kind,
                "name": c.key.name,
                "location": c.key.location,
                "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in c.fields],
            }
            for c in p.changes
        ],
        "counts": {**p.counts(), "unchanged": p.unchanged},
    }


@click.group("update")
def command() -> None:
    """Show or apply what a cluster's spec asks for."""


@command.command("cluster")
@click.argument("name")
@click.option("--target", type=click.Choice(["auto", "dryrun", "gce", "terraform"]), default="auto",
              show_default=True,
              help="auto: gce when an endpoint is set or --yes is given, else an offline dry run.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False), help="Directory for --target terraform.")
@click.option("--yes", is_flag=True, help="Apply the plan through the Compute API.")
@click.option("--parallelism", type=click.IntRange(1, 512), default=None,
              help="At most this many API calls in flight (default: adaptive, as the project's quota allows).")  # fmt: skip
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@click.option("--break-lease", is_flag=True,
              help="Take the cluster's lease from a run that was killed (docs/state-store.md).")  # fmt: skip
@endpoint_option
@output_option()
@click.pass_context
def update_cluster(ctx: click.Context, name: str, target: str, out: str | None, yes: bool, parallelism: int | None,
                   force: bool, break_lease: bool, endpoint: str | None, output: str) -> None:  # fmt: skip
    """Print the plan (changes nothing), write Terraform, or apply with --yes."""
    repo = repository(ctx)
    bundle = repo.get(name).bundle
    if target == "auto":
        target = "gce" if (endpoint or yes) else "dryrun"
    if yes and target != "gce":
        raise UserError(f"--yes applies through the Compute API; it does not go with --target {target}")
    if target == "terraform" and not out:
        raise UserError("--target terraform needs --out DIR")
    if yes:
        service.check_apply_target(repo.store, endpoint=endpoint)
    if target != "gce":
        changes = service.plan(bundle, load_catalog(), store=repo.store, force=force)
        _warn(changes)
        if target == "terraform":
            assert out is not None
            written = service.write_terraform(changes, Path(out), repo=repo, log=info)
            info(f"wrote {written[0]} and {len(written) - 1} metadata files under {Path(out) / 'data'}")
            return
        _print_plan(changes, output, note="(offline dry run against an empty project: nothing was read or "
                                          "changed; --target gce diffs against the project)")  # fmt: skip
        return
    gce = service.connect(endpoint, bundle.cluster.spec.project, name)
    with status(f"reading what cluster {name} has in project {bundle.cluster.spec.project}"):
        changes = service.plan(bundle, load_catalog(), target=gce, store=repo.store, force=force)
    _warn(changes)
    if not yes:
        _print_plan(changes, output, note="(plan only: pass --yes to apply)")
        return
    _print_plan(changes, output, note="")
    if changes.diff.empty:
        info("nothing to change")
        return
    results = service.apply(gce, changes, repo=repo, parallelism=parallelism,
                            progress=ConsoleProgress(len(changes.diff.changes)), log=info,
                            break_lease=break_lease)  # fmt: skip
    if any(not r.ok for r in results):
        raise UserError("apply finished with errors (listed above); re-run to converge", exit_code=1)
    stale = []
    if any(c.key.kind == "instance_group_manager" for c in changes.diff.changes):
        stale = service.rolling.stale_groups(gce, bundle)
    if stale:
        info(f"instances on an old template in group(s) {', '.join(stale)}")
        next_step(f"`kubegce rolling-update cluster {name} --yes` replaces them")
    else:
        next_step(f"`kubegce validate cluster {name} --wait 10m` waits until every node has joined")


def _warn(changes: service.ClusterChangeSet) -> None:
    for w in changes.warnings:
        warn(w)


def _print_plan(changes: service.ClusterChangeSet, output: str, note: str) -> None:
    if output == "table":
        print_table(("GROUP", "IMAGE", "OS", "CHANNEL", "WHY"), boot_rows(changes))
        click.echo("")
        click.echo(render_plan(changes.diff))
        if note:
            click.echo(note)
    else:
        emit(plan_json(changes), output)
