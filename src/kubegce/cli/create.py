"""`kubegce create cluster NAME ...` and `kubegce create -f FILE`."""

from __future__ import annotations

from typing import Any

import click

from kubegce import service
from kubegce.cli.common import (
    groups_cluster,
    load_catalog,
    next_step,
    pop_resource_version,
    read_documents,
    read_spec_inputs,
    repository,
    with_stored_cluster,
)
from kubegce.cli.output import info, warn
from kubegce.errors import UserError
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.fields import ssh_public_key_problem
from kubegce.spec.models import ClusterBundle
from kubegce.spec.yamlio import read_text_file


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _labels(value: str | None) -> dict[str, str]:
    out = {}
    for item in _csv(value):
        k, sep, v = item.partition("=")
        if not sep:
            raise UserError(f"--cloud-labels {item!r}: write key=value[,key=value]")
        out[k] = v
    return out


def _store_bundles(ctx: click.Context, bundles: list[ClusterBundle], force: bool) -> None:
    repo = repository(ctx)
    for w in service.create_clusters(repo, bundles, load_catalog(), force=force):
        warn(w)
    for bundle in bundles:
        images = ", ".join(f"{g.name}: {g.spec.image}" for g in bundle.instance_groups)
        info(f"created cluster {bundle.cluster.name} in {repo.store.url} ({images})")
    info("nothing was created in the cloud yet")
    name = bundles[0].cluster.name if len(bundles) == 1 else "NAME"
    next_step(f"`kubegce update cluster {name}` shows the plan; add --yes to apply it")


@click.group("create", invoke_without_command=True)
@click.option("-f", "--filename", "filenames", multiple=True, type=click.Path(dir_okay=False),
              help="kubegce or kOps (kops.k8s.io/v1alpha2) YAML documents; '-' reads stdin.")  # fmt: skip
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@click.pass_context
def command(ctx: click.Context, filenames: tuple[str, ...], force: bool) -> None:
    """Create a cluster spec in the state store (nothing touches a cloud until `update`)."""
    if ctx.invoked_subcommand is not None:
        return
    if not filenames:
        raise UserError("create: give -f FILE, or `kubegce create cluster NAME --project ... --zones ...`")
    inputs = read_documents(filenames)
    if all(groups_cluster(docs) for _, docs in inputs):  # `kubegce get ig NAME -o yaml` documents, as kOps
        _add_groups(ctx, inputs, force)
        return
    bundles, warnings = read_spec_inputs(filenames, inputs)
    for w in warnings:
        warn(w)
    _store_bundles(ctx, bundles, force)


def _add_groups(ctx: click.Context, inputs: list[tuple[str, list[dict[str, Any]]]], force: bool) -> None:
    """InstanceGroup documents alone, each labelled kubegce.io/cluster: NAME: new groups of that
    stored cluster (as `kops create -f ig.yaml`)."""
    from kubegce.spec.loader import load_bundles

    repo = repository(ctx)
    for source, docs in inputs:
        for i, doc in enumerate(docs):
            pop_resource_version(doc, f"{source} document {i + 1}")
        found, warnings = load_bundles(with_stored_cluster(docs, repo), source)
        for w in warnings:
            warn(w)
        for bundle in found:
            for w in service.add_groups(repo, bundle.cluster.name, bundle.instance_groups, load_catalog(), force=force):
                warn(w)
            for g in bundle.instance_groups:
                info(f"created instancegroup {bundle.cluster.name}/{g.name} ({g.spec.image})")
            next_step(f"`kubegce update cluster {bundle.cluster.name}` shows the plan; add --yes to apply it")


def _ssh_key(path: str) -> str:
    """The one public key in ``path`` (the spec's own check, reported against the flag)."""
    text = read_text_file(path, f"--ssh-public-key {path}").strip()
    if problem := ssh_public_key_problem(text):
        raise UserError(f"--ssh-public-key {path}: {problem}")
    return text


@command.command("cluster")
@click.argument("name")
@click.option("--project", required=True, help="GCP project id.")
@click.option("--zones", required=True, help="Comma-separated zones, e.g. us-central1-a,us-central1-b.")
@click.option("--image", default="ubuntu-os-cloud/ubuntu-2404-lts-amd64", show_default=True,
              help="Image for every group: PROJECT/FAMILY, PROJECT/IMAGE or a selfLink.")  # fmt: skip
@click.option("--node-image", help="Image for the nodes (default --image).")
@click.option("--control-plane-image", help="Image for the control plane (default --image).")
@click.option("--node-count", type=int, default=2, show_default=True)
@click.option("--control-plane-count", type=int, default=1, show_default=True)
@click.option("--node-size", default="e2-medium", show_default=True)
@click.option("--control-plane-size", default="e2-standard-2", show_default=True)
@click.option("--kubernetes-version", default=None, help="e.g. 1.33.2")
@click.option("--networking", type=click.Choice(["calico", "cilium", "none"]), default="calico", show_default=True)
@click.option("--topology", type=click.Choice(["public", "private"]), default="public", show_default=True)
@click.option("--ssh-public-key", type=click.Path(exists=True, dir_okay=False), help="Public key file.")
@click.option("--cloud-labels", help="key=value[,key=value] on every resource that takes labels.")
@click.option(
    "--ssh-access",
    "ssh_access",
    multiple=True,
    help="CIDRs (IPv4 or IPv6, comma-separated or repeated) allowed to SSH in; default the API access.",
)
@click.option("--api-access", "--admin-access", "api_access", multiple=True,
              help="CIDRs (IPv4 or IPv6) allowed to reach the API on 443; default 0.0.0.0/0.")  # fmt: skip
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@click.pass_context
def create_cluster(ctx: click.Context, name: str, project: str, zones: str, image: str,
                   node_image: str | None, control_plane_image: str | None, node_count: int,
                   control_plane_count: int, node_size: str, control_plane_size: str,
                   kubernetes_version: str | None, networking: str, topology: str,
                   ssh_public_key: str | None, cloud_labels: str | None, ssh_access: tuple[str, ...],
                   api_access: tuple[str, ...], force: bool) -> None:  # fmt: skip
    """Create a cluster spec from kOps-like flags."""
    opts = CreateClusterOptions(
        name=name, project=project, zones=_csv(zones), image=image, node_image=node_image,
        control_plane_image=control_plane_image, node_count=node_count,
        control_plane_count=control_plane_count, node_size=node_size,
        control_plane_size=control_plane_size, networking=networking, topology=topology,
        ssh_public_key=_ssh_key(ssh_public_key) if ssh_public_key else None,
        cloud_labels=_labels(cloud_labels),
        ssh_access=[c for v in ssh_access for c in _csv(v)], api_access=[c for v in api_access for c in _csv(v)],
    )  # fmt: skip
    if kubernetes_version:
        opts.kubernetes_version = kubernetes_version
    _store_bundles(ctx, [bundle_from_options(opts)], force)
