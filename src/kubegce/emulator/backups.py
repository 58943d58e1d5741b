"""The simulated control planes' etcd backups and restores: a model of lib/backup.sh and
lib/restore.sh for the emulator, whose instances run no bootstrap.

It works with the URLs a control plane's node config holds: the config is the object in the state
bucket its metadata names (KUBEGCE_CONFIG_SOURCE), fetched over HTTP only from a local
fake-gcs-server (127.0.0.1/localhost; nothing else is ever fetched), its sha256 checked against
the metadata's, its settings parsed (shlex) as the bootstrap's `source` would read them.

- The backup job: the first joined control plane (by name) with backups on stands for the etcd
  leader. When a backup was asked for (the request object), when there is none, or when the newest
  is older than the interval (``interval_s`` shortens it for tests), it uploads a snapshot and then
  its manifest (the manifest last, as the job does), deletes the request it answered and prunes
  by the same retention rule (kubegce.backups.retention).
- The restore: when a control plane joins with a fresh etcd disk while the restore marker says
  ``restoring`` (unexpired, not naming this instance), the round's control planes elect a leader
  by the create-only write of the round's leader object, as lib/election.sh does; the leader
  downloads the snapshot, checks its sha256 against the marker, and the simulated Kubernetes API's
  objects become the snapshot's. A failed restore fails that control plane's boot.

What a snapshot holds: the simulated API's objects. Its bytes in the store are a JSON summary
(namespaces, nodes, revision) with a nonce; the objects themselves stay in this process under the
bytes' sha256, so a snapshot restores only in the emulator process that took it (a restore of any
other snapshot fails as a real one with a bad snapshot would). Said in docs/emulator.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from kubegce.backups.manifest import ID_RE, id_time
from kubegce.backups.retention import Retention, kept
from kubegce.boot import protocol
from kubegce.emulator.bootsim import _mime_bootstrap, parse_settings
from kubegce.emulator.kube import KubeState

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CONFIG_SOURCE = re.compile(r"^KUBEGCE_CONFIG_SOURCE=(\S+)$", re.M)
CONFIG_SHA256 = re.compile(r"^KUBEGCE_CONFIG_SHA256=(\S+)$", re.M)


def _local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in LOCAL_HOSTS


def _http(method: str, url: str, data: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    if not _local(url):
        return 0, b""
    req = urllib.request.Request(url, data=data, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (local URLs only)
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except OSError:
        return 0, b""


def node_config(instance: dict[str, Any], cache: dict[str, dict[str, str]]) -> dict[str, str]:
    """The settings of the node config an instance's metadata points at ({} when it is not in a
    local bucket or does not match its hash)."""
    md = {i["key"]: i.get("value", "") for i in instance.get("metadata", {}).get("items", [])}
    script = md.get("startup-script", "") or _mime_bootstrap(md.get("user-data", "")) or ""
    source, want = CONFIG_SOURCE.search(script), CONFIG_SHA256.search(script)
    if source is None or want is None:
        return {}
    url, sha = source.group(1).strip("'"), want.group(1).strip("'")
    if sha in cache:
        return cache[sha]
    status, body = _http("GET", url)
    if status != 200 or hashlib.sha256(body).hexdigest() != sha:
        return {}
    settings = parse_settings(body.decode(errors="replace"))
    cache[sha] = settings
    return settings


class SimulatedEtcd:
    def __init__(self, kube: KubeState, *, interval_s: float | None = None) -> None:
        self.kube = kube
        self.interval_s = interval_s  # tests: back up this often (a real spec's interval is at least 1m)
        self.configs: dict[str, dict[str, str]] = {}
        self.snapshots: dict[str, Any] = {}  # sha256 of a snapshot's bytes -> the objects it holds
        self.restored: set[str] = set()  # restore rounds (tokens) done
        self.backups_taken = 0
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ the backup job
    def backup_tick(self, control_planes: list[dict[str, Any]]) -> None:
        """One run of the backup job on the leader among ``control_planes`` (joined ones)."""
        for inst in sorted(control_planes, key=lambda r: str(r["name"])):
            cfg = node_config(inst, self.configs)
            if cfg.get("KUBEGCE_BACKUP_ENABLED") == "1":
                with self.lock:
                    self._run_job(inst, cfg)
                return

    def _ids(self, cfg: dict[str, str]) -> list[str]:
        status, body = _http("GET", cfg["KUBEGCE_BACKUP_LIST_URL"])
        if status != 200:
            return []
        names = [str(i.get("name", "")) for i in json.loads(body or b"{}").get("items", [])]
        ids = {m.group(1) for n in names if (m := re.search(rf"/({ID_RE.pattern})/manifest\.json$", n))}
        return sorted(ids, reverse=True)

    def _run_job(self, inst: dict[str, Any], cfg: dict[str, str]) -> None:
        status, body = _http("GET", cfg["KUBEGCE_BACKUP_REQUEST_URL"])
        request = re.sub(r"[^a-z0-9]", "", body.decode(errors="replace"))[:32] if status == 200 else ""
        ids = self._ids(cfg)
        interval = float(cfg.get("KUBEGCE_BACKUP_INTERVAL", "900"))
        if self.interval_s is not None:
            interval = min(interval, self.interval_s)
        newest_age = (time.time() - id_time(ids[0]).timestamp()) if ids else None
        if request or newest_age is None or newest_age >= interval:
            self._take(inst, cfg, request, ids)
            if request:
                _http("DELETE", cfg["KUBEGCE_BACKUP_REQUEST_OBJECT_URL"])
        self._prune(cfg)

    def _take(self, inst: dict[str, Any], cfg: dict[str, str], request: str, ids: list[str]) -> None:
        now = datetime.now(UTC)
        member = str(inst["name"])
        backup_id = f"{now:%Y%m%dT%H%M%SZ}-{member}"
        if backup_id in ids:  # one per second and member, as the job's ids are
            return
        objects = self.kube.export_objects()
        namespaces = [str(n["metadata"]["name"]) for n in self.kube.list_namespaces()["items"]]
        summary = {"simulated": "kubegce emulator etcd snapshot", "nonce": secrets.token_hex(8),
                   "namespaces": namespaces, "nodes": sorted(self.kube.snapshot().nodes), "revision": int(objects[-1])}  # fmt: skip
        data = json.dumps(summary).encode()
        sha = hashlib.sha256(data).hexdigest()
        self.snapshots[sha] = objects
        upload = cfg["KUBEGCE_BACKUP_UPLOAD_URL"]
        if _http("POST", f"{upload}{backup_id}%2Fsnapshot.db", data, "application/octet-stream")[0] != 200:
            return
        manifest = {"id": backup_id, "cluster": cfg.get("KUBEGCE_CLUSTER_NAME", ""),
                    "time": f"{now:%Y-%m-%dT%H:%M:%SZ}", "member": member, "revision": summary["revision"],
                    "etcdVersion": "3.6.4", "kubernetesVersion": cfg.get("KUBEGCE_KUBERNETES_VERSION", ""),
                    "size": len(data), "sha256": sha, "request": request}  # fmt: skip
        _http("POST", f"{upload}{backup_id}%2Fmanifest.json", json.dumps(manifest).encode(), "application/json")
        self.backups_taken += 1

    def _prune(self, cfg: dict[str, str]) -> None:
        # lib/backup.sh's restoring_backup: never the backup a restore in progress uses, and nothing
        # while the restore marker cannot be read
        using = ""
        if cfg.get("KUBEGCE_RESTORE_URL"):
            status, body = _http("GET", cfg["KUBEGCE_RESTORE_URL"])
            if status not in (200, 404):
                return
            if status == 200:
                m = re.search(r'"state": *"restoring"', body.decode(errors="replace"))
                b = re.search(rf'"backup": *"({ID_RE.pattern})"', body.decode(errors="replace"))
                using = b.group(1) if m and b else ""
        ids = [i for i in self._ids(cfg) if i != using]
        rule = Retention(int(cfg.get("KUBEGCE_BACKUP_KEEP_ALL", "3600")), int(cfg.get("KUBEGCE_BACKUP_KEEP_HOURLY", "0")),
                         int(cfg.get("KUBEGCE_BACKUP_KEEP_DAILY", "0")))  # fmt: skip
        keep = kept([(i, id_time(i)) for i in ids], datetime.now(UTC), rule)
        obj = cfg["KUBEGCE_BACKUP_OBJECT_URL"]
        for i in ids:
            if i not in keep:
                _http("DELETE", f"{obj}{i}%2Fmanifest.json")  # the manifest first, as the job does
                _http("DELETE", f"{obj}{i}%2Fsnapshot.db")

    # ------------------------------------------------------------------ the restore
    def control_plane_joined(self, inst: dict[str, Any], instances: dict[str, dict[str, Any]]) -> tuple[str, str]:
        """A control plane joins with no etcd member: lib/restore.sh's decision, modelled. While the
        restore marker says ``restoring``, has not expired and does not name this instance, the
        round's control planes elect a leader with the same create-only write of the round's leader
        object; the leader restores the snapshot into the simulated API (once per round). Returns
        ("leader" | "member" | "", "") or ("failed", the boot's error): a marker that is not
        kubegce's, old control planes still running (their API would answer), a bad snapshot."""
        from kubegce.state.backups import parse_restore_marker
        from kubegce.state.base import Versioned

        cfg = node_config(inst, self.configs)
        url = cfg.get("KUBEGCE_RESTORE_URL", "")
        if not url:
            return "", ""
        status, body = _http("GET", url)
        if status == 404:
            return "", ""
        # lib/restore.sh's order: the state, the whole marker, its expiry, this instance's part,
        # the election, then (the leader only) the old API's check
        if status == 200 and re.search(rb'"state": *"(complete|aborted)"', body):
            return "", ""
        marker = parse_restore_marker(Versioned(body, 0, "", "")) if status == 200 else None
        if marker is None:
            return "failed", "the restore marker could not be read whole or is not one kubegce wrote"
        if not marker.in_progress:
            return "", ""
        if marker.expires <= time.time():
            return "failed", f"{protocol.ETCD_RESTORE}: a restore of backup {marker.backup} is marked but expired"
        if str(inst.get("id", "")) in marker.replace:
            return "", ""
        me = str(inst["name"])
        holder = self._claim(cfg, marker.token, me)
        if holder is None:
            return "failed", "election: could not write or read the round's leader object"
        if holder != me:
            return "member", ""
        still = sorted(n for n, r in instances.items() if str(r.get("id", "")) in marker.replace)
        if still and marker.token not in self.restored:
            return "failed", (f"{protocol.ETCD_RESTORE}: the cluster API answers while the restore of backup "
                              f"{marker.backup} is marked: the old control planes still run ({', '.join(still)})")  # fmt: skip
        with self.lock:
            if marker.token in self.restored:
                return "leader", ""
            status, data = _http("GET", f"{cfg['KUBEGCE_RESTORE_SNAPSHOT_URL']}{marker.backup}%2Fsnapshot.db?alt=media")
            sha = hashlib.sha256(data).hexdigest()
            if status != 200 or sha != marker.sha256:
                return "failed", (f"{protocol.RESTORE_CHECKSUM_MISMATCH}: the snapshot of backup {marker.backup} has "
                                  f"sha256 {sha}, the restore marker says {marker.sha256}")  # fmt: skip
            if sha not in self.snapshots:
                return "failed", f"{protocol.ETCD_RESTORE}: backup {marker.backup} was not taken by this emulator"
            self.kube.import_objects(self.snapshots[sha])
            self.restored.add(marker.token)
            return "leader", ""

    @staticmethod
    def _claim(cfg: dict[str, str], token: str, me: str) -> str | None:
        """lib/election.sh's claim_object: the holder of the round's leader object (None: no answer)."""
        upload = cfg.get("KUBEGCE_RESTORE_ELECTION_UPLOAD_URL", "").replace("RESTORETOKEN", token)
        read = cfg.get("KUBEGCE_RESTORE_ELECTION_URL", "").replace("RESTORETOKEN", token)
        body = (b"--kubegce\r\nContent-Type: application/json\r\n\r\n{}\r\n--kubegce\r\nContent-Type: text/plain"
                b"\r\n\r\n" + me.encode() + b"\r\n--kubegce--\r\n")  # fmt: skip
        status, _ = _http("POST", upload, body, "multipart/related; boundary=kubegce")
        if status == 200:
            return me
        if status == 412:
            status, got = _http("GET", read)
            if status == 200 and got.strip():
                return got.decode(errors="replace").strip()
        return None
