"""The emulator's state: resources and operations behind one lock, fault settings, the call log,
persistence, and the instances' metadata servers."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import random
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubegce.cloud.names import url_tail
from kubegce.emulator.bootsim import BootSimulator
from kubegce.emulator.compute.errors import ApiError, not_found
from kubegce.emulator.metadata import InstanceIdentity, MetadataServer, MetadataStore
from kubegce.emulator.pace import QuotaSpec, WindowQuota

BASE = "https://compute.googleapis.com/compute/v1/"
Key = tuple[str, str, str, str]  # (project, scope path, collection, name)


@dataclass
class FaultConfig:
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    # (method name, Nth call, HTTP code): fail exactly that call
    fail_calls: list[tuple[str, int, int]] = field(default_factory=list)
    seed: int | None = None
    operation_ms: float = 0.0  # how long a mutating operation stays RUNNING before DONE
    write_quota: QuotaSpec | None = None  # mutating calls per fixed window (403 rateLimitExceeded over it)
    read_quota: QuotaSpec | None = None
    strict: bool = True  # check bodies and query parameters against the discovery document, prune answers


@dataclass
class CallLog:
    counts: dict[str, int] = field(default_factory=dict)
    reads: int = 0
    mutations: int = 0
    failures_injected: int = 0
    throttled: int = 0  # calls refused for a rate quota
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, method_name: str, *, mutating: bool) -> int:
        """Count a call; returns how many calls of this method there were (fault injection's Nth)."""
        n = self.counts.get(method_name, 0) + 1
        self.counts[method_name] = n
        if mutating:
            self.mutations += 1
        else:
            self.reads += 1
        return n

    def reset(self) -> None:
        self.counts.clear()
        self.reads = self.mutations = self.failures_injected = self.throttled = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "reads": self.reads,
            "mutations": self.mutations,
            "failuresInjected": self.failures_injected,
            "throttled": self.throttled,
        }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())


def parse_ref(url: str) -> tuple[str, str, str, str] | None:
    """(project, scope_path, collection, name) of a resource URL."""
    m = re.fullmatch(r"projects/([^/\s]+)/(global|regions/[^/\s]+|zones/[^/\s]+)/([A-Za-z]+)/([^/\s]+)", url_tail(url))
    return (m.group(1), m.group(2), m.group(3), m.group(4)) if m else None


