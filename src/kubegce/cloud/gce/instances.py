"""Read a cluster's instances and what they report about their boot."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubegce.boot import protocol
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.names import OWNER_LABEL, cluster_slug, url_tail
from kubegce.images.catalog import parse_image_url

INSTANCE_COLUMNS = ("INSTANCE", "ZONE", "GROUP", "IMAGE", "STATUS", "NEEDUPDATE", "CHANNEL", "PHASE", "ERROR")
# a GPU node's driver phase (the gpu guest attribute, read with the others): shown after PHASE when
# any instance reports one, so a cluster without GPUs keeps INSTANCE_COLUMNS
GPU_COLUMN = "GPU"


@dataclass
class InstanceView:
    name: str
    zone: str
    group: str
    image: str
    status: str
    channel: str
    attributes: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    need_update: str = "-"  # yes/no: its instance template is not its MIG's ("-": not in a MIG)
    created: str = ""  # creationTimestamp (RFC 3339)
    preempted: str = ""  # when GCE last preempted this Spot VM (its compute.instances.preempted operation)
    spot: bool = False  # scheduling.provisioningModel SPOT
    absent: bool = False  # preempted, deleted, and not recreated yet: no instance exists

    @property
    def phase(self) -> str:
        return self.attributes.get("phase", "-")

    @property
    def shown_status(self) -> str:
        """GCE's status, or PREEMPTED while a preempted Spot VM is down or has not joined again."""
        if self.preempted and (self.status != "RUNNING" or self.phase not in ("joined", "failed")):
            return "PREEMPTED"
        return self.status

    @property
    def gpu(self) -> str:
        """The GPU driver's phase: "ready 580.95.05", "installing 580", the cause code of a failed
        install ("gpu-secure-boot"), or "" when the instance reports none."""
        value = self.attributes.get(protocol.ATTR_GPU, "")
        status = protocol.parse_gpu_status(value)
        if status is None:
            return value.strip()
        if status.state in (protocol.GPU_INSTALLING, protocol.GPU_READY):
            return f"{status.state} {status.detail}".strip()
        return status.state

    def as_dict(self) -> dict[str, str]:
        out = dict(zip([c.lower() for c in INSTANCE_COLUMNS], self.row(), strict=True))
        if self.gpu:
            out["gpu"] = self.gpu
        if self.preempted:
            out.update(gceStatus=self.status, preempted=self.preempted)
        return out

    def row(self) -> tuple[str, ...]:
        return (self.name, self.zone, self.group, self.image, self.shown_status, self.need_update, self.channel,
                self.phase, self.attributes.get("error", ""))  # fmt: skip


