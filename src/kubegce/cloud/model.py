"""Model builder: turn a planned cluster (spec + boot plans) into the desired resource graph.

Bodies are in Compute API JSON shape; the Terraform target translates them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubegce.boot.kubeadm import API_HEALTH_PATH, API_HEALTH_PORT
from kubegce.boot.plans import ClusterBoot, GroupBoot
from kubegce.cloud.graph import Resource, ResourceGraph, ResourceKey
from kubegce.cloud.kinds.firewall import split_by_family
from kubegce.cloud.names import (
    OWNER_LABEL,
    cluster_slug,
    gce_name,
    owner_description,
    role_tag,
    zone_letter,
)
from kubegce.spec import gce_accelerators
from kubegce.spec.autoscaler import autoscaled
from kubegce.spec.models import ClusterBundle, InstanceGroup, ProvisioningModel, Role
from kubegce.spec.validate import region_of

ALL_PROTOCOLS = ["tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip"]
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Where GCE's legacy HTTP health checks (a target pool's) come from: GCE's documented prober
# ranges (cloud.google.com/load-balancing/docs/health-check-concepts, "Probe IP ranges").
LEGACY_HEALTH_CHECK_RANGES = ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]
# The API's health check: every 5 s, 2 failures out (10 s), 2 passes back in.
API_HEALTH_CHECK: dict[str, Any] = {"port": API_HEALTH_PORT, "requestPath": API_HEALTH_PATH, "checkIntervalSec": 5,
                                    "timeoutSec": 5, "healthyThreshold": 2, "unhealthyThreshold": 2}  # fmt: skip


# A control plane's etcd data (and its /etc/kubernetes, see lib/etcd.sh) lives on a separate
# persistent disk that its MIG's stateful policy keeps, with the instance's internal IP, across
# recreateInstances: a recreated control plane comes back with the same name, data and address
# (docs/rolling-update.md, "Control planes").
ETCD_DEVICE_NAME = "etcd"
ETCD_DISK_SIZE_GB = 20
CONTROL_PLANE_STATEFUL_POLICY: dict[str, Any] = {
    "preservedState": {
        "disks": {ETCD_DEVICE_NAME: {"autoDelete": "ON_PERMANENT_INSTANCE_DELETION"}},
        "internalIPs": {"nic0": {"autoDelete": "ON_PERMANENT_INSTANCE_DELETION"}},
    }
}


def etcd_disk_template() -> dict[str, Any]:
    """The etcd data disk of a control plane's instance template (created with each instance)."""
    return {
        "boot": False,
        "autoDelete": True,
        "type": "PERSISTENT",
        "deviceName": ETCD_DEVICE_NAME,
        "initializeParams": {"diskSizeGb": str(ETCD_DISK_SIZE_GB), "diskType": "pd-balanced"},
    }


def _url(project: str, *path: str) -> str:
    return "projects/" + project + "/" + "/".join(path)


def split_size(total: int, zones: list[str]) -> dict[str, int]:
    """Spread a group's size over its zones, the remainder to the first zones."""
    base, extra = divmod(total, len(zones))
    return {z: base + (1 if i < extra else 0) for i, z in enumerate(zones)}


def template_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]