class ComputeState:
    """All resources and operations, guarded by one lock."""

    def __init__(
        self,
        faults: FaultConfig | None = None,
        boot_seconds: float = 4.0,
        boot_outcome: str = "joined",
        serve_metadata: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.save_lock = threading.Lock()  # --state-file saves, one at a time
        self.faults = faults or FaultConfig()
        self.rng = random.Random(self.faults.seed)
        self.resources: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.operations: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.ids = itertools.count(1000000000000000000 + random.Random(7).randrange(10**15))
        self.calls = CallLog()
        self.write_quota = WindowQuota(self.faults.write_quota) if self.faults.write_quota else None
        self.read_quota = WindowQuota(self.faults.read_quota) if self.faults.read_quota else None
        self.boot = BootSimulator(boot_seconds, boot_outcome)
        # zone -> the GPU models it offers, where set (POST /_emulator/accelerators); else every model
        self.accelerators: dict[str, list[str]] = {}
        # members a MIG creates again later (a preempted Spot VM waiting for capacity: emulator/spot.py)
        self.repairs: list[dict[str, Any]] = []
        # with serve_metadata, every instance gets a metadata server on 127.0.0.1 (the boot lab's)
        self.serve_metadata = serve_metadata
        self.metadata_servers: dict[str, MetadataServer] = {}

    # ------------------------------------------------------------------ instance metadata servers
    def start_metadata_server(self, project: str, zone: str, instance: dict[str, Any]) -> None:
        if not self.serve_metadata:
            return
        items = {i["key"]: str(i.get("value", "")) for i in instance.get("metadata", {}).get("items", [])}
        nics = instance.get("networkInterfaces") or [{}]
        identity = InstanceIdentity(name=instance["name"], instance_id=instance["id"], zone=zone,
                                    **({"ip": nics[0]["networkIP"]} if nics[0].get("networkIP") else {}))  # fmt: skip
        server = MetadataServer(MetadataStore(identity, attributes=items)).start()
        self.metadata_servers[instance["selfLink"]] = server

    def remove_instance(self, key: tuple[str, str, str, str], *, keep_disks: frozenset[str] | set[str] = frozenset()
                        ) -> None:  # fmt: skip
        """Delete an instance with its auto-delete disks (not those in ``keep_disks``, by URL tail)."""
        instance = self.resources.pop(key)
        for d in instance.get("disks", []):
            ref = parse_ref(d.get("source", ""))
            if ref and d.get("autoDelete", True) and url_tail(d["source"]) not in keep_disks:
                self.resources.pop(ref, None)
        server = self.metadata_servers.pop(instance["selfLink"], None)
        if server is not None:
            server.stop()

    def written_guest_attributes(self, instance: dict[str, Any], namespace: str) -> dict[str, str]:
        """What software on the 'instance' PUT to its metadata server."""
        server = self.metadata_servers.get(instance["selfLink"])
        if server is None:
            return {}
        with server.store.lock:
            return dict(server.store.guest_attributes.get(namespace, {}))

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        """Write the state atomically: one save at a time (the newest snapshot wins), each through
        its own temp file in the same directory, then os.replace."""
        with self.save_lock:
            with self.lock:
                text = json.dumps({
                    "resources": [[list(k), v] for k, v in self.resources.items()],
                    "operations": [[list(k), v] for k, v in self.operations.items()],
                    "accelerators": self.accelerators,
                })  # fmt: skip
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        with self.lock:
            self.resources = {tuple(k): v for k, v in data["resources"]}
            self.operations = {tuple(k): v for k, v in data["operations"]}
            self.accelerators = dict(data.get("accelerators", {}))

    # ------------------------------------------------------------------ helpers
    def next_id(self) -> str:
        return str(next(self.ids))

    def self_link(self, project: str, scope_path: str, collection: str, name: str) -> str:
        return f"{BASE}projects/{project}/{scope_path}/{collection}/{name}"

    def get(self, project: str, scope_path: str, collection: str, name: str) -> dict[str, Any]:
        res = self.resources.get((project, scope_path, collection, name))
        if res is None:
            raise not_found(f"projects/{project}/{scope_path}/{collection}/{name}")
        return res

    def stamp(self, project: str, scope_path: str, collection: str, res: dict[str, Any], *, kind: str,
              labelled: bool) -> None:  # fmt: skip
        """What GCE adds to a resource it creates: kind, id, time, links, fingerprints."""
        res["kind"] = kind
        res["id"] = self.next_id()
        res["creationTimestamp"] = now()
        res["selfLink"] = self.self_link(project, scope_path, collection, res["name"])
        if scope_path.startswith("regions/"):
            res["region"] = f"{BASE}projects/{project}/{scope_path}"
        if scope_path.startswith("zones/"):
            res["zone"] = f"{BASE}projects/{project}/{scope_path}"
        for ref_field in ("network", "subnetwork", "instanceTemplate", "target", "IPAddress"):
            if isinstance(res.get(ref_field), str) and res[ref_field].startswith("projects/"):
                res[ref_field] = BASE + res[ref_field]
        if "labels" in res or labelled:
            res.setdefault("labels", {})
            res["labelFingerprint"] = fingerprint(res["labels"])
        res["fingerprint"] = fingerprint({k: v for k, v in res.items() if k != "fingerprint"})

    def require(self, url: str, field_name: str) -> None:
        ref = parse_ref(url)
        if ref is None:
            raise ApiError(400, "invalid", f"Invalid value for field '{field_name}': '{url}'.")
        if ref not in self.resources:
            raise ApiError(404, "notFound", f"The resource '{url_tail(url)}' was not found")

    def users_of(self, url: str) -> list[str]:
        """Self links of resources that reference this one (for resourceInUseByAnotherResource)."""
        target = url_tail(url)
        users = []
        for key, res in self.resources.items():
            if key[2] in ("images",):
                continue
            if key[2] == "instances":  # the template it came from (metadata, _template) blocks nothing
                res = {k: v for k, v in res.items() if k != "metadata" and not k.startswith("_")}
            if target in references(res):
                users.append(res["selfLink"])
        return users

    # ------------------------------------------------------------------ operations
    def new_operation(
        self, project: str, scope_path: str, op_type: str, target: str, target_id: str, error: ApiError | None = None
    ) -> dict[str, Any]:
        name = f"operation-{int(time.time() * 1000)}-{self.next_id()[-8:]}"
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.next_id(),
            "name": name,
            "operationType": op_type,
            "targetLink": target,
            "targetId": target_id,
            "status": "RUNNING",
            "user": "emulator@kubegce.local",
            "progress": 0,
            "insertTime": now(),
            "selfLink": f"{BASE}projects/{project}/{scope_path}/operations/{name}",
            "_created": time.monotonic(),
        }
        if scope_path.startswith("zones/"):
            op["zone"] = f"{BASE}projects/{project}/{scope_path}"
        elif scope_path.startswith("regions/"):
            op["region"] = f"{BASE}projects/{project}/{scope_path}"
        if error is not None:
            op["_error"] = error.body()["error"]
        self.operations[(project, scope_path, name)] = op
        return self.view_operation(op)

    def view_operation(self, op: dict[str, Any]) -> dict[str, Any]:
        elapsed = (time.monotonic() - op["_created"]) * 1000
        span = self.faults.operation_ms
        out = {k: v for k, v in op.items() if not k.startswith("_")}
        if span <= 0 or elapsed >= span:
            out.update(status="DONE", progress=100, startTime=op["insertTime"], endTime=now())
            if "_error" in op:
                err = op["_error"]
                out["error"] = {
                    "errors": [{"code": e["reason"].upper(), "message": e["message"]} for e in err["errors"]]
                }
                out["httpErrorStatusCode"] = err["code"]
                out["httpErrorMessage"] = err["message"]
        else:
            out.update(status="RUNNING", progress=int(100 * elapsed / span), startTime=op["insertTime"])
        return out

    def quota_report(self) -> dict[str, Any]:
        """Per-window counts of the rate quotas (the admin API's GET /_emulator/quota)."""
        out: dict[str, Any] = {}
        for name, quota in (("write", self.write_quota), ("read", self.read_quota)):
            if quota is not None:
                out[name] = {"quota": str(quota.spec), "calls": quota.spec.calls, "windowS": quota.spec.window_s,
                             "windows": quota.report()}  # fmt: skip
        return out

    def wait_operation(self, project: str, scope_path: str, name: str, limit_s: float = 120.0) -> dict[str, Any]:
        op = self.operations.get((project, scope_path, name))
        if op is None:
            raise ApiError(
                404, "notFound", f"The resource 'projects/{project}/{scope_path}/operations/{name}' was not found"
            )
        # a long poll: sleep until the operation is done or the wait's own timeout, whichever is first
        deadline = time.monotonic() + limit_s
        while True:
            view = self.view_operation(op)
            now_s = time.monotonic()
            if view["status"] == "DONE" or now_s >= deadline:
                return view
            done_at = op["_created"] + self.faults.operation_ms / 1000.0
            time.sleep(max(0.001, min(done_at, deadline) - now_s))


def references(obj: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(obj, str):
        if "/projects/" in obj or obj.startswith("projects/"):
            out.add(url_tail(obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("selfLink", "zone", "region", "kind", "id", "creationTimestamp", "sourceImage", "machineType"):
                continue
            out |= references(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= references(v)
    return out


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
