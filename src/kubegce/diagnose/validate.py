"""`validate cluster`: every group at its target size, every node initialized (and Ready, given a
kubeconfig)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegce.cloud.gce.instances import InstanceView, SpotGroups, list_instances
from kubegce.cloud.gce.target import GceTarget
from kubegce.errors import UserError
from kubegce.spec.validate import region_of


@dataclass
class GroupStatus:
    mig: str
    zone: str
    group: str
    target: int
    current: int


@dataclass
class NodeStatus:
    view: InstanceView
    ready: bool
    ready_source: str  # "kubernetes" | "phase"


@dataclass
class Report:
    groups: list[GroupStatus] = field(default_factory=list)
    nodes: list[NodeStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "groups": [g.__dict__ for g in self.groups],
            "nodes": [
                {
                    "instance": n.view.name,
                    "zone": n.view.zone,
                    "group": n.view.group,
                    "status": n.view.status,
                    "channel": n.view.channel,
                    "phase": n.view.phase,
                    "error": n.view.attributes.get("error", ""),
                    "ready": n.ready,
                    "readySource": n.ready_source,
                }  # fmt: skip
                for n in self.nodes
            ],
            "problems": self.problems,
        }


def kubernetes_ready(kubeconfig: str) -> dict[str, bool]:
    import importlib

    try:
        k8s: Any = importlib.import_module("kubernetes")  # optional extra: imported only here
    except ImportError:
        raise UserError("--kubeconfig needs the kubernetes client: pip install 'kubegce[kubernetes]'") from None
    try:
        api = k8s.client.CoreV1Api(k8s.config.new_client_from_config(config_file=kubeconfig))
        nodes = api.list_node(timeout_seconds=20).items
    except Exception as exc:  # unreachable API, bad credentials: say so, do not crash
        raise UserError(f"cannot read nodes with {kubeconfig}: {exc}") from None
    ready: dict[str, bool] = {}
    for node in nodes:
        conditions = {c.type: c.status for c in (node.status.conditions or [])}
        ready[node.metadata.name] = conditions.get("Ready") == "True"
    return ready


def validate(target: GceTarget, kubeconfig: str | None = None, *, node_ready: Mapping[str, bool] | None = None,
             spot: SpotGroups | None = None) -> Report:  # fmt: skip
    """The cluster's report. Node readiness: Kubernetes' (``node_ready``, read by the caller, e.g.
    the rolling update through its own client; or read here with ``kubeconfig``), else the boot phase."""
    report = Report()
    found = target.find()
    migs = {
        k: v for k, v in found.owned.items() if k.kind in ("instance_group_manager", "region_instance_group_manager")
    }
    views = list_instances(target.clients, target.project, target.cluster_name, spot)
    if not migs:
        report.problems.append(f"cluster {target.cluster_name} has no instance groups in project {target.project}")
    for key, mig in sorted(migs.items()):
        base = str(mig.get("baseInstanceName", ""))
        mine = [v for v in views if key.location in (v.zone, region_of(v.zone)) and v.name.startswith(base + "-")]
        members = [v for v in mine if not v.absent]
        group = members[0].group if members else base
        status = GroupStatus(key.name, key.location, group, int(mig.get("targetSize", 0)), len(members))
        report.groups.append(status)
        if status.current != status.target:
            gone = [v.name for v in mine if v.absent]
            why = (
                f" ({', '.join(gone)}: preempted by GCE; the group recreates it when capacity is back)" if gone else ""
            )
            report.problems.append(f"{key.name} ({key.location}): {status.current} of {status.target} instances{why}")
    ready = dict(node_ready) if node_ready is not None else kubernetes_ready(kubeconfig) if kubeconfig else None
    for v in views:
        if ready is not None:
            node = NodeStatus(v, ready.get(v.name, False), "kubernetes")
        else:
            node = NodeStatus(v, v.phase == "joined" and v.status == "RUNNING", "phase")
        report.nodes.append(node)
        if not node.ready:
            why = f"phase {v.phase}" + (f" ({v.attributes['error']})" if v.attributes.get("error") else "")
            if v.preempted and v.phase != "failed":
                # not a failed boot: GCE took the Spot VM back; it comes back and joins again
                back = "its group recreates it when capacity is back" if v.absent else "it is booting again"
                why = f"Spot VM preempted by GCE at {v.preempted} ({back})"
            if ready is not None:
                why = "not Ready in Kubernetes; " + why
            report.problems.append(
                f"{v.name} ({v.zone}): {why}; `kubegce diagnose instance {v.name} --zone {v.zone} --project {target.project}`"
            )
    return report
