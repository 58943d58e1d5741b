"""Terraform target: the resource graph as `kubernetes.tf.json` for the google provider.

Metadata values go to `data/<resource>_metadata_<key>` files referenced with `file()`, as kOps does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kubegce.cloud.graph import Resource, ResourceGraph, ResourceKey

TF_TYPES = {
    "network": "google_compute_network",
    "subnetwork": "google_compute_subnetwork",
    "router": "google_compute_router",
    "firewall": "google_compute_firewall",
    "address": "google_compute_address",
    "target_pool": "google_compute_target_pool",
    "forwarding_rule": "google_compute_forwarding_rule",
    "instance_template": "google_compute_instance_template",
    "instance_group_manager": "google_compute_instance_group_manager",
}


def tf_name(r: Resource | ResourceKey) -> str:
    name = r.name if r.location == "global" else f"{r.name}-{r.location}"
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _ref(graph: ResourceGraph, kind: str, url: str, attr: str = "self_link") -> str:
    """A `${type.name.attr}` reference for a URL that points into the graph, else the URL."""
    parts = url.split("/")
    name = parts[-1]
    location = parts[3] if len(parts) > 5 and parts[2] in ("regions", "zones") else "global"
    key = ResourceKey(kind, location, name)
    if key in graph.resources:
        return "${" + f"{TF_TYPES[kind]}.{tf_name(key)}.{attr}" + "}"
    return url


def _allow(allowed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"protocol": a["IPProtocol"], "ports": a.get("ports", [])} for a in allowed]


def _resource(graph: ResourceGraph, r: Resource, files: dict[str, str]) -> dict[str, Any]:
    b = r.body
    p = graph.project
    if r.kind == "network":
        return {"name": r.name, "project": p, "description": b["description"],
                "auto_create_subnetworks": False, "routing_mode": b["routingConfig"]["routingMode"]}  # fmt: skip
    if r.kind == "subnetwork":
        return {"name": r.name, "project": p, "region": r.location, "description": b["description"],
                "network": _ref(graph, "network", b["network"]), "ip_cidr_range": b["ipCidrRange"],
                "private_ip_google_access": b["privateIpGoogleAccess"]}  # fmt: skip
    if r.kind == "router":
        return {"name": r.name, "project": p, "region": r.location, "description": b["description"],
                "network": _ref(graph, "network", b["network"])}  # fmt: skip
    if r.kind == "firewall":
        out = {"name": r.name, "project": p, "description": b["description"],
               "network": _ref(graph, "network", b["network"]), "direction": b["direction"],
               "priority": b["priority"], "allow": _allow(b["allowed"]), "target_tags": b["targetTags"]}  # fmt: skip
        if "sourceRanges" in b:
            out["source_ranges"] = b["sourceRanges"]
        if "sourceTags" in b:
            out["source_tags"] = b["sourceTags"]
        return out
    if r.kind == "address":
        return {"name": r.name, "project": p, "region": r.location, "description": b["description"],
                "address_type": b["addressType"], "labels": b["labels"]}  # fmt: skip
    if r.kind == "target_pool":
        return {"name": r.name, "project": p, "region": r.location, "description": b["description"],
                "session_affinity": b["sessionAffinity"]}  # fmt: skip
    if r.kind == "forwarding_rule":
        return {"name": r.name, "project": p, "region": r.location, "description": b["description"],
                "ip_protocol": b["IPProtocol"], "port_range": b["portRange"],
                "load_balancing_scheme": b["loadBalancingScheme"],
                "ip_address": _ref(graph, "address", b["IPAddress"], "address"),
                "target": _ref(graph, "target_pool", b["target"]), "labels": b["labels"]}  # fmt: skip
    if r.kind == "instance_template":
        props = b["properties"]
        metadata = {}
        for item in props["metadata"]["items"]:
            fname = f"{TF_TYPES[r.kind]}_{tf_name(r)}_metadata_{item['key']}"
            files[fname] = item["value"]
            metadata[item["key"]] = '${file("${path.module}/data/' + fname + '")}'
        disks = []
        for d in props["disks"]:
            init = d["initializeParams"]
            disks.append({"boot": d["boot"], "auto_delete": d["autoDelete"], "source_image": init["sourceImage"],
                          "disk_size_gb": int(init["diskSizeGb"]), "disk_type": init["diskType"]})  # fmt: skip
        nics = []
        for n in props["networkInterfaces"]:
            nic: dict[str, Any] = {"network": _ref(graph, "network", n["network"]),
                                   "subnetwork": _ref(graph, "subnetwork", n["subnetwork"])}  # fmt: skip
            if n.get("accessConfigs"):
                nic["access_config"] = [{}]
            nics.append(nic)
        sa = props["serviceAccounts"][0]
        return {
            "name": r.name, "project": p, "description": b["description"],
            "machine_type": props["machineType"], "can_ip_forward": props["canIpForward"],
            "disk": disks, "network_interface": nics, "metadata": metadata,
            "service_account": [{"email": sa["email"], "scopes": sa["scopes"]}],
            "tags": props["tags"]["items"], "labels": props["labels"],
            "scheduling": [{"automatic_restart": props["scheduling"]["automaticRestart"],
                            "on_host_maintenance": props["scheduling"]["onHostMaintenance"]}],
            "lifecycle": {"create_before_destroy": True},
        }  # fmt: skip
    if r.kind == "instance_group_manager":
        out = {"name": r.name, "project": p, "zone": r.location, "description": b["description"],
               "base_instance_name": b["baseInstanceName"], "target_size": b["targetSize"],
               "version": [{"instance_template": _ref(graph, "instance_template", b["instanceTemplate"])}]}  # fmt: skip
        if "targetPools" in b:
            out["target_pools"] = [_ref(graph, "target_pool", u) for u in b["targetPools"]]
        return out
    raise ValueError(f"no terraform mapping for {r.kind}")


def render_terraform(graph: ResourceGraph, region: str) -> tuple[dict[str, Any], dict[str, str]]:
    files: dict[str, str] = {}
    resources: dict[str, dict[str, Any]] = {}
    for r in graph.ordered():
        resources.setdefault(TF_TYPES[r.kind], {})[tf_name(r)] = _resource(graph, r, files)
        if r.kind == "router":  # Terraform keeps a router's NAT as its own resource
            for nat in r.body["nats"]:
                resources.setdefault("google_compute_router_nat", {})[tf_name(r)] = {
                    "name": nat["name"], "project": graph.project, "region": r.location,
                    "router": "${google_compute_router." + tf_name(r) + ".name}",
                    "nat_ip_allocate_option": nat["natIpAllocateOption"],
                    "source_subnetwork_ip_ranges_to_nat": nat["sourceSubnetworkIpRangesToNat"],
                }  # fmt: skip
    doc = {
        "terraform": {"required_providers": {"google": {"source": "hashicorp/google", "version": ">= 5.0"}}},
        "provider": {"google": {"project": graph.project, "region": region}},
        "locals": {"cluster_name": graph.cluster_name},
        "output": {"cluster_name": {"value": graph.cluster_name}},
        "resource": resources,
    }
    return doc, files


def write_terraform(graph: ResourceGraph, region: str, out: Path) -> list[Path]:
    doc, files = render_terraform(graph, region)
    (out / "data").mkdir(parents=True, exist_ok=True)
    written = [out / "kubernetes.tf.json"]
    written[0].write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    for name, content in files.items():
        path = out / "data" / name
        path.write_text(content)
        written.append(path)
    return written
