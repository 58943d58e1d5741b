"""`kubegce update cluster NAME`: plan (default), Terraform output, or apply with --yes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubegce.boot.plans import ClusterBoot, api_server_url, asset_warnings, plan_cluster
from kubegce.cli.common import endpoint_option, load_catalog, repository
from kubegce.cli.output import emit, info, output_option, print_table, status, warn
from kubegce.cloud.model import build_graph
from kubegce.cloud.planner import Plan, plan, render_plan
from kubegce.errors import UserError
from kubegce.spec.validate import region_of
from kubegce.state.clusters import ClusterRepository

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget
    from kubegce.cloud.graph import ResourceGraph


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
        "boot": [{"group": r[0], "image": r[1], "os": r[2], "channel": r[3], "reason": r[4]} for r in boot_rows(boot)],
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


def compute_target(endpoint: str | None, project: str, cluster: str) -> GceTarget:
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.cloud.gce.target import GceTarget

    return GceTarget(ComputeClients.create(endpoint), project, cluster)


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
@click.option("--parallelism", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@endpoint_option
@output_option()
@click.pass_context
def update_cluster(ctx: click.Context, name: str, target: str, out: str | None, yes: bool, parallelism: int,
                   force: bool, endpoint: str | None, output: str) -> None:  # fmt: skip
    """Print the plan (changes nothing), write Terraform, or apply with --yes."""
    repo = repository(ctx)
    stored = repo.get(name)
    bundle = stored.bundle
    if target == "auto":
        target = "gce" if (endpoint or yes) else "dryrun"
    if yes and target != "gce":
        raise UserError(f"--yes applies through the Compute API; it does not go with --target {target}")
    if target == "gce" and yes and not repo.store.nodes_can_read and not endpoint:
        raise UserError(
            f"refusing to apply to the real Compute API with state store {repo.store.url}: nodes fetch their "
            "join secrets from the state store and cannot read a local file://. Use a gs:// state store "
            "(--state gs://bucket/prefix), or --endpoint to apply to an emulator."
        )
    boot = plan_cluster(bundle, load_catalog(), force=force, store=repo.store)
    for w in boot.warnings + asset_warnings(bundle):
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

        publish_node_objects(repo, boot)
        region = region_of(bundle.cluster.spec.zones[0])
        written = write_terraform(graph, region, Path(out))
        info(f"wrote {written[0]} and {len(written) - 1} metadata files under {Path(out) / 'data'}")
        return
    if target == "dryrun":
        p = plan(graph, {})
        _print_plan(p, boot, output, note="(offline dry run against an empty project: nothing was read or "
                                          "changed; --target gce diffs against the project)")  # fmt: skip
        return
    from kubegce.cloud.service import plan_cluster_against

    gce = compute_target(endpoint, bundle.cluster.spec.project, name)
    with status(f"reading what cluster {name} has in project {bundle.cluster.spec.project}"):
        from kubegce.cloud.gce.images import ComputeImageReader

        # custom images are placed by reading their licenses and family through the same API
        reader = ComputeImageReader(gce.clients)
        cp = plan_cluster_against(gce, bundle, load_catalog(), force=force, store=repo.store, reader=reader)
    if not yes:
        _print_plan(cp.plan, cp.boot, output, note="(plan only: pass --yes to apply)")
        return
    _print_plan(cp.plan, cp.boot, output, note="")
    if cp.plan.empty:
        info("nothing to change")
        return
    from kubegce.cli.progress import apply_with_progress

    publish_node_objects(repo, cp.boot)  # nodes must find their configs before templates point at them
    results = apply_with_progress(gce, cp.plan, cp.graph, parallelism)
    if any(not r.ok for r in results):
        raise UserError("apply finished with errors (listed above); re-run to converge", exit_code=1)
    publish_load_balancer_address(repo, gce, cp.graph)


def publish_node_objects(repo: ClusterRepository, boot: ClusterBoot) -> None:
    """Generate the cluster's secrets if needed and write what nodes fetch at boot (gs:// stores)."""
    if not repo.store.nodes_can_read:
        return
    name = boot.bundle.cluster.name
    secrets_ = repo.ensure_secrets(name)
    written = repo.publish_node_objects(name, boot.node_objects, secrets_, api_server_url(name))
    info(f"wrote {len(written)} node objects to {repo.store.url}" if written else "node objects are up to date")


def publish_load_balancer_address(repo: ClusterRepository, gce: GceTarget, graph: ResourceGraph) -> None:
    """With a load-balanced API, nodes learn its address from the state bucket (written here)."""
    if not repo.store.nodes_can_read:
        return
    from kubegce.boot.plans import discovery_key

    for key in (k for k in graph.resources if k.kind == "address"):
        resource = gce.get(key)
        address = (resource or {}).get("address")
        if not address:
            raise UserError(f"{key} has no IP address yet; re-run `kubegce update cluster {graph.cluster_name} --yes`")
        store_key = discovery_key(graph.cluster_name)
        current = repo.store.read(store_key)
        if current is None or current.data.decode() != address:
            repo.store.write(store_key, address.encode(), if_generation=current.generation if current else 0)
            info(f"published the API address {address} for the nodes")


def _print_plan(p: Plan, boot: ClusterBoot, output: str, note: str) -> None:
    if output == "table":
        print_table(("GROUP", "IMAGE", "OS", "CHANNEL", "WHY"), boot_rows(boot))
        click.echo("")
        click.echo(render_plan(p))
        if note:
            click.echo(note)
    else:
        emit(plan_json(p, boot), output)
