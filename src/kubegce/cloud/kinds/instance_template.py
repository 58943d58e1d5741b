"""Instance template (global). Immutable: a changed template gets a new name (its body's hash)."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, tf_name
from kubegce.cloud.resources import Resource

TF_TYPE = "google_compute_instance_template"


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    """Metadata values go to data files read with file(), as kOps does."""
    b = r.body
    props = b["properties"]
    metadata = {item["key"]: tf.data_file(f"{TF_TYPE}_{tf_name(r)}_metadata_{item['key']}", item["value"])
                for item in props["metadata"]["items"]}  # fmt: skip
    disks = []
    for d in props["disks"]:
        init = d["initializeParams"]
        disk: dict[str, Any] = {"boot": d["boot"], "auto_delete": d["autoDelete"]}
        if "deviceName" in d:
            disk["device_name"] = d["deviceName"]
        if "sourceImage" in init:
            disk["source_image"] = init["sourceImage"]
        disks.append({**disk, "disk_size_gb": int(init["diskSizeGb"]), "disk_type": init["diskType"]})
    nics = []
    for n in props["networkInterfaces"]:
        nic: dict[str, Any] = {"network": tf.ref("network", n["network"]),
                               "subnetwork": tf.ref("subnetwork", n["subnetwork"])}  # fmt: skip
        if n.get("accessConfigs"):
            nic["access_config"] = [{}]
        nics.append(nic)
    sa = props["serviceAccounts"][0]
    return {
        "name": r.name, "project": tf.project, "description": b["description"],
        "machine_type": props["machineType"], "can_ip_forward": props["canIpForward"],
        "disk": disks, "network_interface": nics, "metadata": metadata,
        "service_account": [{"email": sa["email"], "scopes": sa["scopes"]}],
        "tags": props["tags"]["items"], "labels": props["labels"],
        "scheduling": [{"automatic_restart": props["scheduling"]["automaticRestart"],
                        "on_host_maintenance": props["scheduling"]["onHostMaintenance"]}],
        "lifecycle": {"create_before_destroy": True},
    }  # fmt: skip


KIND = Kind(
    name="instance_template",
    scope="global",
    api=ApiBinding(
        "instance_templates",
        "instance_template",
        "InstanceTemplate",
        "instanceTemplates",
    ),  # fmt: skip
    terraform=TfRendering(TF_TYPE, terraform),
    update=None,
    depends_on=("network", "subnetwork"),
)
