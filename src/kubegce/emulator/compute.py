"""A local Compute Engine: the REST subset kubegce uses, well enough for `google-cloud-compute`.

Served on 127.0.0.1 only. State lives in memory (optionally saved to a JSON file). What it does
not emulate is listed in docs/emulator.md: there are no VMs, networks or IAM; instances "boot"
by a simulation that writes the serial console lines and guest attributes the real guest
software and the kubegce bootstrap would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubegce.emulator.bootsim import BootSimulator
from kubegce.emulator.filters import FilterError, compile_filter
from kubegce.emulator.metadata import InstanceIdentity, MetadataServer, MetadataStore

BASE = "https://compute.googleapis.com/compute/v1/"
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

# collection -> (scope kind, resource kind)
COLLECTIONS: dict[str, tuple[str, str]] = {
    "networks": ("global", "compute#network"),
    "firewalls": ("global", "compute#firewall"),
    "instanceTemplates": ("global", "compute#instanceTemplate"),
    "images": ("global", "compute#image"),
    "subnetworks": ("regions", "compute#subnetwork"),
    "routers": ("regions", "compute#router"),
    "addresses": ("regions", "compute#address"),
    "targetPools": ("regions", "compute#targetPool"),
    "forwardingRules": ("regions", "compute#forwardingRule"),
    "instanceGroupManagers": ("zones", "compute#instanceGroupManager"),
    "instances": ("zones", "compute#instance"),
}
MUTATING_VERBS = {"POST", "DELETE", "PATCH", "PUT"}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            }
        }


@dataclass
class FaultConfig:
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    # (method name, Nth call, HTTP code): fail exactly that call
    fail_calls: list[tuple[str, int, int]] = field(default_factory=list)
    seed: int | None = None
    operation_ms: float = 0.0  # how long an operation stays PENDING/RUNNING


@dataclass
class CallLog:
    counts: dict[str, int] = field(default_factory=dict)
    reads: int = 0
    mutations: int = 0
    failures_injected: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "reads": self.reads,
            "mutations": self.mutations,
            "failuresInjected": self.failures_injected,
        }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())


def _scope_path(scope_kind: str, scope: str) -> str:
    return "global" if scope_kind == "global" else f"{scope_kind}/{scope}"


def tail(url: str) -> str:
    """`projects/...` part of a full or partial resource URL."""
    if "/projects/" in url:
        return "projects/" + url.split("/projects/", 1)[1]
    return url


def parse_ref(url: str) -> tuple[str, str, str, str] | None:
    """(project, scope_path, collection, name) of a resource URL."""
    m = re.match(r"^projects/([^/]+)/(global|regions/[^/]+|zones/[^/]+)/([A-Za-z]+)/([^/]+)$", tail(url))
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
        self.faults = faults or FaultConfig()
        self.rng = random.Random(self.faults.seed)
        self.resources: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.operations: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.ids = itertools.count(1000000000000000000 + random.Random(7).randrange(10**15))
        self.calls = CallLog()
        self.method_counts: dict[str, int] = {}
        self.boot = BootSimulator(boot_seconds, boot_outcome)
        # with serve_metadata, every instance gets a metadata server on 127.0.0.1 (the boot lab's)
        self.serve_metadata = serve_metadata
        self.metadata_servers: dict[str, MetadataServer] = {}

    # ------------------------------------------------------------------ instance metadata servers
    def start_metadata_server(self, project: str, zone: str, instance: dict[str, Any]) -> None:
        if not self.serve_metadata:
            return
        items = {i["key"]: str(i.get("value", "")) for i in instance.get("metadata", {}).get("items", [])}
        identity = InstanceIdentity(name=instance["name"], instance_id=instance["id"], zone=zone)
        server = MetadataServer(MetadataStore(identity, attributes=items)).start()
        self.metadata_servers[instance["selfLink"]] = server

    def remove_instance(self, key: tuple[str, str, str, str]) -> None:
        instance = self.resources.pop(key)
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
        with self.lock:
            data = {
                "resources": [[list(k), v] for k, v in self.resources.items()],
                "operations": [[list(k), v] for k, v in self.operations.items()],
            }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        with self.lock:
            self.resources = {tuple(k): v for k, v in data["resources"]}
            self.operations = {tuple(k): v for k, v in data["operations"]}

    # ------------------------------------------------------------------ helpers
    def next_id(self) -> str:
        return str(next(self.ids))

    def self_link(self, project: str, scope_path: str, collection: str, name: str) -> str:
        return f"{BASE}projects/{project}/{scope_path}/{collection}/{name}"

    def get(self, project: str, scope_path: str, collection: str, name: str) -> dict[str, Any]:
        res = self.resources.get((project, scope_path, collection, name))
        if res is None:
            raise ApiError(
                404, "notFound", f"The resource 'projects/{project}/{scope_path}/{collection}/{name}' was not found"
            )
        return res

    def exists(self, url: str) -> bool:
        ref = parse_ref(url)
        return ref is not None and ref in self.resources

    def require(self, url: str, field_name: str) -> None:
        ref = parse_ref(url)
        if ref is None:
            raise ApiError(400, "invalid", f"Invalid value for field '{field_name}': '{url}'.")
        if ref not in self.resources:
            raise ApiError(404, "notFound", f"The resource '{tail(url)}' was not found")

    def users_of(self, url: str) -> list[str]:
        """Self links of resources that reference this one (for resourceInUseByAnotherResource)."""
        target = tail(url)
        users = []
        for key, res in self.resources.items():
            if key[2] in ("images",):
                continue
            if target in _references(res):
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
            "status": "PENDING",
            "user": "emulator@kubegce.local",
            "progress": 0,
            "insertTime": _now(),
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
            out.update(status="DONE", progress=100, startTime=op["insertTime"], endTime=_now())
            if "_error" in op:
                err = op["_error"]
                out["error"] = {
                    "errors": [{"code": e["reason"].upper(), "message": e["message"]} for e in err["errors"]]
                }
                out["httpErrorStatusCode"] = err["code"]
                out["httpErrorMessage"] = err["message"]
        elif elapsed >= span / 2:
            out.update(status="RUNNING", progress=50, startTime=op["insertTime"])
        return out

    def wait_operation(self, project: str, scope_path: str, name: str, limit_s: float = 120.0) -> dict[str, Any]:
        op = self.operations.get((project, scope_path, name))
        if op is None:
            raise ApiError(
                404, "notFound", f"The resource 'projects/{project}/{scope_path}/operations/{name}' was not found"
            )
        deadline = time.monotonic() + limit_s
        while True:
            view = self.view_operation(op)
            if view["status"] == "DONE" or time.monotonic() >= deadline:
                return view
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))


def _references(obj: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(obj, str):
        if "/projects/" in obj or obj.startswith("projects/"):
            out.add(tail(obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("selfLink", "zone", "region", "kind", "id", "creationTimestamp", "sourceImage", "machineType"):
                continue
            out |= _references(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= _references(v)
    return out


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class ComputeApi:
    """Request handling independent of the HTTP server: (method, path, query, body) -> (status, json)."""

    def __init__(self, state: ComputeState) -> None:
        self.state = state

    # ------------------------------------------------------------------ entry
    def handle(self, method: str, raw_path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        st = self.state
        if self.state.faults.latency_ms > 0:
            time.sleep(self.state.faults.latency_ms / 1000.0)
        m = re.match(r"^/compute/v1/projects/([^/]+)/(.*)$", path)
        if not m:
            return 404, ApiError(404, "notFound", f"unknown path {path}").body()
        project, rest = m.group(1), m.group(2)
        method_name = self._method_name(method, rest)
        with st.lock:
            n = st.method_counts.get(method_name, 0) + 1
            st.method_counts[method_name] = n
            st.calls.counts[method_name] = st.calls.counts.get(method_name, 0) + 1
            mutating = method in MUTATING_VERBS and not method_name.endswith((".wait", ".listManagedInstances"))
            if mutating:
                st.calls.mutations += 1
            else:
                st.calls.reads += 1
            injected = self._injected_failure(method_name, n)
        if injected is not None:
            with st.lock:
                st.calls.failures_injected += 1
            return injected.code, injected.body()
        try:
            with st.lock:
                if method_name.endswith(".wait"):
                    pass  # handled below without holding the lock
                else:
                    return 200, self._dispatch(method, project, rest, query, body or {})
            return 200, self._wait(project, rest)
        except ApiError as err:
            return err.code, err.body()

    def _method_name(self, method: str, rest: str) -> str:
        segs = rest.split("/")
        if segs[0] == "aggregated":
            return f"{segs[1]}.aggregatedList"
        segs = segs[1:] if segs[0] == "global" else segs[2:]
        if not segs:
            return "unknown"
        collection = segs[0]
        if len(segs) == 1:
            return f"{collection}.{'list' if method == 'GET' else 'insert'}"
        if collection == "images" and segs[1] == "family":
            return "images.getFromFamily"
        if len(segs) == 2:
            return f"{collection}.{ {'GET': 'get', 'DELETE': 'delete', 'PATCH': 'patch', 'PUT': 'update'}.get(method, method) }"
        return f"{collection}.{segs[2]}"

    def _injected_failure(self, method_name: str, n: int) -> ApiError | None:
        f = self.state.faults
        for name, nth, code in f.fail_calls:
            if name == method_name and nth == n:
                return _fault(code)
        if f.fail_rate > 0 and not method_name.startswith("operations") and self.state.rng.random() < f.fail_rate:
            return _fault(self.state.rng.choice([429, 503]))
        return None

    # ------------------------------------------------------------------ dispatch
    def _wait(self, project: str, rest: str) -> dict[str, Any]:
        segs = rest.split("/")
        scope_path = "global" if segs[0] == "global" else f"{segs[0]}/{segs[1]}"
        name = segs[-2]
        return self.state.wait_operation(project, scope_path, name)

    def _dispatch(
        self, method: str, project: str, rest: str, query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        segs = rest.split("/")
        if segs[0] == "aggregated":
            return self._aggregated(project, segs[1], query)
        if segs[0] == "global":
            scope_path, segs = "global", segs[1:]
        elif segs[0] in ("regions", "zones") and len(segs) >= 3:
            scope_path, segs = f"{segs[0]}/{segs[1]}", segs[2:]
        else:
            raise ApiError(404, "notFound", f"unknown path {rest}")
        collection = segs[0]
        if collection == "operations":
            if len(segs) == 2 and method == "GET":
                op = self.state.operations.get((project, scope_path, segs[1]))
                if op is None:
                    raise ApiError(
                        404,
                        "notFound",
                        f"The resource 'projects/{project}/{scope_path}/operations/{segs[1]}' was not found",
                    )
                return self.state.view_operation(op)
            raise ApiError(400, "invalid", "unsupported operations call")
        if collection not in COLLECTIONS:
            raise ApiError(404, "notFound", f"collection {collection} is not emulated")
        scope_kind = COLLECTIONS[collection][0]
        if scope_kind != scope_path.split("/")[0]:
            raise ApiError(404, "notFound", f"{collection} are not {scope_path.split('/')[0]} resources")
        if collection == "images" and len(segs) == 3 and segs[1] == "family":
            return self._image_from_family(project, segs[2])
        if len(segs) == 1:
            if method == "GET":
                return self._list(project, scope_path, collection, query)
            if method == "POST":
                return self._insert(project, scope_path, collection, body, query)
        elif len(segs) == 2:
            name = segs[1]
            if method == "GET":
                if collection == "images":
                    return self._image(project, name)
                return self._view(
                    project, scope_path, collection, self.state.get(project, scope_path, collection, name)
                )
            if method == "DELETE":
                return self._delete(project, scope_path, collection, name)
            if method == "PATCH":
                return self._patch(project, scope_path, collection, name, body)
        elif len(segs) == 3:
            return self._verb(method, project, scope_path, collection, segs[1], segs[2], body, query)
        raise ApiError(400, "invalid", f"unsupported call {method} {rest}")

    # ------------------------------------------------------------------ generic CRUD
    def _view(self, project: str, scope_path: str, collection: str, res: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in res.items() if not k.startswith("_")}
        if collection == "instances":
            view["status"] = self.state.boot.status(res)
        if collection == "instanceGroupManagers":
            view["currentActions"], view["status"] = self._mig_status(project, scope_path, res)
        return view

    def _list(self, project: str, scope_path: str, collection: str, query: dict[str, str]) -> dict[str, Any]:
        items = [
            self._view(project, scope_path, collection, r)
            for (p, s, c, _), r in sorted(self.state.resources.items())
            if p == project and s == scope_path and c == collection
        ]
        return self._page(items, query, kind=COLLECTIONS[collection][1] + "List",
                          link=f"{BASE}projects/{project}/{scope_path}/{collection}")  # fmt: skip

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], *, kind: str, link: str) -> dict[str, Any]:
        try:
            match = compile_filter(query.get("filter"))
        except FilterError as exc:
            raise ApiError(400, "invalid", str(exc)) from None
        items = [i for i in items if match(i)]
        max_results = min(int(query.get("maxResults", "500") or 500), 500)
        start = int(query.get("pageToken") or 0)
        page = items[start : start + max_results]
        out: dict[str, Any] = {"kind": kind, "id": link, "items": page, "selfLink": link}
        if start + max_results < len(items):
            out["nextPageToken"] = str(start + max_results)
        return out

    def _aggregated(self, project: str, collection: str, query: dict[str, str]) -> dict[str, Any]:
        if collection not in COLLECTIONS or COLLECTIONS[collection][0] == "global":
            raise ApiError(400, "invalid", f"no aggregated list for {collection}")
        try:
            match = compile_filter(query.get("filter"))
        except FilterError as exc:
            raise ApiError(400, "invalid", str(exc)) from None
        grouped: dict[str, list[dict[str, Any]]] = {}
        for (p, s, c, _), r in sorted(self.state.resources.items()):
            if p == project and c == collection:
                view = self._view(project, s, c, r)
                if match(view):
                    grouped.setdefault(s, []).append(view)
        # pages run over scopes; a page holds whole scopes up to maxResults items
        scopes = sorted(grouped)
        start = int(query.get("pageToken") or 0)
        max_results = min(int(query.get("maxResults", "500") or 500), 500)
        items: dict[str, Any] = {}
        count = 0
        i = start
        while i < len(scopes) and (count == 0 or count + len(grouped[scopes[i]]) <= max_results):
            items[scopes[i]] = {collection: grouped[scopes[i]]}
            count += len(grouped[scopes[i]])
            i += 1
        link = f"{BASE}projects/{project}/aggregated/{collection}"
        out: dict[str, Any] = {"kind": COLLECTIONS[collection][1] + "AggregatedList", "id": link, "items": items,
                               "selfLink": link}  # fmt: skip
        if i < len(scopes):
            out["nextPageToken"] = str(i)
        return out

    def _insert(
        self, project: str, scope_path: str, collection: str, body: dict[str, Any], query: dict[str, str]
    ) -> dict[str, Any]:
        st = self.state
        name = body.get("name", "")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.name': '{name}'. Must be a match of "
                                            "regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
        key = (project, scope_path, collection, name)
        if key in st.resources:
            raise ApiError(
                409,
                "alreadyExists",
                f"The resource 'projects/{project}/{scope_path}/{collection}/{name}' already exists",
            )
        res = json.loads(json.dumps(body))
        validate = getattr(self, f"_validate_{collection}", None)
        if validate is not None:
            validate(project, scope_path, res)
        self._stamp(project, scope_path, collection, res)
        st.resources[key] = res
        if collection == "instanceGroupManagers":
            self._mig_reconcile(project, scope_path, res)
        return st.new_operation(project, scope_path, "insert", res["selfLink"], res["id"])

    def _stamp(self, project: str, scope_path: str, collection: str, res: dict[str, Any]) -> None:
        st = self.state
        res["kind"] = COLLECTIONS[collection][1]
        res["id"] = st.next_id()
        res["creationTimestamp"] = _now()
        res["selfLink"] = st.self_link(project, scope_path, collection, res["name"])
        if scope_path.startswith("regions/"):
            res["region"] = f"{BASE}projects/{project}/{scope_path}"
        if scope_path.startswith("zones/"):
            res["zone"] = f"{BASE}projects/{project}/{scope_path}"
        for ref_field in ("network", "subnetwork", "instanceTemplate", "target", "IPAddress"):
            if isinstance(res.get(ref_field), str) and res[ref_field].startswith("projects/"):
                res[ref_field] = BASE + res[ref_field]
        if "labels" in res or collection in ("addresses", "forwardingRules", "instances", "images"):
            res.setdefault("labels", {})
            res["labelFingerprint"] = fingerprint(res["labels"])
        res["fingerprint"] = fingerprint({k: v for k, v in res.items() if k != "fingerprint"})

    def _delete(self, project: str, scope_path: str, collection: str, name: str) -> dict[str, Any]:
        st = self.state
        res = st.get(project, scope_path, collection, name)
        if collection == "instanceGroupManagers":
            for key in [k for k, r in st.resources.items() if r.get("_mig") == res["selfLink"]]:
                st.remove_instance(key)
        else:
            users = st.users_of(res["selfLink"])
            if users:
                raise ApiError(
                    400,
                    "resourceInUseByAnotherResource",
                    f"The {COLLECTIONS[collection][1].split('#')[1]} resource '{tail(res['selfLink'])}' is already "
                    f"being used by '{tail(users[0])}'",
                )
        del st.resources[(project, scope_path, collection, name)]
        return st.new_operation(project, scope_path, "delete", res["selfLink"], res["id"])

    PATCHABLE = {
        "networks": {"routingConfig", "description"},
        "firewalls": {"allowed", "sourceRanges", "sourceTags", "targetTags", "priority", "description", "direction"},
        "subnetworks": {"privateIpGoogleAccess", "description"},
        "routers": {"nats", "description"},
    }

    def _patch(self, project: str, scope_path: str, collection: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        res = self.state.get(project, scope_path, collection, name)
        allowed = self.PATCHABLE.get(collection)
        if allowed is None:
            raise ApiError(400, "invalid", f"{collection} cannot be patched in the emulator")
        if collection == "subnetworks" and body.get("fingerprint") not in (None, res["fingerprint"]):
            raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match current resource fingerprint.")
        for k, v in body.items():
            if k in allowed:
                res[k] = v
        res["fingerprint"] = fingerprint({k: v for k, v in res.items() if k != "fingerprint"})
        return self.state.new_operation(project, scope_path, "patch", res["selfLink"], res["id"])

    # ------------------------------------------------------------------ validation of references
    def _validate_subnetworks(self, project: str, scope_path: str, res: dict[str, Any]) -> None:
        self.state.require(res.get("network", ""), "resource.network")
        if not res.get("ipCidrRange"):
            raise ApiError(400, "required", "Required field 'resource.ipCidrRange' not specified")

    def _validate_routers(self, project: str, scope_path: str, res: dict[str, Any]) -> None:
        self.state.require(res.get("network", ""), "resource.network")

    def _validate_firewalls(self, project: str, scope_path: str, res: dict[str, Any]) -> None:
        self.state.require(res.get("network", ""), "resource.network")
        if not res.get("allowed") and not res.get("denied"):
            raise ApiError(400, "required", "Required field 'resource.allowed' not specified")

    def _validate_instanceTemplates(self, project: str, scope_path: str, res: dict[str, Any]) -> None:  # noqa: N802
        props = res.get("properties") or {}
        if not props.get("machineType"):
            raise ApiError(400, "required", "Required field 'resource.properties.machineType' not specified")
        for nic in props.get("networkInterfaces", []):
            if nic.get("subnetwork"):
                self.state.require(nic["subnetwork"], "resource.properties.networkInterfaces[0].subnetwork")
        items = (props.get("metadata") or {}).get("items", [])
        total = 0
        for item in items:
            size = len(str(item.get("value", "")).encode())
            total += size + len(item.get("key", ""))
            if size > 256 * 1024:
                raise ApiError(400, "invalid", f"Metadata value for key '{item.get('key')}' exceeds 262144 bytes")
        if total > 512 * 1024:
            raise ApiError(400, "invalid", "Metadata total size exceeds 524288 bytes")
        (props.setdefault("metadata", {}))["fingerprint"] = fingerprint(items)

    def _validate_instanceGroupManagers(self, project: str, scope_path: str, res: dict[str, Any]) -> None:  # noqa: N802
        self.state.require(res.get("instanceTemplate", ""), "resource.instanceTemplate")
        for pool in res.get("targetPools", []):
            self.state.require(pool, "resource.targetPools")
        res["targetSize"] = int(res.get("targetSize", 0))
        res["instanceGroup"] = self.state.self_link(project, scope_path, "instanceGroups", res["name"])

    def _validate_forwardingRules(self, project: str, scope_path: str, res: dict[str, Any]) -> None:  # noqa: N802
        if res.get("target"):
            self.state.require(res["target"], "resource.target")
        if res.get("IPAddress", "").startswith(("projects/", "https://")):
            ref = parse_ref(res["IPAddress"])
            if ref is None or ref not in self.state.resources:
                raise ApiError(404, "notFound", f"The resource '{tail(res['IPAddress'])}' was not found")

    def _validate_addresses(self, project: str, scope_path: str, res: dict[str, Any]) -> None:
        n = int(self.state.next_id()) % 200 + 20
        res.setdefault("address", f"203.0.113.{n}")
        res.setdefault("status", "RESERVED")

    # ------------------------------------------------------------------ images
    def _image(self, project: str, name: str) -> dict[str, Any]:
        key = (project, "global", "images", name)
        if key in self.state.resources:
            return self._view(project, "global", "images", self.state.resources[key])
        image = self.state.boot.public_image(project, name=name)
        if image is None:
            raise ApiError(404, "notFound", f"The resource 'projects/{project}/global/images/{name}' was not found")
        return image

    def _image_from_family(self, project: str, family: str) -> dict[str, Any]:
        mine = [r for (p, _, c, _), r in self.state.resources.items() if p == project and c == "images"
                and r.get("family") == family]  # fmt: skip
        if mine:
            return self._view(project, "global", "images", sorted(mine, key=lambda r: r["creationTimestamp"])[-1])
        image = self.state.boot.public_image(project, family=family)
        if image is None:
            raise ApiError(
                404, "notFound", f"The resource 'projects/{project}/global/images/family/{family}' was not found"
            )
        return image

    # ------------------------------------------------------------------ MIGs and instances
    def _verb(
        self, method: str, project: str, scope_path: str, collection: str, name: str, verb: str,
        body: dict[str, Any], query: dict[str, str],
    ) -> dict[str, Any]:  # fmt: skip
        st = self.state
        res = st.get(project, scope_path, collection, name)
        if collection == "instanceGroupManagers":
            if verb == "resize" and method == "POST":
                size = int(query.get("size", "-1"))
                if size < 0:
                    raise ApiError(400, "required", "Required field 'size' not specified")
                res["targetSize"] = size
                self._mig_reconcile(project, scope_path, res)
                return st.new_operation(
                    project, scope_path, "compute.instanceGroupManagers.resize", res["selfLink"], res["id"]
                )
            if verb == "setInstanceTemplate" and method == "POST":
                template = body.get("instanceTemplate", "")
                st.require(template, "instanceTemplate")
                res["instanceTemplate"] = BASE + tail(template)
                return st.new_operation(project, scope_path, "compute.instanceGroupManagers.setInstanceTemplate",
                                        res["selfLink"], res["id"])  # fmt: skip
            if verb == "setTargetPools" and method == "POST":
                for pool in body.get("targetPools", []):
                    st.require(pool, "targetPools")
                res["targetPools"] = [BASE + tail(p) for p in body.get("targetPools", [])]
                return st.new_operation(project, scope_path, "compute.instanceGroupManagers.setTargetPools",
                                        res["selfLink"], res["id"])  # fmt: skip
            if verb == "listManagedInstances" and method == "POST":
                managed = [
                    {"instance": r["selfLink"], "id": r["id"], "instanceStatus": st.boot.status(r),
                     "currentAction": "NONE" if st.boot.status(r) == "RUNNING" else "CREATING"}
                    for r in st.resources.values() if r.get("_mig") == res["selfLink"]
                ]  # fmt: skip
                return {"managedInstances": managed}
        if collection == "instances":
            if verb == "serialPort" and method == "GET":
                port = int(query.get("port", "1"))
                start = int(query.get("start", "0"))
                text = st.boot.serial_output(res, self._instance_profile_source(res)) if port == 1 else ""
                data = text.encode()
                window = data[max(start, len(data) - 1024 * 1024) :]
                begin = len(data) - len(window)
                return {"kind": "compute#serialPortOutput", "contents": window.decode(errors="replace"),
                        "start": str(begin), "next": str(len(data)), "selfLink": res["selfLink"]}  # fmt: skip
            if verb == "getGuestAttributes" and method == "GET":
                query_path = query.get("queryPath", "")
                written = st.written_guest_attributes(res, query_path.split("/")[0] or "kubegce")
                if written:  # real software wrote them through the instance's metadata server
                    namespace = query_path.split("/")[0] or "kubegce"
                    items = [{"namespace": namespace, "key": k, "value": v} for k, v in sorted(written.items())]
                    return {"kind": "compute#guestAttributes", "queryPath": query_path, "queryValue": {"items": items}}
                return st.boot.guest_attributes(res, self._instance_profile_source(res), query_path)
        raise ApiError(400, "invalid", f"unsupported call {method} {collection}/{name}/{verb}")

    def _instance_profile_source(self, instance: dict[str, Any]) -> dict[str, Any] | None:
        """The image resource an instance booted (custom images are looked up for their licenses)."""
        source = instance["disks"][0]["initializeParams"]["sourceImage"] if instance.get("disks") else ""
        ref = tail(source)
        m = re.match(r"^projects/([^/]+)/global/images/(family/)?([^/]+)$", ref)
        if not m:
            return None
        try:
            if m.group(2):
                return self._image_from_family(m.group(1), m.group(3))
            return self._image(m.group(1), m.group(3))
        except ApiError:
            return None

    def _mig_status(self, project: str, scope_path: str, mig: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
        members = [r for r in self.state.resources.values() if r.get("_mig") == mig["selfLink"]]
        creating = sum(1 for r in members if self.state.boot.status(r) != "RUNNING")
        actions = {"none": len(members) - creating, "creating": creating, "deleting": 0, "recreating": 0,
                   "refreshing": 0, "restarting": 0, "abandoning": 0, "verifying": 0,
                   "creatingWithoutRetries": 0}  # fmt: skip
        stable = creating == 0 and len(members) == mig["targetSize"]
        return actions, {"isStable": stable, "versionTarget": {"isReached": True}}

    def _mig_reconcile(self, project: str, scope_path: str, mig: dict[str, Any]) -> None:
        st = self.state
        members = sorted((k for k, r in st.resources.items() if r.get("_mig") == mig["selfLink"]), key=lambda k: k[3])
        want = int(mig["targetSize"])
        for key in members[want:]:
            st.remove_instance(key)
        template_ref = parse_ref(mig["instanceTemplate"])
        template = st.resources.get(template_ref) if template_ref else None
        for i in range(len(members), want):
            suffix = hashlib.sha256(f"{mig['selfLink']}/{i}/{st.next_id()}".encode()).hexdigest()[:4]
            name = f"{mig['baseInstanceName']}-{suffix}"
            props = json.loads(json.dumps((template or {}).get("properties", {})))
            zone = scope_path.split("/")[1]
            instance: dict[str, Any] = {
                "name": name,
                "machineType": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{props.get('machineType', 'e2-medium')}",
                "disks": [
                    {
                        "boot": True,
                        "initializeParams": d.get("initializeParams", {}),
                        "source": f"{BASE}projects/{project}/zones/{zone}/disks/{name}",
                    }
                    for d in props.get("disks", [])
                ],  # fmt: skip
                "networkInterfaces": [
                    {**nic, "networkIP": f"10.0.{len(st.resources) % 250}.{(i % 250) + 2}", "name": "nic0"}
                    for nic in props.get("networkInterfaces", [])
                ],
                "metadata": props.get("metadata", {"items": []}),
                "labels": props.get("labels", {}),
                "tags": props.get("tags", {}),
                "serviceAccounts": props.get("serviceAccounts", []),
                "description": "",
                "_mig": mig["selfLink"],
                "_booted": time.time(),
            }
            self._stamp(project, scope_path, "instances", instance)
            st.resources[(project, scope_path, "instances", name)] = instance
            st.start_metadata_server(project, zone, instance)


def _fault(code: int) -> ApiError:
    if code == 429:
        return ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded (injected by kubegce emulator)")
    if code == 503:
        return ApiError(503, "backendError", "Backend Error (injected by kubegce emulator)")
    return ApiError(code, "injected", f"HTTP {code} injected by kubegce emulator")
