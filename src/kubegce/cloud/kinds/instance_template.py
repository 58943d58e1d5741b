"""Instance template (global). Immutable: a changed template gets a new name (its body's hash)."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, tf_name
from kubegce.cloud.resources import Resource

TF_TYPE = "google_compute_instance_template"


def scheduling(body: dict[str, Any]) -> dict[str, Any]:
    """The scheduling block (google provider's google_compute_instance_template, scheduling). For
    Spot the provider wants preemptible = true beside provisioning_model = SPOT (its documentation and
    Google's Terraform sample), though the Compute API takes provisioningModel alone."""
    out: dict[str, Any] = {
        "automatic_restart": body["automaticRestart"],
        "on_host_maintenance": body["onHostMaintenance"],
    }
    if "provisioningModel" in body:
        out["provisioning_model"] = body["provisioningModel"]
        out["preemptible"] = body["provisioningModel"] == "SPOT"
    if "instanceTerminationAction" in body:
        out["instance_termination_action"] = body["instanceTerminationAction"]
    return out


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
        "scheduling": [scheduling(props["scheduling"])],
        **({"guest_accelerator": [{"type": a["acceleratorType"], "count": a["acceleratorCount"]}
                                  for a in props["guestAccelerators"]]} if props.get("guestAccelerators") else {}),
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
