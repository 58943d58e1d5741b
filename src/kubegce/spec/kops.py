"""Import kOps kops.k8s.io/v1alpha2 Cluster and InstanceGroup documents.

The fields that matter on GCE are mapped; every other kOps field is named in one warning.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubegce.errors import SpecError
from kubegce.spec.models import API_VERSION, CLUSTER_LABEL

KOPS_CLUSTER_LABEL = "kops.k8s.io/cluster"

_CLUSTER_MAPPED = {
    "cloudProvider", "project", "kubernetesVersion", "subnets", "networking", "nonMasqueradeCIDR",
    "podCIDR", "serviceClusterIPRange", "sshAccess", "kubernetesApiAccess", "cloudConfig",
    "cloudLabels", "networkCIDR", "topology", "sshKeyName",
}  # fmt: skip
_IG_MAPPED = {
    "role", "machineType", "image", "minSize", "maxSize", "zones", "rootVolumeSize", "nodeLabels",
    "taints", "cloudLabels", "additionalUserData", "subnets",
}  # fmt: skip
_CLOUD_CONFIG_MAPPED = {"gceServiceAccount", "gceUseStartupScript"}
_IGNORED_TOP = {"configBase", "configStore"}  # state-store settings: kubegce uses --state instead


def convert_documents(docs: list[dict[str, Any]], source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Convert kOps documents in place of themselves; other documents pass through."""
    problems: list[str] = []
    unmapped: list[str] = []
    use_startup_script = False
    out: list[dict[str, Any]] = []
    zones_by_cluster: dict[str, list[str]] = {}
    for i, doc in enumerate(docs):
        if not str(doc.get("apiVersion", "")).startswith("kops.k8s.io/"):
            out.append(doc)
            continue
        where = f"{source} document {i + 1}"
        kind = doc.get("kind")
        meta = dict(doc.get("metadata") or {})
        spec = dict(doc.get("spec") or {})
        if kind == "Cluster":
            converted, startup = _cluster(meta, spec, where, problems, unmapped)
            use_startup_script = use_startup_script or startup
            out.append(converted)
        elif kind == "InstanceGroup":
            converted = _group(meta, spec, where, problems, unmapped)
            cluster = converted["metadata"]["labels"].get(CLUSTER_LABEL, "")
            zones_by_cluster.setdefault(cluster, []).extend(converted["spec"].get("zones", []))
            out.append(converted)
        else:
            unmapped.append(f"{where}: kind {kind}")
    for doc in out:
        if doc.get("kind") == "Cluster" and not doc["spec"].get("zones"):
            name = doc["metadata"].get("name", "")
            zones = zones_by_cluster.get(name) or zones_by_cluster.get("", [])
            doc["spec"]["zones"] = sorted(set(zones))
        if use_startup_script and doc.get("kind") == "InstanceGroup":
            doc["spec"].setdefault("bootstrap", {})["channel"] = "startup-script"
    if problems:
        raise SpecError(problems)
    warnings = []
    if unmapped:
        warnings.append("kOps fields kubegce does not implement were ignored: " + ", ".join(sorted(set(unmapped))))
    return out, warnings