def build_graph(boot: ClusterBoot) -> ResourceGraph:
    bundle = boot.bundle
    c = bundle.cluster
    s = c.spec
    project = s.project
    graph = ResourceGraph(project=project, cluster_name=c.name)
    desc = owner_description(c.name)
    labels = {**s.cloud_labels, OWNER_LABEL: cluster_slug(c.name)}
    cp_tag = role_tag(c.name, "control-plane")
    node_tag = role_tag(c.name, "node")

    network = graph.add(
        Resource(
            "network",
            gce_name(c.name),
            {
                "name": gce_name(c.name),
                "description": desc,
                "autoCreateSubnetworks": False,
                "routingConfig": {"routingMode": "REGIONAL"},
            },
        )
    )
    network_url = _url(project, "global/networks", network.name)
    subnets: dict[str, Resource] = {}
    for sub in s.subnets:
        name = gce_name(sub.name, c.name)
        subnets[sub.region] = graph.add(
            Resource(
                "subnetwork",
                name,
                {
                    "name": name,
                    "description": desc,
                    "network": network_url,
                    "ipCidrRange": sub.cidr,
                    "privateIpGoogleAccess": True,
                },
                location=sub.region,
                depends_on=(network.key,),
            )
        )

    if s.topology == "private":
        # nodes without external IPs reach package mirrors and registries through Cloud NAT
        for region, subnet in sorted(subnets.items()):
            name = gce_name("nat", region, c.name)
            graph.add(
                Resource(
                    "router",
                    name,
                    {
                        "name": name,
                        "description": desc,
                        "network": network_url,
                        "nats": [
                            {
                                "name": name,
                                "natIpAllocateOption": "AUTO_ONLY",
                                "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                            }
                        ],
                    },
                    location=region,
                    depends_on=(network.key, subnet.key),
                )
            )

    def firewall(name: str, allowed: list[dict[str, Any]], *, sources: list[str] | None = None,
                 source_tags: list[str] | None = None, targets: list[str]) -> None:  # fmt: skip
        # GCE refuses a rule mixing IPv4 and IPv6 source ranges: one rule per family present.
        rules: list[tuple[str, list[str]]] = split_by_family(name, sources) if sources else [(name, [])]
        for rule_name, ranges in rules:
            body: dict[str, Any] = {
                "name": gce_name(rule_name, c.name),
                "description": desc,
                "network": network_url,
                "direction": "INGRESS",
                "priority": 1000,
                "allowed": allowed,
                "targetTags": targets,
            }
            if ranges:
                body["sourceRanges"] = ranges
            if source_tags:
                body["sourceTags"] = source_tags
            graph.add(Resource("firewall", body["name"], body, depends_on=(network.key,)))

    everything = [{"IPProtocol": p} for p in ALL_PROTOCOLS]
    firewall("ssh-external-to-node", [{"IPProtocol": "tcp", "ports": ["22"]}],
             sources=s.ssh_access, targets=[node_tag])  # fmt: skip
    firewall("ssh-external-to-control-plane", [{"IPProtocol": "tcp", "ports": ["22"]}],
             sources=s.ssh_access, targets=[cp_tag])  # fmt: skip
    firewall("https-api-external", [{"IPProtocol": "tcp", "ports": ["443"]}],
             sources=s.kubernetes_api_access, targets=[cp_tag])  # fmt: skip
    firewall("nodeport-internal-to-node",
             [{"IPProtocol": "tcp", "ports": ["30000-32767"]}, {"IPProtocol": "udp", "ports": ["30000-32767"]}],
             sources=[sub.cidr for sub in s.subnets], targets=[node_tag])  # fmt: skip
    firewall("node-to-control-plane", everything, source_tags=[node_tag], targets=[cp_tag])
    firewall("control-plane-to-node", everything, source_tags=[cp_tag], targets=[node_tag, cp_tag])
    firewall("node-to-node", everything, source_tags=[node_tag], targets=[node_tag])
    firewall("pod-cidrs-to-node", everything, sources=[s.networking.pod_cidr], targets=[node_tag, cp_tag])

    control_planes = sum(g.spec.min_size for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE)
    pools: dict[str, ResourceKey] = {}
    if control_planes > 1:
        # GCE's probers reach each control plane's health port (lib/health.sh); one global check.
        firewall("api-health-checks", [{"IPProtocol": "tcp", "ports": [str(API_HEALTH_PORT)]}],
                 sources=LEGACY_HEALTH_CHECK_RANGES, targets=[cp_tag])  # fmt: skip
        check_name = gce_name("api", c.name)
        check = graph.add(Resource("http_health_check", check_name,
                                   {"name": check_name, "description": desc, **API_HEALTH_CHECK}))  # fmt: skip
        cp_regions = sorted(
            {region_of(z) for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE for z in g.spec.zones}
        )
        for region in cp_regions:
            name = gce_name("api", c.name)
            address = graph.add(
                Resource(
                    "address",
                    name,
                    {"name": name, "description": desc, "addressType": "EXTERNAL", "labels": labels},
                    location=region,
                )  # fmt: skip
            )
            pool = graph.add(
                Resource(
                    "target_pool",
                    name,
                    {
                        "name": name,
                        "description": desc,
                        "sessionAffinity": "NONE",
                        "healthChecks": [_url(project, "global", "httpHealthChecks", check_name)],
                    },
                    location=region,
                    depends_on=(check.key,),
                )  # fmt: skip
            )
            graph.add(
                Resource(
                    "forwarding_rule",
                    name,
                    {
                        "name": name,
                        "description": desc,
                        "IPProtocol": "TCP",
                        "portRange": "443-443",
                        "loadBalancingScheme": "EXTERNAL",
                        "IPAddress": _url(project, "regions", region, "addresses", name),
                        "target": _url(project, "regions", region, "targetPools", name),
                        "labels": labels,
                    },
                    location=region,
                    depends_on=(address.key, pool.key),
                )
            )
            pools[region] = pool.key

    for gb in boot.groups:
        _group_resources(graph, gb, labels=labels, desc=desc, subnets=subnets, pools=pools,
                         network_url=network_url, cp_tag=cp_tag, node_tag=node_tag,
                         public=s.topology == "public", service_account=s.service_account,
                         autoscaled=autoscaled(boot.bundle, gb.group))  # fmt: skip
    return graph


# What GCE does when it preempts a Spot VM of a group that names no spec.instanceTerminationAction:
# delete it, so its MIG recreates it from the group's template and it boots and joins afresh.
DEFAULT_SPOT_TERMINATION_ACTION = "DELETE"


def has_gpus(g: InstanceGroup) -> bool:
    return gce_accelerators.has_gpus(g.spec.machine_type, len(g.spec.guest_accelerators))


def scheduling(g: InstanceGroup) -> dict[str, Any]:
    """The template's scheduling. A Spot VM must not restart automatically and cannot live-migrate
    (GCE refuses a Spot template otherwise: docs/spot.md); nor can a VM with GPUs live-migrate; a
    standard one without GPUs live-migrates."""
    if g.spec.provisioning_model == ProvisioningModel.SPOT:
        return {"provisioningModel": "SPOT", "automaticRestart": False, "onHostMaintenance": "TERMINATE",
                "instanceTerminationAction": g.spec.instance_termination_action or DEFAULT_SPOT_TERMINATION_ACTION}  # fmt: skip
    return {"automaticRestart": True, "onHostMaintenance": "TERMINATE" if has_gpus(g) else "MIGRATE"}


def spot_groups(bundle: ClusterBundle) -> dict[str, tuple[tuple[str, str], ...]]:
    """The bundle's Spot groups with their MIGs, as (zone or region, name), named as
    :func:`_group_resources` names them: what `get instances` and `validate` read to find a
    preempted VM that is gone and not recreated yet."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for g in bundle.instance_groups:
        if g.spec.provisioning_model != ProvisioningModel.SPOT:
            continue
        if g.spec.zone_distribution == "regional":
            out[g.name] = tuple(
                (r, gce_name(g.name, bundle.cluster.name)) for r in sorted({region_of(z) for z in g.spec.zones})
            )
        else:
            out[g.name] = tuple((z, gce_name(zone_letter(z), g.name, bundle.cluster.name)) for z in g.spec.zones)
    return out


def guest_accelerators(g: InstanceGroup) -> dict[str, Any]:
    """The template's guestAccelerators (an instance template names the type by name, not URL)."""
    if not g.spec.guest_accelerators:
        return {}
    return {"guestAccelerators": [{"acceleratorType": a.type, "acceleratorCount": a.count}
                                  for a in g.spec.guest_accelerators]}  # fmt: skip


def _group_resources(
    graph: ResourceGraph,
    gb: GroupBoot,
    *,
    labels: dict[str, str],
    desc: str,
    subnets: dict[str, Resource],
    pools: dict[str, ResourceKey],
    network_url: str,
    cp_tag: str,
    node_tag: str,
    public: bool,
    service_account: str,
    autoscaled: bool = False,
) -> None:
    g = gb.group
    c_name = graph.cluster_name
    project = graph.project
    group_labels = {**labels, **g.spec.cloud_labels, "kubegce-instance-group": gce_name(g.name)}
    is_cp = g.spec.role == Role.CONTROL_PLANE
    zones_by_region: dict[str, list[str]] = {}
    for z in g.spec.zones:
        zones_by_region.setdefault(region_of(z), []).append(z)
    sizes = split_size(g.spec.min_size, g.spec.zones)
    multi_region = len(zones_by_region) > 1
    for region, zones in sorted(zones_by_region.items()):
        subnet = subnets[region]
        properties: dict[str, Any] = {
            "machineType": g.spec.machine_type,
            "canIpForward": True,
            "disks": [
                {
                    "boot": True,
                    "autoDelete": True,
                    "type": "PERSISTENT",
                    "initializeParams": {
                        "sourceImage": gb.image.source_image,
                        "diskSizeGb": str(g.spec.root_volume_size),
                        "diskType": "pd-balanced",
                    },
                }
            ]
            + ([etcd_disk_template()] if is_cp else []),
            "networkInterfaces": [
                {
                    "network": network_url,
                    "subnetwork": _url(project, "regions", region, "subnetworks", subnet.name),
                    **({"accessConfigs": [{"name": "external-nat", "type": "ONE_TO_ONE_NAT"}]} if public else {}),
                }
            ],
            "metadata": {"items": [{"key": k, "value": v} for k, v in gb.metadata.items()]},
            "serviceAccounts": [{"email": g.spec.service_account or service_account, "scopes": SCOPES}],
            "tags": {"items": [cp_tag if is_cp else node_tag]},
            "labels": group_labels,
            "scheduling": scheduling(g),
            **guest_accelerators(g),
        }
        base = gce_name(g.name, region if multi_region else "", c_name, limit=54)
        body = {"description": desc, "properties": properties}
        tname = f"{base}-{template_hash(body)}"
        template = graph.add(Resource("instance_template", tname, {"name": tname, **body}, depends_on=(subnet.key,)))
        if g.spec.zone_distribution == "regional":
            _regional_mig(graph, gb, region, zones, tname, template.key, pools, desc, sum(sizes[z] for z in zones))
            continue
        for zone in zones:
            mname = gce_name(zone_letter(zone), g.name, c_name)
            mig: dict[str, Any] = {
                "name": mname,
                "description": desc,
                "baseInstanceName": gce_name(g.name, c_name, limit=54),
                "instanceTemplate": _url(project, "global/instanceTemplates", tname),
                "targetSize": sizes[zone],
            }
            if is_cp:
                mig["statefulPolicy"] = json.loads(json.dumps(CONTROL_PLANE_STATEFUL_POLICY))
            deps = [template.key]
            if is_cp and region in pools:
                mig["targetPools"] = [_url(project, "regions", region, "targetPools", pools[region].name)]
                deps.append(pools[region])
            graph.add(Resource("instance_group_manager", mname, mig, location=zone, depends_on=tuple(deps),
                               tf_ignore_changes=("target_size",) if autoscaled else ()))  # fmt: skip


def _regional_mig(graph: ResourceGraph, gb: GroupBoot, region: str, zones: list[str], template: str,
                  template_key: ResourceKey, pools: dict[str, ResourceKey], desc: str, size: int) -> None:  # fmt: skip
    """spec.zoneDistribution: regional: one regional MIG over the group's zones, spread EVEN."""
    g, c_name, project = gb.group, graph.cluster_name, graph.project
    name = gce_name(g.name, c_name)
    mig: dict[str, Any] = {
        "name": name,
        "description": desc,
        "baseInstanceName": gce_name(g.name, c_name, limit=54),
        "instanceTemplate": _url(project, "global/instanceTemplates", template),
        "targetSize": size,
        "distributionPolicy": {"zones": [{"zone": _url(project, "zones", z)} for z in zones], "targetShape": "EVEN"},
    }
    deps = [template_key]
    if g.spec.role == Role.CONTROL_PLANE and region in pools:
        mig["targetPools"] = [_url(project, "regions", region, "targetPools", pools[region].name)]
        deps.append(pools[region])
    graph.add(Resource("region_instance_group_manager", name, mig, location=region, depends_on=tuple(deps)))
