"""Replace the control planes of one managed instance group, one at a time, keeping etcd.

The node-group roll (``kubegce.service.rolling``) calls :func:`roll_control_plane_group` for each
control-plane MIG before it touches node groups. Each instance is recreated with
``recreateInstances``: the group's stateful policy keeps its name, its etcd data disk and its
internal IP, so the new boot finds its etcd member (and /etc/kubernetes) on the kept disk and
restores it instead of running ``kubeadm init``/``join`` (lib/etcd.sh). The next instance is
recreated only when this one reported ``joined`` on its new boot and the control plane is
healthy again: every member of the group RUNNING and joined, and, with a Kubernetes API, every
control-plane node Ready and every etcd static pod Ready. Quorum is never at risk: at most one
member is down at any time.

Kill-safe: a run that finds a member mid-recreation (``currentAction`` not ``NONE``, or its boot
not yet joined) waits for it rather than recreating it again; ``instances`` names what still
needs replacing (the caller's stale list), so a rerun continues where the last one stopped.
See docs/rolling-update.md, "Control planes".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from kubegce.boot import protocol
from kubegce.cloud.gce.api import GceApi
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.resources import ResourceKey
from kubegce.errors import UserError

if TYPE_CHECKING:
    from kubegce.kube.client import KubeClient

KubeGet = Callable[[str], dict[str, Any]]  # GET a Kubernetes API path, the decoded JSON answer
Log = Callable[[str], None]
CONTROL_PLANE_SELECTOR = "node-role.kubernetes.io/control-plane"
STATIC_POD_COMPONENTS = ("etcd", "kube-apiserver")  # kubeadm's static pods a healthy member runs


class ControlPlaneRollError(UserError):
    """A control plane did not come back: names the instance, its phase and its error."""

    def __init__(self, instance: str, phase: str, error: str, message: str = "") -> None:
        cause = f"; `kubegce diagnose` names the cause ({error})" if error else ""
        super().__init__(message or f"control plane {instance} did not rejoin: phase {phase or 'none'}{cause}")
        self.instance = instance
        self.phase = phase
        self.error = error


class ControlPlaneUnhealthy(ControlPlaneRollError):
    """The control plane did not become healthy in time (before or after a recreation): nothing
    more is recreated. Names each problem (node or etcd/API server pod not Ready, boot phase)."""

    def __init__(self, group: str, replacing: str, problems: list[str], timeout_s: float,
                 cluster: str = "NAME") -> None:  # fmt: skip
        when = f"before recreating {replacing}" if replacing else "after the last recreation"
        super().__init__(
            replacing or group, "unhealthy", "; ".join(problems),
            f"the control plane (MIG {group}) was not healthy {when} within {timeout_s:.0f}s (--validation-timeout): "
            f"{'; '.join(problems)}. The rolling update stopped before recreating another member (etcd keeps "
            "quorum only while the others are healthy); check with `kubectl -n kube-system get pods -l "
            f"tier=control-plane -o wide` and `kubegce validate cluster {cluster}`, then run the rolling update again",
        )  # fmt: skip


@dataclass(frozen=True)
class Member:
    name: str
    id: str
    action: str  # listManagedInstances' currentAction: NONE, CREATING, RECREATING, ...
    status: str  # instanceStatus


@dataclass(frozen=True)
class Replaced:
    name: str
    old_id: str
    new_id: str
    address: str  # the internal IP of its new boot
    seconds: float


def roll_control_plane_group(
    clients: ComputeClients,
    project: str,
    zone: str,
    group: str,
    *,
    instances: Sequence[str] | None = None,
    kube_get: KubeGet | None = None,
    timeout_s: float = 900.0,
    poll_s: float = 2.0,
    log: Log | None = None,
    cluster: str = "NAME",
    replaced: Mapping[str, str] | None = None,
    record: Callable[[str, str], None] | None = None,
) -> list[Replaced]:
    """Recreate the control planes of MIG ``group`` in ``zone`` one at a time.

    ``instances``: the member names to replace (default: every member); names no longer in the
    group are skipped. ``kube_get``: reads the cluster's Kubernetes API (``kube_get("/api/v1/nodes")``
    returns the decoded JSON); with it, health also needs every control-plane node and every etcd
    static pod Ready (a real API server and the emulator's serve them alike); without it
    (``--cloudonly``) health is the members' boot phase. Waits at most ``timeout_s`` per instance.
    ``replaced`` and ``record`` keep a roll that replaces members whatever their template
    (``--force``) from replacing one twice, though a recreated member keeps its name: ``record(name,
    id)`` is called (and must be durable: the state store's roll marker) before a member is
    recreated, and a member that ``replaced`` names with an id it no longer has was recreated by an
    earlier, killed run of this roll and is skipped.
    Raises :class:`ControlPlaneRollError` when a boot fails or does not rejoin in time, and
    :class:`ControlPlaneUnhealthy` when the control plane is not healthy in time; returns what it
    replaced, in order.
    """
    say = log or (lambda _m: None)
    roller = _Roller(clients, project, zone, group, kube_get, timeout_s, poll_s, say)
    roller.cluster = cluster  # named in messages
    # A member mid-recreation (a killed run) is waited for first, never recreated twice.
    in_flight: set[str] = set()
    for m in roller.members():
        if m.action != "NONE":
            say(f"{m.name}: {m.action.lower()} already in progress; waiting for it to rejoin")
            roller.wait_rejoined(m.name, "")
            if m.action == "RECREATING":
                in_flight.add(m.name)
    wanted = list(instances) if instances is not None else [m.name for m in roller.members()]
    done: list[Replaced] = []
    for name in wanted:
        current = {m.name: m for m in roller.members()}
        if name in in_flight:
            say(f"{name}: replaced by the interrupted run; not recreated again")
            continue
        if name not in current:
            say(f"{name}: no longer in {group}; skipped")
            continue
        earlier = (replaced or {}).get(name)
        if earlier is not None and earlier != current[name].id:
            say(f"{name}: replaced earlier in this roll (instance {earlier} is gone); not recreated again")
            continue
        roller.wait_healthy(name)
        started = time.monotonic()
        old_id = current[name].id
        if record is not None:
            record(name, old_id)
        say(f"{name}: recreating (instance id {old_id})")
        roller.recreate(name)
        address = roller.wait_rejoined(name, old_id)
        new_id = roller.instance(name)["id"]
        done.append(Replaced(name, old_id, str(new_id), address, round(time.monotonic() - started, 1)))
        say(f"{name}: rejoined as instance {new_id} at {address}")
    if done:
        roller.wait_healthy("")
    return done


class _Roller:
    def __init__(self, clients: ComputeClients, project: str, zone: str, group: str, kube_get: KubeGet | None,
                 timeout_s: float, poll_s: float, log: Log) -> None:  # fmt: skip
        self.clients = clients
        self.project = project
        self.zone = zone
        self.group = group
        self.kube_get = kube_get
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.log = log
        self.api = GceApi(clients, project, "", group)
        self.key = ResourceKey("instance_group_manager", zone, group)
        self.cluster = "NAME"

    def members(self) -> list[Member]:
        c = self.clients.compute
        request = c.ListManagedInstancesInstanceGroupManagersRequest(
            project=self.project, zone=self.zone, instance_group_manager=self.group
        )
        got = self.api.call(lambda: list(self.clients.instance_group_managers.list_managed_instances(request=request)))
        return sorted(
            (Member(str(m.instance).rsplit("/", 1)[-1], str(m.id), str(m.current_action or "NONE"),
                    str(m.instance_status or "")) for m in got),
            key=lambda m: m.name,
        )  # fmt: skip

    def instance(self, name: str) -> dict[str, Any]:
        c = self.clients.compute
        got = self.api.call(lambda: self.clients.instances.get(project=self.project, zone=self.zone, instance=name))
        return dict(json.loads(c.Instance.to_json(got)))

    def attributes(self, name: str) -> dict[str, str]:
        c = self.clients.compute
        request = c.GetGuestAttributesInstanceRequest(project=self.project, zone=self.zone, instance=name,
                                                      query_path=f"{protocol.ATTRIBUTE_NAMESPACE}/")  # fmt: skip
        try:
            got = self.clients.instances.get_guest_attributes(request=request)
        except self.clients.api_error:
            return {}
        return {i.key: i.value for i in got.query_value.items if i.namespace == protocol.ATTRIBUTE_NAMESPACE}

    def recreate(self, name: str) -> None:
        c = self.clients.compute
        url = f"projects/{self.project}/zones/{self.zone}/instances/{name}"
        body = c.InstanceGroupManagersRecreateInstancesRequest(instances=[url])
        self.api.mutate(self.key, lambda: self.clients.instance_group_managers.recreate_instances_unary(
            project=self.project, zone=self.zone, instance_group_manager=self.group,
            instance_group_managers_recreate_instances_request_resource=body, retry=None))  # fmt: skip

    def wait_rejoined(self, name: str, old_id: str) -> str:
        """Until ``name`` runs as a new instance (id other than ``old_id``) whose boot reported
        joined; its internal IP. A boot that reports failed stops the roll with its error."""
        deadline = time.monotonic() + self.timeout_s
        phase = ""
        while time.monotonic() < deadline:
            member = next((m for m in self.members() if m.name == name), None)
            if member is not None and member.action == "NONE" and member.id != old_id:
                attrs = self.attributes(name)
                phase = attrs.get(protocol.ATTR_PHASE, "")
                if phase == protocol.FAILED:
                    raise ControlPlaneRollError(name, phase, attrs.get(protocol.ATTR_ERROR, ""))
                if phase == protocol.JOINED:
                    nics = self.instance(name).get("networkInterfaces") or [{}]
                    return str(nics[0].get("networkIP", ""))
            time.sleep(self.poll_s)
        raise ControlPlaneRollError(name, phase, f"not joined within {self.timeout_s:.0f}s")

    def wait_healthy(self, replacing: str) -> None:
        """Until every member is RUNNING and joined and the Kubernetes API (when given) reports
        every control-plane node and etcd pod Ready: a roll never starts on a degraded quorum."""
        deadline = time.monotonic() + self.timeout_s
        problems: list[str] = []
        last: list[str] = []
        while time.monotonic() < deadline:
            problems = []
            for m in self.members():
                if m.action != "NONE" or m.status != "RUNNING":
                    problems.append(f"{m.name} is {m.action.lower()}/{m.status.lower()}")
                elif (phase := self.attributes(m.name).get(protocol.ATTR_PHASE, "")) != protocol.JOINED:
                    problems.append(f"{m.name} boot phase {phase or 'none'}")
            if not problems and self.kube_get is not None:
                problems = kube_control_plane_problems(self.kube_get)
            if not problems:
                return
            if problems != last:
                self.log(f"{self.group}: waiting for the control plane: {'; '.join(problems)}")
                last = problems
            time.sleep(self.poll_s)
        raise ControlPlaneUnhealthy(self.group, replacing, problems, self.timeout_s, self.cluster)


def _ready(obj: dict[str, Any]) -> bool:
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def kube_control_plane_problems(kube_get: KubeGet) -> list[str]:
    """What keeps the control plane from being healthy, as the Kubernetes API reports it: every
    control-plane node Ready, and on each of them kubeadm's ``etcd`` and ``kube-apiserver``
    static pods (``component=...`` in kube-system) Ready. Empty: healthy."""
    nodes = kube_get(f"/api/v1/nodes?labelSelector={CONTROL_PLANE_SELECTOR}").get("items", [])
    problems = [f"node {n['metadata']['name']} not Ready" for n in nodes if not _ready(n)]
    if not nodes:
        problems.append("no control-plane node registered")
    for component in STATIC_POD_COMPONENTS:
        pods = kube_get(f"/api/v1/namespaces/kube-system/pods?labelSelector=component%3D{component}").get("items", [])
        problems += [f"{component} pod {p['metadata']['name']} not Ready" for p in pods if not _ready(p)]
        on = {str(p.get("spec", {}).get("nodeName", "")) for p in pods}
        problems += [f"no {component} pod on control-plane node {n['metadata']['name']}" for n in nodes
                     if n["metadata"]["name"] not in on]  # fmt: skip
    return problems


def kube_get_for(client: KubeClient) -> KubeGet:
    """The ``kube_get`` of a :class:`kubegce.kube.client.KubeClient` (a real API server from the
    cluster's kubeconfig, or the emulator's): the reads the health check makes."""

    def get(path: str) -> dict[str, Any]:
        base, _, query = path.partition("?")
        selector = parse_qs(query).get("labelSelector", [""])[0]
        parts = base.strip("/").split("/")
        if parts == ["api", "v1", "nodes"]:
            got = client.call("listing control-plane nodes", client.core.list_node, label_selector=selector)
        elif len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
            got = client.call(f"listing pods in {parts[3]}", client.core.list_namespaced_pod, parts[3],
                              label_selector=selector)  # fmt: skip
        else:
            raise ValueError(f"kube_get_for: no read for {path}")
        return dict(client.api_client.sanitize_for_serialization(got))

    return get
