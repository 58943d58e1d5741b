"""`kubegce update cluster NAME`: plan (default), Terraform output, or apply with --yes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kubegce.boot.plans import ClusterBoot, asset_warnings, plan_cluster
from kubegce.cli.common import load_catalog, repository
from kubegce.cli.output import emit, info, output_option, print_table, warn
from kubegce.cloud.model import build_graph
from kubegce.cloud.planner import Plan, plan, render_plan
from kubegce.errors import UserError
from kubegce.spec.validate import region_of


def boot_rows(boot: ClusterBoot) -> list[tuple[str, ...]]:
    return [
        (
            g.group.name,
            g.image.ref,
            g.image.profile.label if g.image.profile else "unknown",
            g.plan.metadata_channel,
            g.plan.reason,
        )
        for g in boot.groups
    ]


def plan_json(p: Plan, boot: ClusterBoot) -> dict[str, Any]:
    return {
        "boot": [
            {"group": r[0], "image": r[1], "os": r[2], "channel": r[3], "reason": r[4]} for r in boot_rows(boot)
        ],
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
@click.option("--target", type=click.Choice(["dryrun", "terraform"]), default="dryrun", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Directory for --target terraform.")
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@output_option()
@click.pass_context
def update_cluster(ctx: click.Context, name: str, target: str, out: str | None, force: bool, output: str) -> None:
    """Print the plan (changes nothing), or write Terraform with --target terraform --out DIR."""
    repo = repository(ctx)
    stored = repo.get(name)
    boot = plan_cluster(stored.bundle, load_catalog(), force=force)
    for w in boot.warnings + asset_warnings(stored.bundle):
        warn(w)
    if not repo.store.nodes_can_read:
        warn(
            f"state store {repo.store.url} cannot be read by nodes: they will not find their join secrets; "
            "use a gs:// state store to run nodes"
        )
    graph = build_graph(boot)
    if target == "terraform":
        if not out:
            raise UserError("--target terraform needs --out DIR")
        from kubegce.cloud.terraform.render import write_terraform

        region = region_of(stored.bundle.cluster.spec.zones[0])
        written = write_terraform(graph, region, Path(out))
        info(f"wrote {written[0]} and {len(written) - 1} metadata files under {Path(out) / 'data'}")
        return
    p = plan(graph, {})
    if output == "table":
        print_table(("GROUP", "IMAGE", "OS", "CHANNEL", "WHY"), boot_rows(boot))
        click.echo("")
        click.echo(render_plan(p))
        click.echo("(dry run: nothing was changed)")
    else:
        emit(plan_json(p, boot), output)