def _cluster(
    meta: dict[str, Any], spec: dict[str, Any], where: str, problems: list[str], unmapped: list[str]
) -> tuple[dict[str, Any], bool]:
    out: dict[str, Any] = {}
    provider = spec.get("cloudProvider")
    project = spec.get("project")
    if isinstance(provider, dict):
        gce = provider.get("gce")
        if gce is None:
            problems.append(f"{where} spec.cloudProvider: kubegce runs on gce only (got {sorted(provider)})")
        else:
            project = project or gce.get("project")
    elif provider not in (None, "gce"):
        problems.append(f"{where} spec.cloudProvider: kubegce runs on gce only (got {provider!r})")
    if project:
        out["project"] = project
    if "kubernetesVersion" in spec:
        out["kubernetesVersion"] = str(spec["kubernetesVersion"]).lstrip("v")
    if "networkCIDR" in spec:
        out["networkCIDR"] = spec["networkCIDR"]
    subnets = []
    for s in spec.get("subnets") or []:
        if s.get("cidr") and s.get("region"):
            subnets.append({"name": s.get("name") or s["region"], "region": s["region"], "cidr": s["cidr"]})
        if str(s.get("type", "Public")).lower() == "private":
            out["topology"] = "private"
    if subnets:
        out["subnets"] = subnets
    networking = spec.get("networking") or {}
    net_out: dict[str, Any] = {}
    for plugin in ("calico", "cilium"):
        if plugin in networking:
            net_out["plugin"] = plugin
    others = sorted(set(networking) - {"calico", "cilium"})
    if others:
        problems.append(f"{where} spec.networking: {others[0]} is not supported; use calico: {{}} or cilium: {{}}")
    if "podCIDR" in spec:
        net_out["podCIDR"] = spec["podCIDR"]
    if "serviceClusterIPRange" in spec:
        net_out["serviceCIDR"] = spec["serviceClusterIPRange"]
    if net_out:
        out["networking"] = net_out
    if "nonMasqueradeCIDR" in spec and "podCIDR" not in spec:
        # kOps carves pods from the upper half of nonMasqueradeCIDR and services from its first /13.
        try:
            nm = ipaddress.IPv4Network(spec["nonMasqueradeCIDR"])
            halves = list(nm.subnets(prefixlen_diff=1))
            out.setdefault("networking", {})["podCIDR"] = str(halves[1])
            out["networking"].setdefault("serviceCIDR", str(next(halves[0].subnets(new_prefix=13))))
        except ValueError:
            problems.append(f"{where} spec.nonMasqueradeCIDR: not a CIDR ({spec['nonMasqueradeCIDR']!r})")
    for key in ("sshAccess", "kubernetesApiAccess", "cloudLabels"):
        if key in spec:
            out[key] = spec[key]
    cloud_config = spec.get("cloudConfig") or {}
    if "gceServiceAccount" in cloud_config:
        out["serviceAccount"] = cloud_config["gceServiceAccount"]
    startup = bool(cloud_config.get("gceUseStartupScript"))
    for k in sorted(set(cloud_config) - _CLOUD_CONFIG_MAPPED):
        unmapped.append(f"Cluster spec.cloudConfig.{k}")
    topology = spec.get("topology")
    if isinstance(topology, dict) and "private" in {str(v).lower() for v in topology.values() if isinstance(v, str)}:
        out["topology"] = "private"
    for k in sorted(set(spec) - _CLUSTER_MAPPED - _IGNORED_TOP):
        unmapped.append(f"Cluster spec.{k}")
    meta_out = {"name": meta.get("name", "")}
    return {"apiVersion": API_VERSION, "kind": "Cluster", "metadata": meta_out, "spec": out}, startup


def _group(
    meta: dict[str, Any], spec: dict[str, Any], where: str, problems: list[str], unmapped: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    role = spec.get("role")
    if role in ("Master", "ControlPlane"):
        out["role"] = "ControlPlane"
    elif role == "Node":
        out["role"] = "Node"
    else:
        problems.append(f"{where} spec.role: {role!r} is not supported; use ControlPlane (or Master) or Node")
    for key in ("machineType", "image", "minSize", "maxSize", "zones", "rootVolumeSize",
                "nodeLabels", "taints", "cloudLabels"):  # fmt: skip
        if key in spec:
            out[key] = spec[key]
    if spec.get("additionalUserData"):
        out["bootstrap"] = {"additionalUserData": spec["additionalUserData"]}
    for k in sorted(set(spec) - _IG_MAPPED):
        unmapped.append(f"InstanceGroup spec.{k}")
    labels = dict(meta.get("labels") or {})
    cluster = labels.pop(KOPS_CLUSTER_LABEL, None)
    if cluster:
        labels[CLUSTER_LABEL] = cluster
    return {
        "apiVersion": API_VERSION,
        "kind": "InstanceGroup",
        "metadata": {"name": meta.get("name", ""), "labels": labels},
        "spec": out,
    }
