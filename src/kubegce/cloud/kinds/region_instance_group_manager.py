"""Regional managed instance group: one group over several zones of a region, its instances spread
evenly (distributionPolicy targetShape EVEN). Updated with its own calls: setInstanceTemplate,
setTargetPools, resize. GCE lists regional groups in the instanceGroupManagers aggregated list
(under regions/...), so finding them costs one list call, as for every other kind."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, ApiContext, Kind, TfContext, TfRendering, UpdateRequest
from kubegce.cloud.resources import Resource


def update(api: ApiContext, kind: Kind, req: UpdateRequest) -> None:
    c = api.clients.compute
    migs = kind.api.service(api.clients)
    key, body, changed = req.key, req.desired, req.changed
    if "distributionPolicy" in changed:
        raise ValueError(f"{key}: the zones of a regional instance group cannot change; delete the group's "
                         "regional MIG and apply again, or set spec.zoneDistribution: zonal")  # fmt: skip
    at = {**kind.where(api.project, key.location), "instance_group_manager": key.name}
    if "instanceTemplate" in changed:
        template = c.RegionInstanceGroupManagersSetTemplateRequest(instance_template=body["instanceTemplate"])
        api.mutate(key, lambda: migs.set_instance_template_unary(
            **at, region_instance_group_managers_set_template_request_resource=template, retry=None))  # fmt: skip
    if "targetPools" in changed:
        pools = c.RegionInstanceGroupManagersSetTargetPoolsRequest(target_pools=body.get("targetPools", []))
        api.mutate(key, lambda: migs.set_target_pools_unary(
            **at, region_instance_group_managers_set_target_pools_request_resource=pools, retry=None))  # fmt: skip
    if "targetSize" in changed:
        api.mutate(key, lambda: migs.resize_unary(**at, size=int(body["targetSize"]), retry=None))


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    policy = b.get("distributionPolicy", {})
    out = {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
           "base_instance_name": b["baseInstanceName"], "target_size": b["targetSize"],
           "distribution_policy_zones": [z["zone"].rsplit("/", 1)[-1] for z in policy.get("zones", [])],
           "distribution_policy_target_shape": policy.get("targetShape", "EVEN"),
           "version": [{"instance_template": tf.ref("instance_template", b["instanceTemplate"])}]}  # fmt: skip
    if "targetPools" in b:
        out["target_pools"] = [tf.ref("target_pool", u) for u in b["targetPools"]]
    return out


KIND = Kind(
    name="region_instance_group_manager",
    scope="region",
    api=ApiBinding(  # listed in the zonal groups' aggregated list, under regions/...
        "region_instance_group_managers",
        "instance_group_manager",
        "InstanceGroupManager",
        "regionInstanceGroupManagers",
        "instance_group_managers",
        path="instanceGroupManagers",
    ),  # fmt: skip
    terraform=TfRendering("google_compute_region_instance_group_manager", terraform),
    update=update,
    depends_on=("network", "subnetwork", "instance_template", "target_pool"),
)
