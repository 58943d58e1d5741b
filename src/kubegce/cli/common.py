"""Helpers the verb modules share: the state store and catalog from the context."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubegce.errors import UserError

if TYPE_CHECKING:  # imported when a verb needs them (start-up time: benchmarks/startup.py)
    from kubegce.images.catalog import Catalog
    from kubegce.spec.models import ClusterBundle
    from kubegce.state.clusters import ClusterRepository
    from kubegce.state.store import StateStore

endpoint_option = click.option(
    "--endpoint", envvar="KUBEGCE_COMPUTE_ENDPOINT", metavar="URL",
    help="Compute API endpoint, e.g. `kubegce emulator` (anonymous credentials) [env KUBEGCE_COMPUTE_ENDPOINT].",
)  # fmt: skip


def store_from(ctx: click.Context) -> StateStore:
    from kubegce.state.store import open_store

    return open_store(ctx.find_root().obj.state_url)


def repository(ctx: click.Context) -> ClusterRepository:
    from kubegce.state.clusters import ClusterRepository

    return ClusterRepository(store_from(ctx))


def user_catalog_path() -> Path:
    return Path(os.environ.get("KUBEGCE_USER_CATALOG", str(Path.home() / ".kubegce" / "images.yaml")))


def load_catalog() -> Catalog:
    from kubegce.images.catalog import Catalog

    return Catalog.load(user_catalog_path())


def parse_duration(text: str, option: str = "--wait", *, maximum: float | None = None,
                   allow_zero: bool = False) -> float:  # fmt: skip
    """30s, 10m, 1h (seconds when no unit); more than zero (or zero, with ``allow_zero``), and at
    most ``maximum`` seconds."""
    m = re.fullmatch(r"(\d{1,9}(?:\.\d{1,6})?)(s|m|h)?", text.strip())
    if not m:
        raise UserError(f"{option} {text[:40]!r}: write a positive duration like 30s, 10m or 1h")
    seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise UserError(f"{option} {text[:40]!r}: must be more than zero")
    if maximum is not None and seconds > maximum:
        raise UserError(f"{option} {text[:40]!r}: at most {maximum / 3600:g}h")
    return seconds


def read_spec_inputs(filenames: tuple[str, ...]) -> tuple[list[ClusterBundle], list[str]]:
    """The bundles in ``-f`` files (``-`` is stdin, read as bytes and decoded like a file), and warnings."""
    import sys

    from kubegce.spec.loader import load_bundles, load_file, parse_documents
    from kubegce.spec.yamlio import decode_text

    bundles: list[ClusterBundle] = []
    warnings: list[str] = []
    for name in filenames:
        if name == "-":
            text = decode_text(sys.stdin.buffer.read(), "-f -")
            found, more = load_bundles(parse_documents(text, "-f -"), "-f -")
        else:
            found, more = load_file(name)
        bundles.extend(found)
        warnings.extend(more)
    return bundles, warnings


def next_step(message: str) -> None:
    """The one line that says what to run next (stderr)."""
    click.echo(f"next: {message}", err=True)
