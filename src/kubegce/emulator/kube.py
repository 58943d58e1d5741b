"""A minimal Kubernetes API for the emulator's simulated cluster, on 127.0.0.1 only.

Enough of core/v1 and policy/v1 for the official `kubernetes` Python client to validate a cluster
and drain nodes: discovery (`/version`, `/api`, `/apis`), nodes (list, get, patch, delete), pods
(list, get, delete), the pod eviction subresource (refused with 429 when a PodDisruptionBudget
would be violated) and PodDisruptionBudgets (list, get, create, delete). Errors are Kubernetes
`Status` objects.

`KubeState` holds the cluster and is what the rest of the emulator calls (`node_joined` when a
simulated boot joins, `node_gone` when its instance is deleted). It also models the controllers a
drain relies on: a pod owned by a ReplicaSet, Deployment or ReplicationController is replaced by
a new Pending pod as soon as it is deleted, and that pod runs (Ready) on the least loaded Ready,
schedulable node whose taints it tolerates after `reschedule_delay_s`; a StatefulSet pod comes
back under its own name once the old one is gone; DaemonSet pods are on every node and stay there.
Time moves lazily: every call first applies what is due by the clock, so no thread is needed.
There is no kubelet, no real scheduler, no watch, no admission.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from kubegce.kube.selectors import SelectorError, parse_label_selector, selector_matches

KUBE_VERSION = "v1.30.4"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_COMPONENTS = ("etcd", "kube-apiserver")  # kubeadm's static pods the roll reads
REPLACED_BY_NEW_NAME = ("ReplicaSet", "Deployment", "ReplicationController")
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
PDB_BLOCKED = "Cannot evict pod as it would violate the pod's disruption budget."
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MAX_BODY = 4 * 1024 * 1024  # bytes of a request body (a Pod, an Eviction: far less)


class StatusError(Exception):
    """An answer in Kubernetes' `Status` shape."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _not_found(resource: str, name: str, group: str = "") -> StatusError:
    details = {"name": name, "kind": resource} | ({"group": group} if group else {})
    what = f"{resource}.{group}" if group else resource
    return StatusError(404, "NotFound", f'{what} "{name}" not found', details)


def _invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> StatusError:
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    what = f"{kind}.{group}" if group else kind
    details = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    } | ({"group": group} if group else {})
    return StatusError(422, "Invalid", f'{what} "{name}" is invalid: {text}', details)


