"""Helpers the verb modules share: the state store and catalog from the context."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kubegce.images.catalog import Catalog
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import StateStore, open_store

endpoint_option = click.option(
    "--endpoint", envvar="KUBEGCE_COMPUTE_ENDPOINT", metavar="URL",
    help="Compute API endpoint, e.g. `kubegce emulator` (anonymous credentials) [env KUBEGCE_COMPUTE_ENDPOINT].",
)  # fmt: skip


def store_from(ctx: click.Context) -> StateStore:
    return open_store(ctx.find_root().obj.state_url)


def repository(ctx: click.Context) -> ClusterRepository:
    return ClusterRepository(store_from(ctx))


def user_catalog_path() -> Path:
    return Path(os.environ.get("KUBEGCE_USER_CATALOG", str(Path.home() / ".kubegce" / "images.yaml")))


def load_catalog() -> Catalog:
    return Catalog.load(user_catalog_path())
