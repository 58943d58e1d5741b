"""Gather what diagnose needs from the Compute API for one instance."""

from __future__ import annotations

import json

from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.instances import InstanceView, guest_attributes, serial_output
from kubegce.diagnose.analyze import Context
from kubegce.errors import NotFoundError
from kubegce.images.catalog import IMAGE_URL_TAIL, Catalog


def instance_context(clients: ComputeClients, project: str, zone: str, name: str, catalog: Catalog
                     ) -> tuple[str, Context]:  # fmt: skip
    try:
        inst = clients.instances.get(project=project, zone=zone, instance=name)
    except clients.not_found:
        raise NotFoundError(f"instance {name} not found in project {project} zone {zone}") from None
    data = json.loads(clients.compute.Instance.to_json(inst))
    md = {i["key"]: i.get("value", "") for i in data.get("metadata", {}).get("items", [])}
    disk = (data.get("disks") or [{}])[0]
    profile = catalog.by_license(tuple(disk.get("licenses", [])))
    image_ref = ""
    source = disk.get("initializeParams", {}).get("sourceImage", "")
    if source:
        m = IMAGE_URL_TAIL.search(source)
        image_ref = m.group(0) if m else source
        if profile is None:
            profile = catalog.resolve(image_ref).profile
    view = InstanceView(name, zone, md.get("kubegce-instance-group", ""), image_ref, data.get("status", ""),
                        md.get("kubegce-boot-channel", ""))  # fmt: skip
    log = serial_output(clients, project, zone, name)
    ctx = Context(metadata=md, image=profile, image_ref=image_ref, guest_attributes=guest_attributes(clients, project, view),
                  instance=name, zone=zone, cluster=md.get("cluster-name", ""), group=view.group)  # fmt: skip
    return log, ctx
