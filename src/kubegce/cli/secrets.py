"""`kubegce rotate token NAME`, `kubegce export kubeconfig NAME --admin` (`get secrets` is in get.py).

Secret values are never printed: only names, fingerprints and expiries; kubeconfigs go to a file
with mode 0600.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import click
import yaml

from kubegce import service
from kubegce.boot.endpoint import api_server_url
from kubegce.cli.common import parse_duration, repository
from kubegce.cli.output import info
from kubegce.state.clusters import ClusterRepository
from kubegce.state.pki import ClusterSecrets


def _secrets(ctx: click.Context, name: str) -> tuple[ClusterRepository, ClusterSecrets]:
    repo = repository(ctx)
    repo.get(name)
    return repo, repo.require_secrets(name)[0]


@click.group("rotate")
def rotate() -> None:
    """Replace secrets."""


@rotate.command("token")
@click.argument("name")
@click.option("--ttl", default="24h", show_default=True, help="How long the new join token is valid.")
@click.pass_context
def rotate_token(ctx: click.Context, name: str, ttl: str) -> None:
    """Make a new kubeadm join token and republish the role bundles nodes fetch."""
    secrets_ = service.rotate_token(repository(ctx), name, dt.timedelta(seconds=parse_duration(ttl, "--ttl")))
    info(f"new join token id {secrets_.token['token'].split('.')[0]} valid until {secrets_.token['expires']}")


@click.group("export")
def export() -> None:
    """Export credentials."""


@export.command("kubeconfig")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Include an admin client certificate (system:masters).")
@click.option("--ttl", default="12h", show_default=True, help="Lifetime of the admin certificate.")
@click.option("--server", help="API server URL (default https://api.internal.NAME).")
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default ./kubeconfig-NAME, mode 0600).")
@click.pass_context
def export_kubeconfig(
    ctx: click.Context, name: str, admin: bool, ttl: str, server: str | None, out: str | None
) -> None:
    """Write a kubeconfig for the cluster from its stored CA (nothing is printed)."""
    from kubegce.state.pki import client_certificate

    _, secrets_ = _secrets(ctx, name)
    server = server or api_server_url(name)
    user: dict[str, str] = {}
    if admin:
        cert, key = client_certificate(secrets_.files["ca.crt"], secrets_.files["ca.key"], "kubegce-admin",
                                       "system:masters", dt.timedelta(seconds=parse_duration(ttl, "--ttl")))  # fmt: skip
        user = {"client-certificate-data": base64.b64encode(cert).decode(),
                "client-key-data": base64.b64encode(key).decode()}  # fmt: skip
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data":
                                                base64.b64encode(secrets_.files["ca.crt"]).decode()}}],
        "users": [{"name": f"{name}-admin" if admin else name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin" if admin else name}}],
    }  # fmt: skip
    path = Path(out or f"kubeconfig-{name}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(path, 0o600)
    what = f"an admin certificate valid for {ttl}" if admin else "no credentials (add --admin for a certificate)"
    info(f"wrote {path} (mode 0600) for {server} with {what}")
