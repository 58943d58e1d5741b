"""Backups as the state store holds them: listing (manifest-backed only), reading, requesting."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from kubegce.backups.manifest import Manifest, ManifestError, is_backup_id, parse_manifest
from kubegce.state.base import StateStore
from kubegce.state.layout import BACKUP_MANIFEST, backup_key, backup_request_key, backups_dir


@dataclass
class Listing:
    backups: list[Manifest] = field(default_factory=list)  # newest first
    problems: list[str] = field(default_factory=list)  # manifests that are not a backup job's


def list_backups(store: StateStore, cluster: str) -> Listing:
    """Every backup with a manifest, newest first. A snapshot without a manifest (an upload in
    progress or killed) is not a backup; a malformed or foreign manifest is reported, not listed."""
    out = Listing()
    prefix = backups_dir(cluster) + "/"
    for key in sorted(store.list(prefix), reverse=True):
        rest = key[len(prefix) :]
        ident, _, name = rest.partition("/")
        if name != BACKUP_MANIFEST or not is_backup_id(ident):
            continue
        got = store.read(key)
        if got is None:
            continue  # pruned meanwhile
        try:
            out.backups.append(parse_manifest(got.data, key_id=ident, cluster=cluster))
        except ManifestError as exc:
            out.problems.append(str(exc))
    out.backups.sort(key=lambda m: (m.time, m.id), reverse=True)
    return out


def request_backup(store: StateStore, cluster: str) -> str:
    """Ask the control planes for a backup now: a fresh token in the request object (the etcd
    leader's next run, within a minute, answers it in its manifest's ``request``)."""
    token = secrets.token_hex(8)
    key = backup_request_key(cluster)
    current = store.read(key)
    store.write(key, token.encode(), if_generation=current.generation if current else 0, secret=True)
    return token


def answered(store: StateStore, cluster: str, token: str) -> Manifest | None:
    """The backup that answers request ``token``, if one is in the store."""
    import json

    for m in list_backups(store, cluster).backups:
        got = store.read(backup_key(cluster, m.id, BACKUP_MANIFEST))
        if got is not None and json.loads(got.data).get("request") == token:
            return m
    return None


def take_backup(store: StateStore, cluster: str, *, timeout_s: float, poll_s: float = 5.0,
                progress: Callable[[str], None] = lambda _: None) -> Manifest:  # fmt: skip
    """Request a backup and wait until its manifest is in the store (the job runs every minute on
    each control plane; the etcd leader answers). TimeoutError names what to check."""
    import time

    token = request_backup(store, cluster)
    started = time.monotonic()
    progress(f"asked the control planes of {cluster} for an etcd backup (request {token})")
    while True:
        found = answered(store, cluster, token)
        if found is not None:
            return found
        waited = time.monotonic() - started
        if waited >= timeout_s:
            raise TimeoutError(
                f"no control plane answered backup request {token} within {timeout_s:g}s; the etcd "
                f"leader's kubegce-etcd-backup.timer answers within a minute: check `kubegce diagnose {cluster}` "
                "and `journalctl -u kubegce-etcd-backup` on a control plane (the request stays; a later run answers it)"
            )
        progress(f"waiting for the etcd leader's backup job ({waited:.0f}s)")
        time.sleep(poll_s)
