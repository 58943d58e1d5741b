"""The manifest beside each etcd snapshot, and the backup ids.

A backup is two objects under ``CLUSTER/secrets/backups/etcd/ID/``: ``snapshot.db`` (what
``etcdctl snapshot save`` wrote) and ``manifest.json``, written after the snapshot's upload is
complete; a backup without its manifest (a partial upload, a killed job) is never listed. The id
is the snapshot's UTC time and the member that took it, so ids sort by time:
``20261206T131500Z-cp-a-1x2y``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ID_RE = re.compile(r"(?P<time>[0-9]{8}T[0-9]{6}Z)-(?P<member>[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
VERSION_RE = re.compile(r"v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?:[-+][0-9A-Za-z.-]{1,40})?")
MANIFEST_FIELDS = ("id", "cluster", "time", "member", "revision", "etcdVersion", "kubernetesVersion", "size",
                   "sha256")  # fmt: skip
MAX_MANIFEST_BYTES = 4096


class ManifestError(ValueError):
    """A manifest that is not one a backup job writes (unreadable, a field missing or malformed)."""


def id_time(backup_id: str) -> datetime:
    m = ID_RE.fullmatch(backup_id)
    if m is None:
        raise ManifestError(f"{backup_id[:80]!r} is not a backup id (TIME-MEMBER, e.g. 20261206T131500Z-cp-a-1x2y)")
    return datetime.strptime(m.group("time"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def is_backup_id(text: str) -> bool:
    try:
        id_time(text)
    except (ManifestError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Manifest:
    id: str
    cluster: str
    time: datetime
    member: str
    revision: int
    etcd_version: str
    kubernetes_version: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cluster": self.cluster, "time": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "member": self.member, "revision": self.revision, "etcdVersion": self.etcd_version,
                "kubernetesVersion": self.kubernetes_version, "size": self.size, "sha256": self.sha256}  # fmt: skip

    def to_json(self) -> bytes:
        return (json.dumps(self.as_dict(), indent=2) + "\n").encode()


def parse_manifest(data: bytes, *, key_id: str, cluster: str) -> Manifest:
    """A manifest read from the store under ``key_id``: every field present and well formed, its
    id the one its key names, its cluster the one it is stored under (a manifest copied from
    another cluster is refused, not listed)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest of {key_id} is {len(data)} bytes (at most {MAX_MANIFEST_BYTES})")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"manifest of {key_id} is not JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"manifest of {key_id} is not a JSON object")
    missing = [f for f in MANIFEST_FIELDS if f not in doc]
    if missing:
        raise ManifestError(f"manifest of {key_id} lacks {', '.join(missing)}")

    def text(field: str, pattern: re.Pattern[str]) -> str:
        value = doc[field]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ManifestError(f"manifest of {key_id}: {field} is malformed")
        return value

    def number(field: str) -> int:
        value = doc[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**63:
            raise ManifestError(f"manifest of {key_id}: {field} is not a whole number")
        return value

    ident = text("id", ID_RE)
    if ident != key_id:
        raise ManifestError(f"manifest of {key_id} names another backup ({ident})")
    if doc["cluster"] != cluster:
        raise ManifestError(f"manifest of {key_id} is of another cluster")
    try:
        when = datetime.strptime(str(doc["time"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ManifestError(f"manifest of {key_id}: time is not RFC 3339 UTC (2026-12-06T13:15:00Z)") from None
    if when != id_time(ident):
        raise ManifestError(f"manifest of {key_id}: time differs from its id")
    member = ID_RE.fullmatch(ident)
    assert member is not None
    if doc["member"] != member.group("member"):
        raise ManifestError(f"manifest of {key_id}: member differs from its id")
    return Manifest(id=ident, cluster=cluster, time=when, member=member.group("member"), revision=number("revision"),
                    etcd_version=text("etcdVersion", VERSION_RE), kubernetes_version=text("kubernetesVersion", VERSION_RE),
                    size=number("size"), sha256=text("sha256", SHA256_RE))  # fmt: skip
