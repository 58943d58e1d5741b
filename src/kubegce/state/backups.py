"""Backups as the state store holds them: listing (manifest-backed only), reading, requesting."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kubegce.backups.manifest import VERSION_RE, Manifest, ManifestError, is_backup_id, parse_manifest
from kubegce.state.base import StateStore, Versioned
from kubegce.state.layout import (
    BACKUP_MANIFEST,
    BACKUP_SNAPSHOT,
    backup_key,
    backup_request_key,
    backups_dir,
    restore_marker_key,
)


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
    for m in list_backups(store, cluster).backups:
        got = store.read(backup_key(cluster, m.id, BACKUP_MANIFEST))
        if got is not None and json.loads(got.data).get("request") == token:
            return m
    return None


def take_backup(store: StateStore, cluster: str, *, timeout_s: float, poll_s: float = 2.0,
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


RESTORING = "restoring"
RESTORED = "complete"
ABORTED = "aborted"
TOKEN_RE = re.compile(r"[0-9a-f]{16}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
ETCD_VERSION_RE = VERSION_RE  # a manifest's etcdVersion, as lib/restore.sh accepts it
STARTED_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
NAME_RE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class RestoreMarker:
    """A restore in the store (CLUSTER/secrets/backups/etcd-restore, secret): control planes that
    boot with no etcd member read it; ``replace`` are the control-plane instance ids the round
    replaces (a rerun after a kill replaces no instance it made itself)."""

    backup: str
    sha256: str
    etcd_version: str
    token: str
    replace: tuple[str, ...]
    state: str  # RESTORING | RESTORED
    started: str
    expires: int = 0
    replace_names: tuple[str, ...] = ()  # their names: a MIG that recreates one gives it a new id, not a new name
    generation: int = 0

    def to_json(self) -> bytes:
        return json.dumps({"backup": self.backup, "sha256": self.sha256, "etcdVersion": self.etcd_version,
                           "token": self.token, "replace": list(self.replace), "state": self.state,
                           "started": self.started, "expires": self.expires,
                           "replaceNames": list(self.replace_names)}, indent=2).encode() + b"\n"  # fmt: skip

    @property
    def in_progress(self) -> bool:
        return self.state == RESTORING


def read_restore_marker(store: StateStore, cluster: str) -> RestoreMarker | None:
    """The cluster's restore marker; an unreadable one counts as none (a new round replaces it)."""
    return parse_restore_marker(store.read(restore_marker_key(cluster)))


def parse_restore_marker(got: Versioned | None) -> RestoreMarker | None:
    """A restore marker as read from the store (None: absent, or not one kubegce wrote)."""
    if got is None or len(got.data) > 64 * 1024:
        return None
    try:
        doc = json.loads(got.data)
        expires = doc["expires"]
        names = doc.get("replaceNames", [])
        if (not isinstance(expires, int) or isinstance(expires, bool) or not isinstance(doc["replace"], list)
                or not isinstance(names, list)):  # fmt: skip
            return None
        marker = RestoreMarker(str(doc["backup"]), str(doc["sha256"]), str(doc["etcdVersion"]), str(doc["token"]),
                               tuple(str(i) for i in doc["replace"]), str(doc["state"]), str(doc["started"]),
                               expires, tuple(str(n) for n in names), got.generation)  # fmt: skip
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError):
        return None
    if not (is_backup_id(marker.backup) and TOKEN_RE.fullmatch(marker.token) and SHA256_RE.fullmatch(marker.sha256)
            and ETCD_VERSION_RE.fullmatch(marker.etcd_version) and marker.state in (RESTORING, RESTORED, ABORTED)
            and STARTED_RE.fullmatch(marker.started) and all(NAME_RE.fullmatch(n) for n in marker.replace_names)
            and all(i.isdigit() and len(i) <= 20 for i in marker.replace)):  # fmt: skip
        return None
    return marker


def write_restore_marker(store: StateStore, cluster: str, marker: RestoreMarker, *, generation: int) -> RestoreMarker:
    """Write the marker if the object is still at ``generation`` (0: absent); ConflictError if not."""
    g = store.write(restore_marker_key(cluster), marker.to_json(), if_generation=generation, secret=True)
    return replace(marker, generation=g)


def new_restore_marker(backup: Manifest, replace_ids: list[str], *, lifetime_s: float,
                       replace_names: list[str] | None = None) -> RestoreMarker:  # fmt: skip
    import time

    return RestoreMarker(backup.id, backup.sha256, backup.etcd_version, secrets.token_hex(8), tuple(sorted(replace_ids)),
                         RESTORING, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         int(time.time() + lifetime_s), tuple(sorted(replace_names or [])))  # fmt: skip


def refuse_during_restore(store: StateStore, cluster: str, verb: str) -> None:
    """UserError when a restore of ``cluster`` is marked in progress: an update or a roll would make
    control planes that take part in it (or replace the ones it made)."""
    from kubegce.errors import UserError

    got = store.read(restore_marker_key(cluster))
    marker = parse_restore_marker(got)
    if got is not None and marker is None:
        raise UserError(f"{verb}: the restore marker of cluster {cluster} is not one this kubegce can read (an older "
                        "kubegce's, or changed in the store); control planes booting now would refuse it: finish the "
                        f"restore with `kubegce restore etcd {cluster} --backup ID --yes` or remove the marker with "
                        f"`kubegce restore etcd {cluster} --abort`, then run {verb} again")  # fmt: skip
    if marker is not None and marker.in_progress:
        raise UserError(f"{verb}: a restore of cluster {cluster} to backup {marker.backup} is in progress (begun "
                        f"{marker.started}); finish it with `kubegce restore etcd {cluster} --backup {marker.backup} "
                        f"--yes` or give it up with `kubegce restore etcd {cluster} --abort`, then run {verb} again")  # fmt: skip


def read_backup(store: StateStore, cluster: str, backup_id: str) -> Manifest | None:
    """The backup ``backup_id`` (its manifest), or None when the store has no manifest under that id.
    ManifestError when the manifest is not this cluster's or is malformed."""
    got = store.read(backup_key(cluster, backup_id, BACKUP_MANIFEST))
    if got is None:
        return None
    return parse_manifest(got.data, key_id=backup_id, cluster=cluster)


def verified_snapshot(store: StateStore, cluster: str, backup: Manifest) -> bytes:
    """The backup's snapshot, checked against its manifest (size and sha256); ManifestError if not."""
    import hashlib

    got = store.read(backup_key(cluster, backup.id, BACKUP_SNAPSHOT))
    if got is None:
        raise ManifestError(f"backup {backup.id} has a manifest but no snapshot.db: it was pruned or never uploaded "
                            "whole; pick another backup (`kubegce get backups`)")  # fmt: skip
    digest = hashlib.sha256(got.data).hexdigest()
    if digest != backup.sha256 or len(got.data) != backup.size:
        raise ManifestError(f"backup {backup.id}: its snapshot has sha256 {digest[:16]}... and {len(got.data)} bytes, its "
                            f"manifest says {backup.sha256[:16]}... and {backup.size} bytes: the snapshot is corrupted; "
                            "nothing was changed; pick another backup (`kubegce get backups`)")  # fmt: skip
    return got.data