def success(code: int = 200, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = details
    if code != 200:
        body["code"] = code
    return body


# ---------------------------------------------------------------------------- patches


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386. Strategic merge patches of the fields this API serves are the same thing, except
    for `$`-directives, which are dropped."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise StatusError(422, "Invalid", f"JSON patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902: add, remove, replace and test."""
    if not isinstance(ops, list):
        raise StatusError(400, "BadRequest", "a JSON patch (application/json-patch+json) must be a list of operations")
    doc = json.loads(json.dumps(doc))
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise StatusError(400, "BadRequest", f"JSON patch operation {op!r} needs 'op' and 'path'")
        kind, parts = op["op"], _pointer(str(op["path"]))
        if not parts:
            raise StatusError(422, "Invalid", "JSON patch on the whole object is not supported")
        parent: Any = doc
        for part in parts[:-1]:
            if isinstance(parent, dict) and part in parent:
                parent = parent[part]
            elif isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
                parent = parent[int(part)]
            else:
                raise StatusError(422, "Invalid", f"JSON patch path {op['path']!r}: missing {part!r}")
        last = parts[-1]
        if kind == "test":
            current = parent.get(last) if isinstance(parent, dict) else None
            if current != op.get("value"):
                raise StatusError(422, "Invalid", f"JSON patch test of {op['path']!r} failed")
        elif kind in ("add", "replace"):
            if "value" not in op:
                raise StatusError(400, "BadRequest", f"JSON patch {kind} of {op['path']!r} needs a value")
            if isinstance(parent, dict):
                if kind == "replace" and last not in parent:
                    raise StatusError(422, "Invalid", f"JSON patch replace of missing {op['path']!r}")
                parent[last] = op["value"]
            elif isinstance(parent, list):
                index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
                if not 0 <= index <= len(parent) or (kind == "replace" and index == len(parent)):
                    raise StatusError(422, "Invalid", f"JSON patch index {last!r} out of range")
                if kind == "add":
                    parent.insert(index, op["value"])
                else:
                    parent[index] = op["value"]
            else:
                raise StatusError(422, "Invalid", f"JSON patch path {op['path']!r} is not in an object or list")
        elif kind == "remove":
            if isinstance(parent, dict) and last in parent:
                del parent[last]
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                del parent[int(last)]
            else:
                raise StatusError(422, "Invalid", f"JSON patch remove of missing {op['path']!r}")
        else:
            raise StatusError(
                400, "BadRequest", f"JSON patch op {kind!r} is not supported here (add, remove, replace, test)"
            )
    return doc


# ---------------------------------------------------------------------------- selectors


FIELDS = {
    "nodes": ("metadata.name", "spec.unschedulable"),
    "pods": ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"),
    "poddisruptionbudgets": ("metadata.name", "metadata.namespace"),
}


def _field_filter(resource: str, text: str) -> Callable[[Mapping[str, str]], bool]:
    terms: list[tuple[str, str, bool]] = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        sep = "!=" if "!=" in raw else "==" if "==" in raw else "=" if "=" in raw else ""
        if not sep:
            raise StatusError(400, "BadRequest", f"invalid field selector {raw!r}: write field=value or field!=value")
        key, _, value = raw.partition(sep)
        equal = sep != "!="
        key = key.strip()
        if key not in FIELDS[resource]:
            raise StatusError(400, "BadRequest", f"field label not supported: {key}")
        terms.append((key, value.strip(), equal))
    return lambda fields: all((fields.get(k, "") == v) == eq for k, v, eq in terms)


def _label_filter(text: str) -> Callable[[Mapping[str, str]], bool]:
    try:
        return parse_label_selector(text)
    except SelectorError as exc:
        raise StatusError(400, "BadRequest", f"unable to parse requirement: {exc}") from None


# ---------------------------------------------------------------------------- the cluster


@dataclass
class _Owner:
    kind: str
    name: str
    uid: str

    @property
    def api_version(self) -> str:
        return "v1" if self.kind in ("ReplicationController", "Node") else "apps/v1"


@dataclass
class _Node:
    name: str
    uid: str
    created: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)
    unschedulable: bool = False
    ready: bool = True
    ready_changed: str = ""
    kubelet_version: str = KUBE_VERSION
    rv: int = 0
    extended: dict[str, str] = field(default_factory=dict)  # device plugins' resources (nvidia.com/gpu)


@dataclass
class _Pod:
    namespace: str
    name: str
    uid: str
    created: str
    labels: dict[str, str]
    annotations: dict[str, str]
    owner: _Owner | None
    node: str | None
    phase: str  # Pending, Running, Succeeded, Failed
    ready: bool  # the containers' own readiness (the node's is applied when read)
    schedule_at: float = 0.0  # monotonic time from which a Pending pod may be bound
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    started: str | None = None
    deletion_at: float | None = None  # monotonic time at which a terminating pod is gone
    deletion_ts: str | None = None
    grace_s: int = 30
    unschedulable_why: str = ""
    rv: int = 0


@dataclass
class _Pdb:
    namespace: str
    name: str
    uid: str
    created: str
    labels: dict[str, str]
    selector: dict[str, Any] | None
    min_available: int | str | None
    max_unavailable: int | str | None
    unhealthy_policy: str | None
    rv: int = 0


@dataclass(frozen=True)
class NodeView:
    name: str
    ready: bool
    unschedulable: bool
    labels: Mapping[str, str]
    kubelet_version: str
    taints: tuple[Mapping[str, Any], ...] = ()
    allocatable: Mapping[str, str] = field(default_factory=dict)  # the extended resources only


@dataclass(frozen=True)
class PodView:
    namespace: str
    name: str
    node: str | None
    phase: str
    ready: bool
    owner_kind: str | None
    owner_name: str | None
    terminating: bool


@dataclass(frozen=True)
class PdbView:
    namespace: str
    name: str
    expected: int
    healthy: int
    desired: int
    allowed: int


@dataclass(frozen=True)
class Eviction:
    namespace: str
    pod: str
    node: str | None


@dataclass(frozen=True)
class KubeSnapshot:
    nodes: Mapping[str, NodeView]
    pods: tuple[PodView, ...]
    pdbs: tuple[PdbView, ...]
    evictions: tuple[Eviction, ...]

    def pods_on(self, node: str) -> list[PodView]:
        return [p for p in self.pods if p.node == node]


def _int_or_percent(value: Any, where: str) -> tuple[int | str | None, str | None]:
    """(value, problem) for an intstr field: an int >= 0 or 'N%' with 0 <= N <= 100."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, f"{where}: must be an integer or a percentage like '50%'"
    if isinstance(value, int):
        return (value, None) if value >= 0 else (None, f"{where}: must be greater than or equal to 0")
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        if int(value[:-1]) > 100:
            return None, f"{where}: must not be greater than 100%"
        return value, None
    return None, f"{where}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '50%')"


def _scaled(value: int | str, total: int) -> int:
    if isinstance(value, int):
        return value
    return math.ceil(int(value[:-1]) * total / 100)


def _tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


class KubeExtension(Protocol):
    """Resources served beside this module's (emulator/kube_storage.py): each may add to a discovery
    document and answers the requests it serves (None: not its path)."""

    def discovery(self, path: str, found: dict[str, Any] | None) -> dict[str, Any] | None: ...

    def route(self, method: str, seg: list[str], query: Mapping[str, str], body: Any) -> tuple[int, Any] | None: ...


class KubeState:
    """The simulated cluster. Every method is thread-safe."""

    def __init__(
        self,
        *,
        reschedule_delay_s: float = 1.0,
        termination_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self.reschedule_delay_s = reschedule_delay_s
        self.termination_s = termination_s
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._rv = 1
        self._nodes: dict[str, _Node] = {}
        self._pods: dict[tuple[str, str], _Pod] = {}
        self._pdbs: dict[tuple[str, str], _Pdb] = {}
        self._namespaces: dict[str, tuple[str, str]] = {}  # name -> (uid, created)
        self._daemonsets: dict[tuple[str, str], tuple[_Owner, dict[str, str], list[dict[str, Any]]]] = {}
        self._owners: dict[tuple[str, str, str], _Owner] = {}
        self._evictions: list[Eviction] = []
        self.extensions: list[KubeExtension] = []
        for ns in SYSTEM_NAMESPACES:
            self._add_namespace(ns)

    # -- bookkeeping

    def _bump(self) -> int:
        self._rv += 1
        return self._rv

    def _add_namespace(self, name: str) -> None:
        if name not in self._namespaces:
            self._namespaces[name] = (str(uuid.uuid4()), _now())

    def _owner(self, namespace: str, kind: str, name: str) -> _Owner:
        key = (namespace, kind, name)
        if key not in self._owners:
            self._owners[key] = _Owner(kind, name, str(uuid.uuid4()))
        return self._owners[key]

    def _fresh_name(self, namespace: str, base: str) -> str:
        while True:
            name = f"{base}-" + "".join(self._random.choice(_NAME_CHARS) for _ in range(5))
            if (namespace, name) not in self._pods:
                return name

    def _pod_ready(self, pod: _Pod) -> bool:
        node = self._nodes.get(pod.node or "")
        return pod.phase == "Running" and pod.ready and pod.deletion_at is None and node is not None and node.ready

    def _advance(self) -> None:
        """Apply what is due: terminating pods disappear, Pending pods get a node."""
        now = self._clock()
        for key, pod in list(self._pods.items()):
            if pod.deletion_at is not None and pod.deletion_at <= now:
                del self._pods[key]
                self._after_removal(pod)
        for pod in sorted(self._pods.values(), key=lambda p: (p.schedule_at, p.namespace, p.name)):
            if pod.phase == "Pending" and pod.node is None and pod.deletion_at is None and pod.schedule_at <= now:
                self._schedule(pod)

    def _schedule(self, pod: _Pod) -> None:
        load: dict[str, int] = {n: 0 for n in self._nodes}
        for other in self._pods.values():
            if other.node in load and other.phase in ("Pending", "Running"):
                load[other.node] += 1
        fits = [
            n
            for n in self._nodes.values()
            if n.ready
            and not n.unschedulable
            and all(_tolerates(pod.tolerations, t) for t in n.taints if t.get("effect") in ("NoSchedule", "NoExecute"))
        ]
        if not fits:
            why = f"0/{len(self._nodes)} nodes are available: no node is Ready, schedulable and free of untolerated taints."
            if pod.unschedulable_why != why:
                pod.unschedulable_why = why
                pod.rv = self._bump()
            return
        chosen = min(fits, key=lambda n: (load[n.name], n.name))
        pod.node = chosen.name
        pod.phase = "Running"
        pod.ready = True
        pod.started = _now()
        pod.unschedulable_why = ""
        pod.rv = self._bump()

    def _begin_deletion(self, pod: _Pod, grace_s: int | None) -> None:
        """Delete a pod: at once, or after `termination_s` (as a kubelet would stop it), and let
        its controller react."""
        if pod.deletion_at is not None:
            return
        delay = self.termination_s if grace_s is None or grace_s > 0 else 0.0
        if pod.phase == "Pending" and pod.node is None:
            delay = 0.0  # nothing runs it: gone at once
        pod.deletion_at = self._clock() + delay
        pod.deletion_ts = _now()
        pod.grace_s = 0 if delay == 0 else max(1, math.ceil(delay))
        pod.ready = False
        pod.rv = self._bump()
        if pod.owner and pod.owner.kind in REPLACED_BY_NEW_NAME:
            self._create_replacement(pod, self._fresh_name(pod.namespace, pod.owner.name))
        if delay == 0:
            del self._pods[(pod.namespace, pod.name)]
            self._after_removal(pod)

    def _after_removal(self, pod: _Pod) -> None:
        if pod.owner is None:
            return
        if pod.owner.kind == "StatefulSet":
            self._create_replacement(pod, pod.name)
        elif pod.owner.kind == "DaemonSet" and pod.node in self._nodes:
            self._ensure_daemon_pods(pod.node)

    def _create_replacement(self, old: _Pod, name: str) -> None:
        annotations = {k: v for k, v in old.annotations.items() if k != MIRROR_ANNOTATION}
        new = _Pod(
            namespace=old.namespace,
            name=name,
            uid=str(uuid.uuid4()),
            created=_now(),
            labels=dict(old.labels),
            annotations=annotations,
            owner=old.owner,
            node=None,
            phase="Pending",
            ready=False,
            schedule_at=self._clock() + self.reschedule_delay_s,
            tolerations=list(old.tolerations),
            rv=self._bump(),
        )
        self._pods[(new.namespace, new.name)] = new

    def _ensure_daemon_pods(self, node: str) -> None:
        n = self._nodes[node]
        for (ns, ds_name), (owner, labels, tolerations) in sorted(self._daemonsets.items()):
            untolerated = [
                t for t in n.taints if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, t)
            ]
            if untolerated:
                continue
            if any(p.owner is owner and p.node == node and p.deletion_at is None for p in self._pods.values()):
                continue
            pod = _Pod(
                namespace=ns,
                name=self._fresh_name(ns, ds_name),
                uid=str(uuid.uuid4()),
                created=_now(),
                labels=dict(labels),
                annotations={},
                owner=owner,
                node=node,
                phase="Running",
                ready=True,
                tolerations=list(tolerations),
                started=_now(),
                rv=self._bump(),
            )
            self._pods[(ns, pod.name)] = pod

    def _remove_node(self, name: str) -> None:
        """The node object goes; its pods go with it (pod garbage collection) and controllers react."""
        del self._nodes[name]
        for pod in [p for p in self._pods.values() if p.node == name]:
            if pod.deletion_at is None:
                self._begin_deletion(pod, 0)
            else:  # already terminating (its replacement exists): just gone now
                del self._pods[(pod.namespace, pod.name)]
                self._after_removal(pod)

    # -- the emulator's Python API

    def node_joined(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        ready: bool = True,
        *,
        taints: list[dict[str, Any]] | None = None,
        kubelet_version: str = KUBE_VERSION,
    ) -> None:
        """A node registered (or re-registered: a recreated instance with the same name keeps the
        Node object, including a cordon). Control-plane nodes (label
        node-role.kubernetes.io/control-plane) get kubeadm's NoSchedule taint unless `taints` is given."""
        with self._lock:
            self._advance()
            all_labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            } | dict(labels or {})
            if taints is None:
                taints = (
                    [{"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}] if CONTROL_PLANE_LABEL in all_labels else []
                )
            node = self._nodes.get(name)
            if node is None:
                node = _Node(name, str(uuid.uuid4()), _now(), all_labels, taints=list(taints), ready_changed=_now())
                self._nodes[name] = node
            else:
                node.labels.update(all_labels)
                node.taints = list(taints)
            if node.ready != ready:
                node.ready_changed = _now()
            node.ready = ready
            node.kubelet_version = kubelet_version
            node.rv = self._bump()
            self._ensure_daemon_pods(name)

    def set_node_resources(self, name: str, resources: Mapping[str, str]) -> None:
        """The extended resources a device plugin advertises on the node (capacity and allocatable);
        {} when none runs there."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None or node.extended == dict(resources):
                return
            self._advance()
            node.extended = dict(resources)
            node.rv = self._bump()

    def set_node_ready(self, name: str, ready: bool) -> None:
        with self._lock:
            self._advance()
            node = self._nodes[name]
            if node.ready != ready:
                node.ready = ready
                node.ready_changed = _now()
                node.rv = self._bump()

    def node_gone(self, name: str) -> None:
        """The node's machine is gone (a cloud controller deletes the Node object); no error if unknown."""
        with self._lock:
            self._advance()
            if name in self._nodes:
                self._remove_node(name)

    def start_static_pods(
        self, node: str, components: Iterable[str] = CONTROL_PLANE_COMPONENTS, *, ready: bool = True
    ) -> list[str]:
        """kubeadm's static pods on a control-plane node as its kubelet mirrors them into the API:
        ``kube-system/<component>-<node>`` with labels ``component`` and ``tier: control-plane``,
        the mirror annotation, owned by the Node. Any already there are replaced (a kubelet that
        started again). Their Ready follows the node's and ``ready`` (see :meth:`set_pod_ready`)."""
        with self._lock:
            self._advance()
            n = self._nodes[node]
            self._drop_static_pods(node)
            names = []
            for component in components:
                name = f"{component}-{node}"
                self._pods[("kube-system", name)] = _Pod(
                    namespace="kube-system",
                    name=name,
                    uid=str(uuid.uuid4()),
                    created=_now(),
                    labels={"component": component, "tier": "control-plane"},
                    annotations={MIRROR_ANNOTATION: uuid.uuid4().hex},
                    owner=_Owner("Node", node, n.uid),
                    node=node,
                    phase="Running",
                    ready=ready,
                    tolerations=[{"operator": "Exists", "effect": "NoExecute"}],
                    started=_now(),
                    rv=self._bump(),
                )
                names.append(name)
            return names

    def stop_static_pods(self, node: str) -> None:
        """The node's kubelet stopped (its machine is being recreated): its mirror pods go."""
        with self._lock:
            self._advance()
            self._drop_static_pods(node)

    def _drop_static_pods(self, node: str) -> None:
        for key, pod in list(self._pods.items()):
            if pod.node == node and MIRROR_ANNOTATION in pod.annotations:
                del self._pods[key]

    def set_pod_ready(self, namespace: str, name: str, ready: bool) -> None:
        """A pod's containers become (not) Ready, as a readiness probe would say."""
        with self._lock:
            self._advance()
            pod = self._pod(namespace, name)
            if pod.ready != ready:
                pod.ready = ready
                pod.rv = self._bump()

    def add_pod(
        self,
        name: str,
        *,
        namespace: str = "default",
        node: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        owner_kind: str | None = None,
        owner_name: str | None = None,
        ready: bool = True,
        phase: str | None = None,
        tolerations: list[dict[str, Any]] | None = None,
    ) -> str:
        """A pod, bound to `node` (Running) or left to the scheduler (Pending, bound on the next call)."""
        with self._lock:
            self._advance()
            if (namespace, name) in self._pods:
                raise ValueError(f"pod {namespace}/{name} already exists")
            if node is not None and node not in self._nodes:
                raise ValueError(f"pod {namespace}/{name}: node {node} has not joined")
            if (owner_kind is None) != (owner_name is None):
                raise ValueError("give owner_kind and owner_name together")
            self._add_namespace(namespace)
            pod = _Pod(
                namespace=namespace,
                name=name,
                uid=str(uuid.uuid4()),
                created=_now(),
                labels=dict(labels or {}),
                annotations=dict(annotations or {}),
                owner=self._owner(namespace, owner_kind, owner_name) if owner_kind and owner_name else None,
                node=node,
                phase=phase or ("Running" if node else "Pending"),
                ready=ready if node else False,
                schedule_at=self._clock(),
                tolerations=list(tolerations or []),
                started=_now() if node else None,
                rv=self._bump(),
            )
            self._pods[(namespace, name)] = pod
            return name

    def add_replicaset(
        self,
        name: str,
        replicas: int,
        *,
        namespace: str = "default",
        labels: Mapping[str, str] | None = None,
        nodes: list[str] | None = None,
    ) -> list[str]:
        """`replicas` pods owned by ReplicaSet `name`: on `nodes` round-robin, or scheduled."""
        with self._lock:
            names = []
            for i in range(replicas):
                pod_name = self._fresh_name(namespace, name)
                node = nodes[i % len(nodes)] if nodes else None
                names.append(
                    self.add_pod(
                        pod_name,
                        namespace=namespace,
                        node=node,
                        labels=labels or {"app": name},
                        owner_kind="ReplicaSet",
                        owner_name=name,
                    )
                )
            self._advance()
            return names

    def add_daemonset(
        self,
        name: str,
        *,
        namespace: str = "kube-system",
        labels: Mapping[str, str] | None = None,
        tolerations: list[dict[str, Any]] | None = None,
    ) -> None:
        """A pod on every node, now and on nodes that join later. Tolerates every taint by default."""
        with self._lock:
            self._advance()
            self._add_namespace(namespace)
            owner = self._owner(namespace, "DaemonSet", name)
            self._daemonsets[(namespace, name)] = (
                owner,
                dict(labels or {"app": name}),
                list(tolerations if tolerations is not None else [{"operator": "Exists"}]),
            )
            for node in sorted(self._nodes):
                self._ensure_daemon_pods(node)

    def add_pdb(
        self,
        name: str,
        *,
        namespace: str = "default",
        match_labels: Mapping[str, str],
        min_available: int | str | None = None,
        max_unavailable: int | str | None = None,
        unhealthy_pod_eviction_policy: str | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": dict(match_labels)}},
        }
        for key, value in (
            ("minAvailable", min_available),
            ("maxUnavailable", max_unavailable),
            ("unhealthyPodEvictionPolicy", unhealthy_pod_eviction_policy),
        ):
            if value is not None:
                body["spec"][key] = value
        with self._lock:
            self._add_namespace(namespace)
            try:
                self.create_pdb(namespace, body)
            except StatusError as exc:
                raise ValueError(exc.message) from None

    def snapshot(self) -> KubeSnapshot:
        with self._lock:
            self._advance()
            nodes = {
                n.name: NodeView(
                    n.name,
                    n.ready,
                    n.unschedulable,
                    dict(n.labels),
                    n.kubelet_version,
                    tuple(dict(t) for t in n.taints),
                    dict(n.extended),
                )
                for n in self._nodes.values()
            }
            pods = tuple(
                PodView(
                    p.namespace,
                    p.name,
                    p.node,
                    p.phase,
                    self._pod_ready(p),
                    p.owner.kind if p.owner else None,
                    p.owner.name if p.owner else None,
                    p.deletion_at is not None,
                )
                for p in sorted(self._pods.values(), key=lambda p: (p.namespace, p.name))
            )
            pdbs = tuple(
                PdbView(b.namespace, b.name, *self._pdb_numbers(b))
                for b in sorted(self._pdbs.values(), key=lambda b: (b.namespace, b.name))
            )
            return KubeSnapshot(nodes, pods, pdbs, tuple(self._evictions))

    # -- rendering

    def _render_node(self, n: _Node) -> dict[str, Any]:
        spec: dict[str, Any] = {"providerID": f"gce://kubegce-emulator/zone/{n.name}"}
        if n.unschedulable:
            spec["unschedulable"] = True
        if n.taints:
            spec["taints"] = [dict(t) for t in n.taints]
        capacity = {"cpu": "2", "memory": "4028180Ki", "pods": "110", "ephemeral-storage": "20134592Ki",
                    **n.extended}  # fmt: skip
        condition = {
            "type": "Ready",
            "status": "True" if n.ready else "False",
            "lastHeartbeatTime": _now(),
            "lastTransitionTime": n.ready_changed or n.created,
            "reason": "KubeletReady" if n.ready else "KubeletNotReady",
            "message": "kubelet is posting ready status" if n.ready else "container runtime network not ready",
        }
        return {
            "metadata": {
                "name": n.name,
                "uid": n.uid,
                "resourceVersion": str(n.rv),
                "creationTimestamp": n.created,
                "labels": dict(n.labels),
                "annotations": dict(n.annotations),
            },
            "spec": spec,
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [condition],
                "addresses": [{"type": "Hostname", "address": n.name}],
                "nodeInfo": {
                    "machineID": n.uid.replace("-", ""),
                    "systemUUID": n.uid,
                    "bootID": n.uid,
                    "kernelVersion": "6.1.0-emulated",
                    "osImage": "kubegce emulator (simulated node)",
                    "containerRuntimeVersion": "containerd://1.7.0",
                    "kubeletVersion": n.kubelet_version,
                    "kubeProxyVersion": n.kubelet_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }

    def _render_pod(self, p: _Pod) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": p.name,
            "namespace": p.namespace,
            "uid": p.uid,
            "resourceVersion": str(p.rv),
            "creationTimestamp": p.created,
            "labels": dict(p.labels),
        }
        if p.annotations:
            meta["annotations"] = dict(p.annotations)
        if p.owner:
            meta["ownerReferences"] = [
                {
                    "apiVersion": p.owner.api_version,
                    "kind": p.owner.kind,
                    "name": p.owner.name,
                    "uid": p.owner.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        if p.deletion_ts:
            meta["deletionTimestamp"] = p.deletion_ts
            meta["deletionGracePeriodSeconds"] = p.grace_s
        spec: dict[str, Any] = {
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30,
        }
        if p.node:
            spec["nodeName"] = p.node
        if p.tolerations:
            spec["tolerations"] = [dict(t) for t in p.tolerations]
        ready = self._pod_ready(p)
        when = p.started or p.created
        conditions: list[dict[str, Any]] = [
            {"type": "PodScheduled", "status": "True" if p.node else "False", "lastTransitionTime": when}
        ]
        if not p.node and p.unschedulable_why:
            conditions[0] |= {"reason": "Unschedulable", "message": p.unschedulable_why}
        status: dict[str, Any] = {"phase": p.phase, "conditions": conditions, "qosClass": "BestEffort"}
        if p.node:
            flag = "True" if ready else "False"
            conditions += [
                {"type": "Initialized", "status": "True", "lastTransitionTime": when},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": when},
                {"type": "Ready", "status": flag, "lastTransitionTime": when},
            ]
            status["startTime"] = when
            running = p.phase == "Running"
            status["containerStatuses"] = [
                {
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.9",
                    "imageID": "registry.k8s.io/pause@sha256:" + "0" * 64,
                    "ready": ready,
                    "started": running,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": when}}
                    if running
                    else {"waiting": {"reason": "ContainerCreating"}},
                }
            ]
        return {"metadata": meta, "spec": spec, "status": status}

    def _pdb_numbers(self, b: _Pdb) -> tuple[int, int, int, int]:
        """(expected, currentHealthy, desiredHealthy, disruptionsAllowed), as the disruption
        controller would compute them now. Expected pods are the matching pods that are not
        terminal or terminating (Pending replacements count): the controllers' scale."""
        pods = [
            p
            for p in self._pods.values()
            if p.namespace == b.namespace
            and p.phase not in ("Succeeded", "Failed")
            and p.deletion_at is None
            and selector_matches(b.selector, p.labels)
        ]
        expected = len(pods)
        healthy = sum(1 for p in pods if self._pod_ready(p))
        if b.min_available is not None:
            desired = _scaled(b.min_available, expected)
        elif b.max_unavailable is not None:
            desired = max(0, expected - _scaled(b.max_unavailable, expected))
        else:
            desired = 0
        allowed = max(0, healthy - desired) if expected > 0 else 0
        return expected, healthy, desired, allowed

    def _render_pdb(self, b: _Pdb) -> dict[str, Any]:
        expected, healthy, desired, allowed = self._pdb_numbers(b)
        spec: dict[str, Any] = {"selector": b.selector}
        if b.min_available is not None:
            spec["minAvailable"] = b.min_available
        if b.max_unavailable is not None:
            spec["maxUnavailable"] = b.max_unavailable
        if b.unhealthy_policy:
            spec["unhealthyPodEvictionPolicy"] = b.unhealthy_policy
        return {
            "metadata": {
                "name": b.name,
                "namespace": b.namespace,
                "uid": b.uid,
                "resourceVersion": str(b.rv),
                "generation": 1,
                "creationTimestamp": b.created,
                "labels": dict(b.labels),
            },
            "spec": spec,
            "status": {
                "observedGeneration": 1,
                "expectedPods": expected,
                "currentHealthy": healthy,
                "desiredHealthy": desired,
                "disruptionsAllowed": allowed,
                "disruptedPods": {},
                "conditions": [
                    {
                        "type": "DisruptionAllowed",
                        "status": "True" if allowed > 0 else "False",
                        "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                        "message": "",
                        "observedGeneration": 1,
                        "lastTransitionTime": b.created,
                    }
                ],
            },
        }

    def _list(self, kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    # -- the API server's calls (answers are JSON-ready dicts; errors are StatusError)

    def list_nodes(self, field_selector: str = "", label_selector: str = "") -> dict[str, Any]:
        fields_ok, labels_ok = _field_filter("nodes", field_selector), _label_filter(label_selector)
        with self._lock:
            self._advance()
            items = [
                self._render_node(n)
                for n in sorted(self._nodes.values(), key=lambda n: n.name)
                if labels_ok(n.labels)
                and fields_ok({"metadata.name": n.name, "spec.unschedulable": str(n.unschedulable).lower()})
            ]
            return self._list("NodeList", "v1", items)

    def get_node(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            if name not in self._nodes:
                raise _not_found("nodes", name)
            return {"kind": "Node", "apiVersion": "v1"} | self._render_node(self._nodes[name])

    def patch_node(self, name: str, content_type: str, patch: Any) -> dict[str, Any]:
        kind = content_type.split(";")[0].strip().lower()
        if kind not in PATCH_TYPES:
            raise StatusError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format ({kind or 'no Content-Type'}) - accepted media types include: "
                + ", ".join(PATCH_TYPES),
            )
        with self._lock:
            self._advance()
            if name not in self._nodes:
                raise _not_found("nodes", name)
            node = self._nodes[name]
            before = {"kind": "Node", "apiVersion": "v1"} | self._render_node(node)
            if kind == "application/json-patch+json":
                after = json_patch(before, patch)
            elif not isinstance(patch, dict):
                raise StatusError(400, "BadRequest", f"a {kind} body must be a JSON object")
            else:
                after = merge_patch(before, patch)
            meta = after.get("metadata") or {}
            if meta.get("name") != name:
                raise StatusError(
                    400,
                    "BadRequest",
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
                )
            if meta.get("uid") != node.uid:
                raise _invalid("Node", name, [("metadata.uid", "field is immutable")])
            if str(meta.get("resourceVersion")) != str(node.rv):
                raise StatusError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on nodes "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "kind": "nodes"},
                )
            spec = after.get("spec") or {}
            problems: list[tuple[str, str]] = []
            labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
            for where, mapping in (("metadata.labels", labels), ("metadata.annotations", annotations)):
                if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                    problems.append((where, "must be a map of strings to strings"))
            unschedulable = spec.get("unschedulable", False)
            if not isinstance(unschedulable, bool):
                problems.append(("spec.unschedulable", f"Invalid value: {unschedulable!r}: must be true or false"))
            taints = spec.get("taints") or []
            if not isinstance(taints, list) or not all(
                isinstance(t, dict)
                and t.get("key")
                and t.get("effect") in ("NoSchedule", "PreferNoSchedule", "NoExecute")
                for t in taints
            ):
                problems.append(
                    ("spec.taints", "each taint needs a key and an effect of NoSchedule, PreferNoSchedule or NoExecute")
                )
            if problems:
                raise _invalid("Node", name, problems)
            node.labels, node.annotations = dict(labels), dict(annotations)
            node.unschedulable = unschedulable
            node.taints = [dict(t) for t in taints]
            node.rv = self._bump()  # status in a patch of the main resource is ignored, as by a real server
            return {"kind": "Node", "apiVersion": "v1"} | self._render_node(node)

    def delete_node(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            if name not in self._nodes:
                raise _not_found("nodes", name)
            uid = self._nodes[name].uid
            self._remove_node(name)
            return success(details={"name": name, "kind": "nodes", "uid": uid})

    def list_namespaces(self) -> dict[str, Any]:
        with self._lock:
            items = [self._render_namespace(ns) for ns in sorted(self._namespaces)]
            return self._list("NamespaceList", "v1", items)

    def _render_namespace(self, name: str) -> dict[str, Any]:
        uid, created = self._namespaces[name]
        return {
            "metadata": {"name": name, "uid": uid, "creationTimestamp": created, "resourceVersion": "1"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def create_namespace(self, body: Any) -> tuple[int, dict[str, Any]]:
        """POST /api/v1/namespaces: a namespace by metadata.name (a DNS-1123 label), 409 if it exists."""
        name = str(((body or {}).get("metadata") or {}).get("name") or "") if isinstance(body, dict) else ""
        if not re.fullmatch(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?", name):
            raise StatusError(422, "Invalid", f'Namespace "{name[:63]}" is invalid: metadata.name: Invalid value',
                              {"name": name[:63], "kind": "namespaces"})  # fmt: skip
        with self._lock:
            if name in self._namespaces:
                raise StatusError(409, "AlreadyExists", f'namespaces "{name}" already exists',
                                  {"name": name, "kind": "namespaces"})  # fmt: skip
            self._add_namespace(name)
            self._bump()
            return 201, {"kind": "Namespace", "apiVersion": "v1"} | self._render_namespace(name)

    def export_objects(self) -> Any:
        """Every object, copied: what a simulated etcd snapshot holds (emulator/backups.py)."""
        import copy

        with self._lock:
            return copy.deepcopy((self._nodes, self._pods, self._pdbs, self._namespaces, self._daemonsets,
                                  self._owners, self._rv))  # fmt: skip

    def import_objects(self, objects: Any) -> None:
        """Replace every object with a snapshot's (export_objects'), as an etcd restore does; the
        resource version moves on from the later of the two."""
        import copy

        with self._lock:
            nodes, pods, pdbs, namespaces, daemonsets, owners, rv = copy.deepcopy(objects)
            self._nodes, self._pods, self._pdbs, self._namespaces = nodes, pods, pdbs, namespaces
            self._daemonsets, self._owners = daemonsets, owners
            self._evictions = []
            self._rv = max(self._rv, int(rv)) + 1

    def get_namespace(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name not in self._namespaces:
                raise _not_found("namespaces", name)
            return {"kind": "Namespace", "apiVersion": "v1"} | self._render_namespace(name)

    def list_pods(self, namespace: str | None, field_selector: str = "", label_selector: str = "") -> dict[str, Any]:
        fields_ok, labels_ok = _field_filter("pods", field_selector), _label_filter(label_selector)
        with self._lock:
            self._advance()
            items = [
                self._render_pod(p)
                for p in sorted(self._pods.values(), key=lambda p: (p.namespace, p.name))
                if (namespace is None or p.namespace == namespace)
                and labels_ok(p.labels)
                and fields_ok(
                    {
                        "metadata.name": p.name,
                        "metadata.namespace": p.namespace,
                        "spec.nodeName": p.node or "",
                        "status.phase": p.phase,
                    }
                )
            ]
            return self._list("PodList", "v1", items)

    def _pod(self, namespace: str, name: str) -> _Pod:
        pod = self._pods.get((namespace, name))
        if pod is None:
            raise _not_found("pods", name)
        return pod

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return {"kind": "Pod", "apiVersion": "v1"} | self._render_pod(self._pod(namespace, name))

    def _check_preconditions(self, kind: str, name: str, uid: str, options: Mapping[str, Any]) -> None:
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != uid:
            raise StatusError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {uid}",
                {"name": name, "kind": kind},
            )

    def delete_pod(self, namespace: str, name: str, options: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._advance()
            pod = self._pod(namespace, name)
            self._check_preconditions("pods", name, pod.uid, options)
            grace = options.get("gracePeriodSeconds")
            self._begin_deletion(pod, int(grace) if isinstance(grace, int) else None)
            return {"kind": "Pod", "apiVersion": "v1"} | self._render_pod(pod)

    def evict(self, namespace: str, name: str, body: Any, dry_run: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise StatusError(400, "BadRequest", "the body of an eviction must be a policy/v1 Eviction object")
        if body.get("kind", "Eviction") != "Eviction" or body.get("apiVersion", "policy/v1") not in (
            "policy/v1",
            "policy/v1beta1",
        ):
            raise StatusError(
                400,
                "BadRequest",
                f"the body is a {body.get('apiVersion')} {body.get('kind')}, not a policy/v1 Eviction",
            )
        meta = body.get("metadata") or {}
        if meta.get("name") != name:
            raise StatusError(400, "BadRequest", "name in URL does not match name in Eviction object")
        if meta.get("namespace") not in (None, "", namespace):
            raise StatusError(400, "BadRequest", "namespace in URL does not match namespace in Eviction object")
        options = body.get("deleteOptions") or {}
        with self._lock:
            self._advance()
            pod = self._pod(namespace, name)
            self._check_preconditions("pods", name, pod.uid, options)
            if pod.deletion_at is not None:
                return success(201)  # already going
            if pod.phase in ("Pending", "Succeeded", "Failed"):
                return self._evicted(pod, options, dry_run)  # a budget does not protect pods that do not run
            budgets = [
                b for b in self._pdbs.values() if b.namespace == namespace and selector_matches(b.selector, pod.labels)
            ]
            if len(budgets) > 1:
                raise StatusError(
                    500,
                    "InternalError",
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                )
            if budgets:
                b = budgets[0]
                _, healthy, desired, allowed = self._pdb_numbers(b)
                ready = self._pod_ready(pod)
                unhealthy_ok = not ready and (
                    b.unhealthy_policy == "AlwaysAllow" or (healthy >= desired and desired > 0)
                )
                if not unhealthy_ok and allowed <= 0:
                    raise StatusError(
                        429,
                        "TooManyRequests",
                        PDB_BLOCKED,
                        {
                            "causes": [
                                {
                                    "reason": "DisruptionBudget",
                                    "message": f"The disruption budget {b.name} needs {desired} healthy pods and has {healthy} currently",
                                }
                            ]
                        },
                    )
            return self._evicted(pod, options, dry_run)

    def _evicted(self, pod: _Pod, options: Mapping[str, Any], dry_run: bool) -> dict[str, Any]:
        if not dry_run:
            self._evictions.append(Eviction(pod.namespace, pod.name, pod.node))
            grace = options.get("gracePeriodSeconds")
            self._begin_deletion(pod, int(grace) if isinstance(grace, int) else None)
        return success(201)

    def list_pdbs(self, namespace: str | None, field_selector: str = "", label_selector: str = "") -> dict[str, Any]:
        fields_ok, labels_ok = _field_filter("poddisruptionbudgets", field_selector), _label_filter(label_selector)
        with self._lock:
            self._advance()
            items = [
                self._render_pdb(b)
                for b in sorted(self._pdbs.values(), key=lambda b: (b.namespace, b.name))
                if (namespace is None or b.namespace == namespace)
                and labels_ok(b.labels)
                and fields_ok({"metadata.name": b.name, "metadata.namespace": b.namespace})
            ]
            return self._list("PodDisruptionBudgetList", "policy/v1", items)

    def get_daemonset(self, namespace: str, name: str) -> dict[str, Any]:
        """apps/v1 DaemonSet: what `kubectl drain --ignore-daemonsets` reads for each daemon pod's
        controller (k8s.io/kubectl/pkg/drain/filters.go daemonSetFilter, v0.30: a controller it
        cannot get fails the drain unless --force)."""
        with self._lock:
            self._advance()
            found = self._daemonsets.get((namespace, name))
            if found is None:
                raise _not_found("daemonsets", name, "apps")
            owner, labels, tolerations = found
            pods = [p for p in self._pods.values() if p.namespace == namespace and p.owner is owner]
            return {
                "kind": "DaemonSet", "apiVersion": "apps/v1",
                "metadata": {"name": name, "namespace": namespace, "uid": owner.uid, "labels": dict(labels)},
                "spec": {"selector": {"matchLabels": dict(labels)},
                         "template": {"metadata": {"labels": dict(labels)},
                                      "spec": {"tolerations": [dict(t) for t in tolerations]}}},
                "status": {"desiredNumberScheduled": len(self._nodes), "currentNumberScheduled": len(pods),
                           "numberReady": sum(1 for p in pods if self._pod_ready(p)), "numberMisscheduled": 0},
            }  # fmt: skip

    def get_pdb(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            b = self._pdbs.get((namespace, name))
            if b is None:
                raise _not_found("poddisruptionbudgets", name, "policy")
            return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1"} | self._render_pdb(b)

    def create_pdb(self, namespace: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise StatusError(400, "BadRequest", "the body must be a policy/v1 PodDisruptionBudget object")
        if (
            body.get("kind", "PodDisruptionBudget") != "PodDisruptionBudget"
            or body.get("apiVersion", "policy/v1") != "policy/v1"
        ):
            raise StatusError(
                400,
                "BadRequest",
                f"the body is a {body.get('apiVersion')} {body.get('kind')}, not a policy/v1 PodDisruptionBudget",
            )
        meta = body.get("metadata") or {}
        name = str(meta.get("name") or "")
        if meta.get("namespace") not in (None, "", namespace):
            raise StatusError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        spec = body.get("spec") or {}
        problems: list[tuple[str, str]] = []
        if not name:
            problems.append(("metadata.name", "Required value: name or generateName is required"))
        min_available, p1 = _int_or_percent(spec.get("minAvailable"), "spec.minAvailable")
        max_unavailable, p2 = _int_or_percent(spec.get("maxUnavailable"), "spec.maxUnavailable")
        problems += [(p.split(":")[0], p.split(": ", 1)[1]) for p in (p1, p2) if p]
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            problems.append(("spec", "minAvailable and maxUnavailable cannot be both set"))
        if spec.get("minAvailable") is None and spec.get("maxUnavailable") is None:
            problems.append(("spec", "set one of minAvailable or maxUnavailable"))
        selector = spec.get("selector")
        if selector is not None and not isinstance(selector, dict):
            problems.append(("spec.selector", "must be a label selector object"))
        elif selector is not None:
            try:
                selector_matches(selector, {})
            except SelectorError as exc:
                problems.append(("spec.selector.matchExpressions", str(exc)))
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy not in (None, "IfHealthyBudget", "AlwaysAllow"):
            problems.append(
                ("spec.unhealthyPodEvictionPolicy", f"Unsupported value: {policy!r}: IfHealthyBudget or AlwaysAllow")
            )
        if problems:
            raise _invalid("PodDisruptionBudget", name, problems, "policy")
        with self._lock:
            self._advance()
            if namespace not in self._namespaces:
                raise _not_found("namespaces", namespace)
            if (namespace, name) in self._pdbs:
                raise StatusError(
                    409,
                    "AlreadyExists",
                    f'poddisruptionbudgets.policy "{name}" already exists',
                    {"name": name, "group": "policy", "kind": "poddisruptionbudgets"},
                )
            pdb = _Pdb(
                namespace=namespace,
                name=name,
                uid=str(uuid.uuid4()),
                created=_now(),
                labels=dict(meta.get("labels") or {}),
                selector=selector,
                min_available=min_available,
                max_unavailable=max_unavailable,
                unhealthy_policy=policy,
                rv=self._bump(),
            )
            self._pdbs[(namespace, name)] = pdb
            return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1"} | self._render_pdb(pdb)

    def delete_pdb(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            b = self._pdbs.pop((namespace, name), None)
            if b is None:
                raise _not_found("poddisruptionbudgets", name, "policy")
            self._bump()
            return success(details={"name": name, "group": "policy", "kind": "poddisruptionbudgets", "uid": b.uid})


# ---------------------------------------------------------------------------- HTTP


def _resource(
    name: str, kind: str, verbs: list[str], namespaced: bool, short: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs}
    if short:
        out["shortNames"] = short
    return out


def _discovery(path: str, address: str) -> dict[str, Any] | None:
    policy_version = {"groupVersion": "policy/v1", "version": "v1"}
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }
    if path == "/api/v1":
        return {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                _resource("namespaces", "Namespace", ["get", "list"], False, ["ns"]),
                _resource("nodes", "Node", ["delete", "get", "list", "patch"], False, ["no"]),
                _resource("pods", "Pod", ["delete", "get", "list"], True, ["po"]),
                {
                    "name": "pods/eviction",
                    "singularName": "",
                    "namespaced": True,
                    "group": "policy",
                    "version": "v1",
                    "kind": "Eviction",
                    "verbs": ["create"],
                },  # fmt: skip
            ],
        }
    group = {"name": "policy", "versions": [policy_version], "preferredVersion": policy_version}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}
    if path == "/apis/policy":
        return {"kind": "APIGroup", "apiVersion": "v1"} | group
    if path == "/apis/policy/v1":
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "policy/v1",
            "resources": [
                _resource(
                    "poddisruptionbudgets", "PodDisruptionBudget", ["create", "delete", "get", "list"], True, ["pdb"]
                )
            ],
        }
    return None


UNAUTHENTICATED = ("/version", "/healthz", "/livez", "/readyz")


class _Handler(BaseHTTPRequestHandler):
    server: KubeApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> Any:
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit() or int(text) > MAX_BODY:
            raise StatusError(400, "BadRequest", f"Content-Length {text[:40]!r}: a byte count up to {MAX_BODY}")
        length = int(text)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise StatusError(400, "BadRequest", f"the request body is not JSON: {exc}") from None

    def _handle(self) -> None:
        try:
            body = self._body()
            status, payload = self._route(body)
        except StatusError as exc:
            status, payload = exc.code, exc.status()
        except Exception as exc:  # an emulator bug: answer like an API server would, keep serving
            status, payload = 500, StatusError(500, "InternalError", f"kubegce emulator: {exc!r}").status()
        if isinstance(payload, str):
            self._send(status, payload, "text/plain; charset=utf-8")
        else:
            self._send(status, payload)

    def _route(self, body: Any) -> tuple[int, Any]:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        method = self.command if self.command != "HEAD" else "GET"
        token = self.server.token
        if token and path not in UNAUTHENTICATED and self.headers.get("Authorization") != f"Bearer {token}":
            raise StatusError(401, "Unauthorized", "Unauthorized")
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        if path == "/version":
            major, minor, _ = KUBE_VERSION[1:].split(".")
            return 200, {
                "major": major,
                "minor": minor,
                "gitVersion": KUBE_VERSION,
                "gitCommit": "kubegce-emulator",
                "gitTreeState": "clean",
                "buildDate": "2024-01-01T00:00:00Z",
                "goVersion": "go1.22",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        found = _discovery(path, f"127.0.0.1:{self.server.port}")
        for extension in self.server.state.extensions:
            found = extension.discovery(path, found)
        if found is not None:
            return self._only(method, "GET", found)
        if query.get("watch") in ("true", "1"):
            raise StatusError(
                400, "BadRequest", "watch is not served by the kubegce emulator's Kubernetes API; poll with list"
            )
        dry_run = "dryRun" in query
        fsel, lsel = query.get("fieldSelector", ""), query.get("labelSelector", "")
        state = self.server.state
        seg = [unquote(s) for s in path.strip("/").split("/")]
        if seg[:2] == ["api", "v1"]:
            rest = seg[2:]
            if rest == ["nodes"]:
                return self._only(method, "GET", lambda: state.list_nodes(fsel, lsel))
            if len(rest) == 2 and rest[0] == "nodes":
                if method == "PATCH":
                    return 200, state.patch_node(rest[1], self.headers.get("Content-Type", ""), body)
                if method == "DELETE":
                    return 200, state.delete_node(rest[1])
                return self._only(method, "GET", lambda: state.get_node(rest[1]))
            if rest == ["pods"]:
                return self._only(method, "GET", lambda: state.list_pods(None, fsel, lsel))
            if rest == ["namespaces"]:
                if method == "POST":
                    return state.create_namespace(body)
                return self._only(method, "GET", state.list_namespaces)
            if len(rest) == 2 and rest[0] == "namespaces":
                return self._only(method, "GET", lambda: state.get_namespace(rest[1]))
            if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "pods":
                ns = rest[1]
                if len(rest) == 3:
                    return self._only(method, "GET", lambda: state.list_pods(ns, fsel, lsel))
                if len(rest) == 4:
                    if method == "DELETE":
                        return 200, state.delete_pod(ns, rest[3], body if isinstance(body, dict) else {})
                    return self._only(method, "GET", lambda: state.get_pod(ns, rest[3]))
                if len(rest) == 5 and rest[4] == "eviction":
                    return self._only(method, "POST", lambda: (201, state.evict(ns, rest[3], body, dry_run)))
        if seg[:3] == ["apis", "apps", "v1"] and len(seg) == 7 and seg[3] == "namespaces" and seg[5] == "daemonsets":
            return self._only(method, "GET", lambda: state.get_daemonset(seg[4], seg[6]))
        if seg[:3] == ["apis", "policy", "v1"]:
            rest = seg[3:]
            if rest == ["poddisruptionbudgets"]:
                return self._only(method, "GET", lambda: state.list_pdbs(None, fsel, lsel))
            if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "poddisruptionbudgets":
                ns = rest[1]
                if len(rest) == 3:
                    if method == "POST":
                        return 201, state.create_pdb(ns, body)
                    return self._only(method, "GET", lambda: state.list_pdbs(ns, fsel, lsel))
                if len(rest) == 4:
                    if method == "DELETE":
                        return 200, state.delete_pdb(ns, rest[3])
                    return self._only(method, "GET", lambda: state.get_pdb(ns, rest[3]))
        for extension in state.extensions:
            if (answer := extension.route(method, seg, query, body)) is not None:
                return answer
        raise StatusError(404, "NotFound", "the server could not find the requested resource", {})

    def _only(self, method: str, allowed: str, answer: Any) -> tuple[int, Any]:
        if method != allowed:
            raise StatusError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
            )
        result = answer() if callable(answer) else answer
        if isinstance(result, tuple):
            return int(result[0]), result[1]
        return 200, result

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()


class KubeApiServer(ThreadingHTTPServer):
    """`KubeApiServer(state).start()`; `url` for clients, `write_kubeconfig(path)` for files."""

    daemon_threads = True

    def __init__(
        self,
        state: KubeState,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        token: str | None = None,
        verbose: bool = False,
    ) -> None:
        if host != "127.0.0.1":
            raise ValueError(f"the emulator's Kubernetes API listens on 127.0.0.1 only, not {host}")
        super().__init__((host, port), _Handler)
        self.state = state
        self.token = token
        self.verbose = verbose
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> KubeApiServer:
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="kubegce-kube-api", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def write_kubeconfig(self, path: str | Path, cluster_name: str = "kubegce-emulator") -> Path:
        return write_kubeconfig(path, self.url, token=self.token, cluster_name=cluster_name)


def kubeconfig_text(server: str, *, token: str | None = None, cluster_name: str = "kubegce-emulator") -> str:
    """A kubeconfig for a plain-http server on 127.0.0.1 (no CA: there is no TLS)."""
    import yaml

    user: dict[str, Any] = {"token": token} if token else {}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": server}}],
        "users": [{"name": f"{cluster_name}-user", "user": user}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": f"{cluster_name}-user"}}],
        "current-context": cluster_name,
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def write_kubeconfig(
    path: str | Path, server: str, *, token: str | None = None, cluster_name: str = "kubegce-emulator"
) -> Path:
    """Write it with mode 0600 (it may hold a token)."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(kubeconfig_text(server, token=token, cluster_name=cluster_name))
    return target
