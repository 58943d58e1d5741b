"""Cordon, drain and node readiness through the Kubernetes API (issue 13's rolling update).

`drain` does what `kubectl drain --ignore-daemonsets --delete-emptydir-data --force` does, as kOps'
rolling update does: cordon the node, then evict every pod on it through the eviction API (so
PodDisruptionBudgets are respected) except DaemonSet pods and mirror (static) pods, retry evictions
a budget refuses (429) until the timeout, and wait until the evicted pods are gone. On timeout it
raises `DrainTimeout` listing each pod still there and why (the budget's name when one blocks it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubegce.errors import UserError
from kubegce.kube.client import KubeApiError, KubeClient
from kubegce.kube.selectors import SelectorError, selector_matches

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_BUDGET_RE = re.compile(r"disruption budget (\S+)")


@dataclass(frozen=True)
class DrainEvent:
    """`kind`: cordoned, skipped, evicted, blocked, gone, drained."""

    kind: str
    node: str
    pod: str  # namespace/name, "" for node events
    message: str

    def __str__(self) -> str:
        return f"{self.node}: {self.pod + ' ' if self.pod else ''}{self.kind}" + (
            f" ({self.message})" if self.message else ""
        )


Progress = Callable[[DrainEvent], None]


@dataclass
class DrainResult:
    node: str
    evicted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # DaemonSet and mirror pods, left in place
    seconds: float = 0.0


class DrainTimeout(UserError):
    """Pods still on the node when the drain timeout ran out; `remaining` maps each to why."""

    def __init__(self, node: str, timeout_s: float, remaining: dict[str, str]) -> None:
        self.node = node
        self.remaining = remaining
        lines = "\n".join(f"  - {pod}: {why}" for pod, why in sorted(remaining.items()))
        super().__init__(
            f"draining node {node} timed out after {timeout_s:g}s with {len(remaining)} pod(s) still on it:\n{lines}\n"
            "A PodDisruptionBudget lets a pod go only while enough of its other pods are Ready: check that they can "
            "run on other Ready, schedulable nodes (`kubectl get pdb -A`, `kubectl get pods -A -o wide`), "
            "or allow more time (--drain-timeout)."
        )


def _key(pod: Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def skip_reason(pod: Any) -> str | None:
    """Why a drain leaves this pod in place, or None to evict it."""
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return "mirror pod of a static pod: its kubelet owns it"
    for ref in pod.metadata.owner_references or []:
        if ref.kind == "DaemonSet" and ref.controller:
            return f"managed by DaemonSet {ref.name}"
    return None


def _set_unschedulable(client: KubeClient, node: str, value: bool) -> bool:
    what = ("cordoning" if value else "uncordoning") + f" node {node}"
    try:
        current = client.call(what, client.core.read_node, node)
        if bool(current.spec.unschedulable) == value:
            return False
        # a JSON patch (a list): every client version sends it as application/json-patch+json
        patch = [{"op": "add", "path": "/spec/unschedulable", "value": value}]
        client.call(what, client.core.patch_node, node, patch)
    except KubeApiError as exc:
        if exc.status == 404:
            raise UserError(
                f"{what}: no node {node} is registered with the Kubernetes API at {client.server}; "
                "check the name with `kubectl get nodes`"
            ) from None
        raise
    return True


def cordon(client: KubeClient, node: str) -> bool:
    """Mark the node unschedulable; False if it already was."""
    return _set_unschedulable(client, node, True)


def uncordon(client: KubeClient, node: str) -> bool:
    """Mark the node schedulable again; False if it already was."""
    return _set_unschedulable(client, node, False)


def delete_node(client: KubeClient, node: str) -> bool:
    """Delete the Node object (after its machine is drained); False if there was none."""
    try:
        client.call(f"deleting node {node}", client.core.delete_node, node)
    except KubeApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def pods_on(client: KubeClient, node: str) -> list[Any]:
    return list(
        client.call(
            f"listing pods on node {node}",
            client.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node}",
        ).items
    )


def _budget_for(client: KubeClient, pod: Any) -> str | None:
    """The PodDisruptionBudget selecting this pod, found client-side (servers that name none)."""
    budgets = client.call(
        f"listing PodDisruptionBudgets in namespace {pod.metadata.namespace}",
        client.policy.list_namespaced_pod_disruption_budget,
        pod.metadata.namespace,
    ).items
    labels = pod.metadata.labels or {}
    for b in budgets:
        sel = b.spec.selector if b.spec else None
        selector = None
        if sel is not None:
            selector = {
                "matchLabels": sel.match_labels or {},
                "matchExpressions": [
                    {"key": e.key, "operator": e.operator, "values": e.values or []}
                    for e in sel.match_expressions or []
                ],
            }
        try:
            if selector_matches(selector, labels):
                return f"{b.metadata.namespace}/{b.metadata.name}"
        except SelectorError:
            continue
    return None


def _evict(client: KubeClient, pod: Any, node: str) -> str | None:
    """None when the eviction was accepted (or the pod is already gone), else why it was refused."""
    key = _key(pod)
    body = client.models.V1Eviction(
        api_version="policy/v1",
        kind="Eviction",
        metadata=client.models.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace),
    )
    try:
        client.call(
            f"evicting pod {key} from node {node}",
            client.core.create_namespaced_pod_eviction,
            pod.metadata.name,
            pod.metadata.namespace,
            body,
        )
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        if exc.status != 429:
            raise
        messages = [c.get("message", "") for c in exc.causes if c.get("message")]
        detail = "; ".join(messages) or exc.api_message
        for text in messages:
            m = _BUDGET_RE.search(text)
            if m:
                return f"eviction refused by PodDisruptionBudget {pod.metadata.namespace}/{m.group(1)} ({detail})"
        budget = _budget_for(client, pod)
        if budget:
            return f"eviction refused by PodDisruptionBudget {budget} ({detail})"
        return f"eviction refused with 429 ({detail})"
    return None


def drain(
    client: KubeClient,
    node: str,
    *,
    timeout_s: float = 300.0,
    poll_s: float = 1.0,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainResult:
    """Cordon `node`, evict its pods and wait until they are gone (see the module docstring)."""
    start = clock()
    deadline = start + timeout_s
    result = DrainResult(node)

    def emit(kind: str, pod: str = "", message: str = "") -> None:
        if progress is not None:
            progress(DrainEvent(kind, node, pod, message))

    if cordon(client, node):
        emit("cordoned")
    evicted: dict[str, str] = {}  # uid -> namespace/name
    blocked: dict[str, str] = {}  # namespace/name -> why
    delay = min(0.05, poll_s)  # looks again soon after a change, then backs off to poll_s
    while True:
        before = (len(evicted), len(blocked))
        remaining: dict[str, str] = {}
        for pod in pods_on(client, node):
            key = _key(pod)
            why = skip_reason(pod)
            if why is not None:
                if key not in result.skipped:
                    result.skipped.append(key)
                    emit("skipped", key, why)
                continue
            uid = str(pod.metadata.uid)
            if uid in evicted or pod.metadata.deletion_timestamp is not None:
                remaining[key] = "evicted, still terminating"
                continue
            refused = _evict(client, pod, node)
            if refused is None:
                evicted[uid] = key
                result.evicted.append(key)
                blocked.pop(key, None)
                emit("evicted", key)
                remaining[key] = "evicted, still terminating"
            else:
                if blocked.get(key) != refused:
                    emit("blocked", key, refused)
                blocked[key] = refused
                remaining[key] = refused
        for uid, key in list(evicted.items()):
            if key not in remaining:
                del evicted[uid]
                emit("gone", key)
        if not remaining:
            break
        now = clock()
        if now >= deadline:
            raise DrainTimeout(node, timeout_s, remaining)
        if (len(evicted), len(blocked)) != before:
            delay = min(0.05, poll_s)
        sleep(max(0.0, min(delay, deadline - now)))
        delay = min(poll_s, delay * 2)
    result.seconds = clock() - start
    emit(
        "drained", message=f"{len(result.evicted)} evicted, {len(result.skipped)} left in place, {result.seconds:.1f}s"
    )
    return result


def _ready_condition(node: Any) -> tuple[bool, str]:
    for c in (node.status.conditions if node.status else None) or []:
        if c.type == "Ready":
            text = f"Ready={c.status}" + (f" ({c.reason}: {c.message})" if c.reason or c.message else "")
            return c.status == "True", text
    return False, "no Ready condition yet"


@dataclass(frozen=True)
class NodeState:
    name: str
    ready: bool
    cordoned: bool  # spec.unschedulable
    kubelet_version: str
    condition: str  # "Ready=True", "Ready=False (KubeletNotReady: ...)"


def node_states(client: KubeClient) -> dict[str, NodeState]:
    """Every registered node: Ready, cordoned, kubelet version (one list call)."""
    out: dict[str, NodeState] = {}
    for n in client.call("listing nodes", client.core.list_node).items:
        ready, text = _ready_condition(n)
        info = n.status.node_info if n.status else None
        version = str(info.kubelet_version) if info is not None and info.kubelet_version else ""
        cordoned = bool(n.spec.unschedulable) if n.spec else False
        out[str(n.metadata.name)] = NodeState(str(n.metadata.name), ready, cordoned, version, text)
    return out


def nodes_ready(client: KubeClient) -> dict[str, bool]:
    """Every registered node and whether its Ready condition is True."""
    return {name: s.ready for name, s in node_states(client).items()}


def wait_ready(
    client: KubeClient,
    names: Iterable[str],
    timeout_s: float,
    *,
    poll_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once every named node is registered and Ready; raise UserError saying which are not."""
    wanted = sorted(set(names))
    deadline = clock() + timeout_s
    while True:
        nodes = {str(n.metadata.name): n for n in client.call("listing nodes", client.core.list_node).items}
        waiting: dict[str, str] = {}
        for name in wanted:
            if name not in nodes:
                waiting[name] = "not registered with the API server yet"
                continue
            ready, text = _ready_condition(nodes[name])
            if not ready:
                waiting[name] = text
        if not waiting:
            return
        now = clock()
        if now >= deadline:
            lines = "\n".join(f"  - {n}: {why}" for n, why in waiting.items())
            raise UserError(
                f"{len(waiting)} node(s) not Ready after {timeout_s:g}s at {client.server}:\n{lines}\n"
                "Check each with `kubegce diagnose instance NAME --zone ZONE` (boot phase and errors) "
                "and `kubectl describe node NAME`, or allow more time (--validation-timeout)."
            )
        sleep(max(0.0, min(poll_s, deadline - now)))
