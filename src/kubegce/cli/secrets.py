"""`kubegce rotate token NAME`, `kubegce export kubeconfig NAME --admin` (`get secrets` is in get.py).

Secret values are never printed: only names, fingerprints and expiries; kubeconfigs go to a file
with mode 0600.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import secrets
from pathlib import Path

import click
import yaml

from kubegce import service
from kubegce.boot.endpoint import api_server_url
from kubegce.cli.common import parse_duration, repository
from kubegce.cli.output import info
from kubegce.errors import UserError
from kubegce.state.clusters import ClusterRepository
from kubegce.state.pki import MAX_ADMIN_CERT_TTL, MAX_TOKEN_TTL, ClusterSecrets

MIN_TTL_S = 60.0  # a credential that expires before anyone can use it is a mistake: at least 1m


def _ttl(text: str, maximum: dt.timedelta) -> float:
    """A credential lifetime: a whole-string duration from 1m to ``maximum``, in whole seconds."""
    return float(int(parse_duration(text, "--ttl", minimum=MIN_TTL_S, maximum=maximum.total_seconds())))


def _secrets(ctx: click.Context, name: str) -> tuple[ClusterRepository, ClusterSecrets]:
    repo = repository(ctx)
    repo.get(name)
    return repo, repo.require_secrets(name)[0]


def write_private_file(path: Path, data: bytes, option: str) -> None:
    """Write ``data`` to a new 0600 file that replaces ``path``: never through a symlink, never a
    moment with the data readable by others (a temp name in the same directory made with
    O_CREAT|O_EXCL|O_NOFOLLOW, then renamed over ``path``)."""
    if path.is_symlink():
        raise UserError(f"{option} {path}: is a symbolic link; kubegce does not write secrets through one")
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"{option} {path}: directory {parent} does not exist; create it first")
    tmp = parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write in {parent} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UserError(f"{option} {path}: cannot write ({exc.strerror})") from None


@click.group("rotate")
def rotate() -> None:
    """Replace secrets."""


@rotate.command("token")
@click.argument("name")
@click.option("--ttl", default="24h", show_default=True,
              help="How long the new join token is valid (1m to 720h); `update` keeps this lifetime.")  # fmt: skip
@click.pass_context
def rotate_token(ctx: click.Context, name: str, ttl: str) -> None:
    """Make a new kubeadm join token and republish the role bundles nodes fetch."""
    secrets_ = service.rotate_token(repository(ctx), name, dt.timedelta(seconds=_ttl(ttl, MAX_TOKEN_TTL)))
    info(
        f"new join token id {secrets_.token['token'].split('.')[0]} written to the state store; the control "
        "planes' token keeper creates it in the cluster within 5 minutes and renews it while they run "
        f"(by {secrets_.token_ttl}); the old token is no longer renewed"
    )


@click.group("export")
def export() -> None:
    """Export credentials."""


@export.command("kubeconfig")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Include an admin client certificate (system:masters).")
@click.option("--ttl", default="12h", show_default=True, help="Lifetime of the admin certificate (1m to 720h).")
@click.option("--server", help="API server URL (default https://api.internal.NAME).")
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default ./kubeconfig-NAME, mode 0600).")
@click.pass_context
def export_kubeconfig(
    ctx: click.Context, name: str, admin: bool, ttl: str, server: str | None, out: str | None
) -> None:
    """Write a kubeconfig for the cluster from its stored CA (nothing is printed)."""
    from kubegce.state.pki import client_certificate

    cert_ttl = dt.timedelta(seconds=_ttl(ttl, MAX_ADMIN_CERT_TTL))
    _, secrets_ = _secrets(ctx, name)
    server = server or api_server_url(name)
    user: dict[str, str] = {}
    if admin:
        cert, key = client_certificate(secrets_.files["ca.crt"], secrets_.files["ca.key"], "kubegce-admin",
                                       "system:masters", cert_ttl)  # fmt: skip
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
    write_private_file(path, yaml.safe_dump(doc, sort_keys=False).encode(), "--out")
    what = f"an admin certificate valid for {ttl}" if admin else "no credentials (add --admin for a certificate)"
    info(f"wrote {path} (mode 0600) for {server} with {what}")
