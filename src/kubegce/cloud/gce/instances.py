"""Read a cluster's instances and what they report about their boot."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.names import OWNER_LABEL, cluster_slug, url_tail
from kubegce.images.catalog import parse_image_url

INSTANCE_COLUMNS = ("INSTANCE", "ZONE", "GROUP", "IMAGE", "STATUS", "NEEDUPDATE", "CHANNEL", "PHASE", "ERROR")


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

    @property
    def phase(self) -> str:
        return self.attributes.get("phase", "-")

    def as_dict(self) -> dict[str, str]:
        return dict(zip([c.lower() for c in INSTANCE_COLUMNS], self.row(), strict=True))

    def row(self) -> tuple[str, ...]:
        return (self.name, self.zone, self.group, self.image, self.status, self.need_update, self.channel, self.phase,
                self.attributes.get("error", ""))  # fmt: skip


def list_instances(clients: ComputeClients, project: str, cluster: str) -> list[InstanceView]:
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
                )
            )
    _mark_need_update(clients, project, views)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for view, attrs in zip(views, pool.map(lambda v: guest_attributes(clients, project, v), views), strict=True):
            view.attributes = attrs
    return sorted(views, key=lambda v: (v.group, v.zone, v.name))


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
