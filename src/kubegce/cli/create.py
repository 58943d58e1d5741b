"""`kubegce create cluster NAME ...` and `kubegce create -f FILE`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubegce import service
from kubegce.cli.common import load_catalog, repository
from kubegce.cli.output import info, warn
from kubegce.errors import UserError
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.fields import ssh_public_key_problem
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import ClusterBundle


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
    catalog = load_catalog()
    for bundle in bundles:
        for w in service.check_spec(bundle, catalog, force=force):  # validates everything before writing
            warn(w)
    repo = repository(ctx)
    for bundle in bundles:
        for w in repo.create(bundle):
            warn(w)
        channels = ", ".join(f"{g.name}: {g.spec.image}" for g in bundle.instance_groups)
        info(f"created cluster {bundle.cluster.name} in {repo.store.url} ({channels})")
    info("nothing was created in the cloud; run `kubegce update cluster NAME` to see the plan")


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
    bundles: list[ClusterBundle] = []
    all_warnings: list[str] = []
    for name in filenames:
        text = sys.stdin.read() if name == "-" else _read(name)
        found, warnings = load_bundles(parse_documents(text, name), name)
        bundles.extend(found)
        all_warnings.extend(warnings)
    for w in all_warnings:
        warn(w)
    _store_bundles(ctx, bundles, force)


def _read(name: str) -> str:
    try:
        return Path(name).read_text()
    except OSError as exc:
        raise UserError(f"-f {name}: {exc.strerror}") from None


def _ssh_key(path: str) -> str:
    """The one public key in ``path`` (the spec's own check, reported against the flag)."""
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--ssh-public-key {path}: cannot read it ({exc})") from None
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
