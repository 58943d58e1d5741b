"""Helpers the verb modules share: the state store and catalog from the context."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


DURATION_RE = re.compile(r"(\d{1,9})(?:\.(\d{1,9}))?(s|m|h)?")
_UNIT_S: dict[str | None, int] = {"s": 1, "m": 60, "h": 3600, None: 1}


def _as_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_duration(text: str, option: str = "--wait", *, maximum: float | None = None, minimum: float | None = None,
                   allow_zero: bool = False) -> float:  # fmt: skip
    """30s, 10m, 1h, 1.5h (seconds when no unit), the whole string (no spaces); more than zero (or
    zero, with ``allow_zero``), at least ``minimum`` and at most ``maximum`` seconds."""
    m = DURATION_RE.fullmatch(text)
    if not m:
        raise UserError(f"{option} {text[:40]!r}: write a positive duration like 30s, 10m or 1h (a number and a unit: "
                        "s, m or h; at most 9 digits after the point; no spaces)")  # fmt: skip
    whole, fraction, unit = m.group(1), m.group(2) or "", m.group(3)
    scale: int = 10 ** len(fraction)
    exact: int = (int(whole) * scale + int(fraction or 0)) * _UNIT_S[unit]  # in 1/scale seconds: no float error
    seconds: float = exact / scale
    if exact == 0 and not allow_zero:
        raise UserError(f"{option} {text[:40]!r}: must be more than zero")
    if minimum is not None and exact < minimum * scale:
        raise UserError(f"{option} {text[:40]!r}: at least {_as_duration(minimum)}")
    if maximum is not None and exact > maximum * scale:
        raise UserError(f"{option} {text[:40]!r}: at most {_as_duration(maximum)}")
    return seconds


def read_documents(filenames: tuple[str, ...]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each ``-f`` input's name and YAML documents (``-`` is stdin, read as bytes and decoded like a file)."""
    import sys

    from kubegce.spec.loader import parse_documents, read_spec_file
    from kubegce.spec.yamlio import decode_text

    out = []
    for name in filenames:
        source = "-f -" if name == "-" else name
        text = decode_text(sys.stdin.buffer.read(), source) if name == "-" else read_spec_file(name)
        out.append((source, parse_documents(text, source)))
    return out


RESOURCE_VERSION = "resourceVersion"  # metadata.resourceVersion, as kubectl: the stored object's generation


def pop_resource_version(doc: dict[str, Any], where: str) -> int | None:
    """Remove ``metadata.resourceVersion`` from a document; the generation it names, or None."""
    from kubegce.spec.text import shown

    meta = doc.get("metadata")
    if not isinstance(meta, dict) or RESOURCE_VERSION not in meta:
        return None
    value = meta.pop(RESOURCE_VERSION)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
        return value
    raise UserError(f"{where}: metadata.resourceVersion {shown(value, 40)} is not one kubegce printed (a number "
                    "from `kubegce get ... -o yaml`); take the document from there, or remove the field")  # fmt: skip


def read_spec_inputs(filenames: tuple[str, ...], inputs: list[tuple[str, list[dict[str, Any]]]] | None = None
                     ) -> tuple[list[ClusterBundle], list[str]]:  # fmt: skip
    """The bundles in ``-f`` files (``-`` is stdin; or ``inputs``, already read), and warnings."""
    from kubegce.spec.loader import load_bundles

    bundles: list[ClusterBundle] = []
    warnings: list[str] = []
    for source, docs in read_documents(filenames) if inputs is None else inputs:
        for i, doc in enumerate(docs):  # a new object has no version to check: `get -o yaml` output creates too
            pop_resource_version(doc, f"{source} document {i + 1}")
        found, more = load_bundles(docs, source)
        bundles.extend(found)
        warnings.extend(more)
    return bundles, warnings


def groups_cluster(docs: list[dict[str, Any]]) -> str | None:
    """The one cluster that InstanceGroup documents alone name (kubegce.io/cluster label, as
    `kubegce get instancegroups NAME -o yaml` prints them), or None: not group documents alone."""
    from kubegce.spec.models import CLUSTER_LABEL

    if not docs or any(d.get("kind") != "InstanceGroup" for d in docs):
        return None
    labels = [m.get("labels") if isinstance(m := d.get("metadata"), dict) else None for d in docs]
    named = {ls.get(CLUSTER_LABEL) if isinstance(ls, dict) else None for ls in labels}
    if len(named) != 1 or not isinstance(cluster := named.pop(), str) or not cluster:
        return None  # the loader says what is missing
    return cluster


def with_stored_cluster(docs: list[dict[str, Any]], repo: ClusterRepository) -> list[dict[str, Any]]:
    """``docs`` with the stored Cluster document in front when they are instance groups of one
    cluster (named by the kubegce.io/cluster label, which is then dropped: it is not stored), as
    `kops replace -f` and `kops create -f` read `kops get ig -o yaml`."""
    from kubegce.spec.models import CLUSTER_LABEL

    cluster = groups_cluster(docs)
    if cluster is None:
        return docs
    stored = repo.get(cluster).bundle.cluster
    for d in docs:
        if isinstance(ls := d["metadata"].get("labels"), dict):
            ls.pop(CLUSTER_LABEL, None)
    return [stored.model_dump(mode="json", by_alias=True, exclude_none=True), *docs]


def next_step(message: str) -> None:
    """The one line that says what to run next (stderr)."""
    click.echo(f"next: {message}", err=True)