def instance_table(views: list[InstanceView]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(columns, rows) of `get instances`: INSTANCE_COLUMNS, with GPU after PHASE when any instance
    reports a GPU driver phase ("-" for the others)."""
    rows = [v.row() for v in views]
    if not any(v.gpu for v in views):
        return INSTANCE_COLUMNS, rows
    at = INSTANCE_COLUMNS.index("PHASE") + 1
    columns = (*INSTANCE_COLUMNS[:at], GPU_COLUMN, *INSTANCE_COLUMNS[at:])
    return columns, [(*r[:at], v.gpu or "-", *r[at:]) for v, r in zip(views, rows, strict=True)]


def list_instances(clients: ComputeClients, project: str, cluster: str, spot: SpotGroups | None = None
                   ) -> list[InstanceView]:  # fmt: skip
    """The cluster's instances (and its Spot VMs that GCE preempted and not yet gave back: ``spot``
    names its Spot groups, from the spec)."""
    c = clients.compute
    request = c.AggregatedListInstancesRequest(
        project=project, filter=f'labels.{OWNER_LABEL} = "{cluster_slug(cluster)}"', max_results=500
    )
    views: list[InstanceView] = []
    for scope, scoped in clients.instances.aggregated_list(request=request):
        for inst in scoped.instances:
            data = json.loads(c.Instance.to_json(inst))
            md = {i["key"]: i.get("value", "") for i in data.get("metadata", {}).get("items", [])}
            source = (data.get("disks") or [{}])[0].get("initializeParams", {}).get("sourceImage", "")
            parsed = parse_image_url(source)
            views.append(
                InstanceView(
                    name=data["name"],
                    zone=scope.rsplit("/", 1)[-1],
                    group=md.get("kubegce-instance-group", "?"),
                    image=f"{parsed[0]}/{parsed[1] or parsed[2]}" if parsed else source,
                    status=data.get("status", "?"),
                    channel=md.get("kubegce-boot-channel", "?"),
                    metadata=md,
                    created=str(data.get("creationTimestamp", "")),
                    spot=(data.get("scheduling") or {}).get("provisioningModel") == "SPOT",
                )
            )
    _mark_need_update(clients, project, views)
    views += _mark_preempted(clients, project, views, spot)
    existing = [v for v in views if not v.absent]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for view, attrs in zip(existing, pool.map(lambda v: guest_attributes(clients, project, v), existing),
                               strict=True):  # fmt: skip
            view.attributes = attrs
    return sorted(views, key=lambda v: (v.group, v.zone, v.name))


PREEMPTED_OPERATION = "compute.instances.preempted"
# A preemption counts for this long after it happened (the VM is back and joined well before; an
# older one is history, not the reason a node is down today) ...
PREEMPTION_RECENT_S = 3600
# ... and, for an instance that exists, only if it is no older than this before the instance was
# created (a DELETE-action Spot VM is recreated after its preemption, with a new creationTimestamp).
PREEMPTION_RECREATE_S = 600
# A cluster's Spot groups as `get instances` and `validate` are told of them by the spec: group name
# -> its managed instance groups, as (zone or region, MIG name)
SpotGroups = dict[str, tuple[tuple[str, str], ...]]


def _mark_preempted(clients: ComputeClients, project: str, views: list[InstanceView], spot: SpotGroups | None
                    ) -> list[InstanceView]:  # fmt: skip
    """GCE records each preemption as a zone operation (compute.instances.preempted): read them once
    per zone that has a Spot VM of the cluster (or a Spot group's MIG), and mark the instances
    preempted recently. A preempted DELETE-action VM that its group has not recreated yet (no
    capacity) exists no more: its MIG lists the member as CREATING with no instance status; such a
    member is returned as an absent view of its group (PREEMPTED), so it is not lost."""
    pending = _pending_members(clients, project, spot or {})
    zones = {v.zone for v in views if v.spot} | {zone for zone, _, _ in pending}
    now = datetime.now(UTC)
    absent: list[InstanceView] = []
    for zone in sorted(zones):
        params = {"filter": f'operationType = "{PREEMPTED_OPERATION}"', "maxResults": 500}
        try:
            pages = clients.rest_pages(f"projects/{project}/zones/{zone}/operations", params)
        except clients.api_error:
            continue  # no permission to list operations: the status stays GCE's
        latest: dict[str, datetime] = {}
        for page in pages:
            for op in page.get("items", []):
                name = str(op.get("targetLink", "")).rstrip("/").rsplit("/", 1)[-1]
                when = _time(str(op.get("insertTime", "")))
                if when is not None and (now - when).total_seconds() <= PREEMPTION_RECENT_S:
                    latest[name] = max(latest.get(name, when), when)
        for v in views:
            when = latest.get(v.name) if v.zone == zone else None
            created = _time(v.created)
            if when is not None and (created is None or (created - when).total_seconds() <= PREEMPTION_RECREATE_S):
                v.preempted = when.isoformat()
        for member_zone, name, group in pending:
            if member_zone == zone and (when := latest.get(name)) is not None:
                absent.append(InstanceView(name, zone, group, "-", "-", "-", preempted=when.isoformat(), spot=True,
                                           absent=True))  # fmt: skip
    return absent


def _pending_members(clients: ComputeClients, project: str, spot: SpotGroups) -> list[tuple[str, str, str]]:
    """Members the Spot groups' MIGs are (re)creating that have no instance yet: (zone, name, group)."""
    out = []
    for group, migs in sorted(spot.items()):
        for location, mig in migs:
            kind = "zones" if location.count("-") == 2 else "regions"
            collection = "instanceGroupManagers" if kind == "zones" else "regionInstanceGroupManagers"
            try:
                got = clients.rest("POST", f"projects/{project}/{kind}/{location}/{collection}/{mig}/listManagedInstances",
                                   params={"maxResults": 500})  # fmt: skip
            except clients.api_error:
                continue  # not created yet, or no permission: nothing to add
            for mi in got.get("managedInstances", []):
                url = str(mi.get("instance", ""))
                m = re.search(r"/zones/([^/]+)/instances/([^/]+)\Z", url)
                if m and mi.get("currentAction") in ("CREATING", "RECREATING") and not mi.get("instanceStatus"):
                    out.append((m[1], m[2], group))
    return out


def _time(text: str) -> datetime | None:
    """An RFC 3339 time (GCE writes them with an offset: 2026-12-07T03:04:05.123-08:00)."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _mark_need_update(clients: ComputeClients, project: str, views: list[InstanceView]) -> None:
    """Compare each instance's `instance-template` metadata (GCE adds it) with its MIG's template,
    reading each MIG once."""
    templates: dict[str, str] = {}
    for view in views:
        mig = view.metadata.get("created-by", "")
        made_from = view.metadata.get("instance-template", "")
        m = re.fullmatch(r"projects/[^/]+/zones/([^/]+)/instanceGroupManagers/([^/]+)", url_tail(mig))
        if not m or not made_from:
            continue
        if mig not in templates:
            try:
                got = clients.instance_group_managers.get(project=project, zone=m[1], instance_group_manager=m[2])
                templates[mig] = url_tail(got.instance_template)
            except clients.api_error:
                templates[mig] = ""
        if templates[mig]:
            view.need_update = "yes" if url_tail(made_from) != templates[mig] else "no"


def guest_attributes(clients: ComputeClients, project: str, view: InstanceView, namespace: str = "kubegce"
                     ) -> dict[str, str]:  # fmt: skip
    try:
        request = clients.compute.GetGuestAttributesInstanceRequest(
            project=project, zone=view.zone, instance=view.name, query_path=f"{namespace}/"
        )
        got = clients.instances.get_guest_attributes(request=request)
    except clients.api_error:
        return {}
    return {item.key: item.value for item in got.query_value.items if item.namespace == namespace}


def serial_output(clients: ComputeClients, project: str, zone: str, instance: str) -> str:
    request = clients.compute.GetSerialPortOutputInstanceRequest(project=project, zone=zone, instance=instance, port=1)
    got = clients.instances.get_serial_port_output(request=request)
    return str(got.contents)
