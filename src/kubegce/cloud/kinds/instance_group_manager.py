"""Zonal managed instance group. Updated with its own calls: setInstanceTemplate, setTargetPools, resize;
its stateful policy (control planes keep their etcd disk and internal IP) with a patch."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, ApiContext, Kind, TfContext, TfRendering, UpdateRequest
from kubegce.cloud.resources import Resource


def update(api: ApiContext, kind: Kind, req: UpdateRequest) -> None:
    c = api.clients.compute
    migs = kind.api.service(api.clients)
    key, body, changed = req.key, req.desired, req.changed
    at = {**kind.where(api.project, key.location), "instance_group_manager": key.name}
    if "instanceTemplate" in changed:
        template = c.InstanceGroupManagersSetInstanceTemplateRequest(instance_template=body["instanceTemplate"])
        api.mutate(key, lambda: migs.set_instance_template_unary(
            **at, instance_group_managers_set_instance_template_request_resource=template, retry=None))  # fmt: skip
    if "targetPools" in changed:
        pools = c.InstanceGroupManagersSetTargetPoolsRequest(target_pools=body.get("targetPools", []))
        api.mutate(key, lambda: migs.set_target_pools_unary(
            **at, instance_group_managers_set_target_pools_request_resource=pools, retry=None))  # fmt: skip
    if "statefulPolicy" in changed:  # an existing cluster's control-plane group becomes stateful in place
        patch = {"statefulPolicy": body["statefulPolicy"], "fingerprint": req.actual.get("fingerprint", "")}
        api.mutate(key, kind.api.patch(api.clients, kind.where(api.project, key.location), key.name, patch))
    if "targetSize" in changed:
        api.mutate(key, lambda: migs.resize_unary(**at, size=int(body["targetSize"]), retry=None))


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    out = {"name": r.name, "project": tf.project, "zone": r.location, "description": b["description"],
           "base_instance_name": b["baseInstanceName"], "target_size": b["targetSize"],
           "version": [{"instance_template": tf.ref("instance_template", b["instanceTemplate"])}]}  # fmt: skip
    if "targetPools" in b:
        out["target_pools"] = [tf.ref("target_pool", u) for u in b["targetPools"]]
    if r.tf_ignore_changes:  # the cluster autoscaler owns the size (docs/autoscaling.md)
        out["lifecycle"] = {"ignore_changes": list(r.tf_ignore_changes)}
    preserved = b.get("statefulPolicy", {}).get("preservedState", {})
    if preserved.get("disks"):
        out["stateful_disk"] = [{"device_name": name, "delete_rule": rule["autoDelete"]}
                                for name, rule in sorted(preserved["disks"].items())]  # fmt: skip
    if preserved.get("internalIPs"):
        out["stateful_internal_ip"] = [{"interface_name": nic, "delete_rule": rule["autoDelete"]}
                                       for nic, rule in sorted(preserved["internalIPs"].items())]  # fmt: skip
    return out


KIND = Kind(
    name="instance_group_manager",
    scope="zone",
    api=ApiBinding(
        "instance_group_managers",
        "instance_group_manager",
        "InstanceGroupManager",
        "instanceGroupManagers",
        "instance_group_managers",
    ),  # fmt: skip
    terraform=TfRendering("google_compute_instance_group_manager", terraform),
    update=update,
    depends_on=("network", "subnetwork", "instance_template", "target_pool"),
)
