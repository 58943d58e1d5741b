"""Import kOps kops.k8s.io/v1alpha2 Cluster and InstanceGroup documents.

The fields that matter on GCE are mapped; other kOps fields are named in one warning; a field kOps
does not have either (``subnetz``) is refused with "did you mean", as kOps refuses it. Every value
is type-checked before it is used, so a manifest of the wrong shape gets a message, not a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kubegce.errors import SpecError
from kubegce.spec.fields import did_you_mean
from kubegce.spec.kops_autoscaler import cluster_autoscaler
from kubegce.spec.kops_fields import (
    KOPS_CLOUD_CONFIG_FIELDS,
    KOPS_CLUSTER_SPEC_FIELDS,
    KOPS_INSTANCE_GROUP_SPEC_FIELDS,
    KOPS_NETWORKING,
)
from kubegce.spec.kubelet_labels import kubelet_refuses
from kubegce.spec.models import API_VERSION, CLUSTER_LABEL
from kubegce.spec.text import capped, shown, shown_key

KOPS_CLUSTER_LABEL = "kops.k8s.io/cluster"
SUPPORTED_NETWORKING = ("calico", "cilium", "cni")
# kOps's `cni: {}` ("I install the pod network myself") is kubegce's networking.plugin none
_PLUGIN_OF = {"calico": "calico", "cilium": "cilium", "cni": "none"}

_CLUSTER_MAPPED = {
    "cloudProvider", "project", "kubernetesVersion", "subnets", "networking", "nonMasqueradeCIDR",
    "podCIDR", "serviceClusterIPRange", "sshAccess", "kubernetesApiAccess", "cloudConfig",
    "cloudLabels", "networkCIDR", "topology", "sshKeyName",
}  # fmt: skip
_IG_MAPPED = {
    "role", "machineType", "image", "minSize", "maxSize", "zones", "rootVolumeSize", "nodeLabels",
    "taints", "cloudLabels", "additionalUserData", "subnets", "gcpProvisioningModel", "guestAccelerators",
}  # fmt: skip
_CLOUD_CONFIG_MAPPED = {"gceServiceAccount", "gceUseStartupScript", "gcpPDCSIDriver"}
_IGNORED_TOP = {"configBase", "configStore"}  # state-store settings: kubegce uses --state instead
_CLUSTER_MAPPED.add("clusterAutoscaler")  # spec.clusterAutoscaler (spec/kops_autoscaler.py)
_IG_MAPPED.add("autoscale")  # spec.autoscale, as it is


class _Problems:
    """Problems of one document, each prefixed with where it is."""

    def __init__(self, where: str, out: list[str]) -> None:
        self.where = where
        self.out = out

    def add(self, field: str, text: str) -> None:
        self.out.append(f"{self.where} {field}: {text}")

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        """``value`` when it is a mapping (or absent); otherwise a problem and an empty one."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.add(field, f"must be a mapping (key: value), got {shown(value)}")
        return {}

    def mappings(self, value: Any, field: str) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(field, f"must be a list of mappings (- name: ...), got {shown(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                out.append(item)
            else:
                self.add(f"{field}[{i}]", f"must be a mapping (name: ..., ...), got {shown(item)}")
        return out

    def unknown(self, keys: Any, known: frozenset[str], field: str) -> None:
        for key in sorted(str(k) for k in keys if str(k) not in known):
            self.add(
                f"{field}.{shown_key(key)}",
                f"not a kOps field{did_you_mean(key, known)}; remove it or fix its name",
            )


def convert_documents(docs: list[dict[str, Any]], source: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Convert kOps documents in place of themselves; other documents pass through."""
    problems: list[str] = []
    unmapped: list[str] = []
    use_startup_script = False
    out: list[dict[str, Any]] = []
    zones_by_cluster: dict[str, list[str]] = {}
    for i, doc in enumerate(docs):
        if not str(doc.get("apiVersion", ""))[:100].startswith("kops.k8s.io/"):
            out.append(doc)
            continue
        p = _Problems(f"{source} document {i + 1}", problems)
        kind = doc.get("kind")
        meta = dict(p.mapping(doc.get("metadata"), "metadata"))
        spec = dict(p.mapping(doc.get("spec"), "spec"))
        if kind == "Cluster":
            converted, startup = _cluster(meta, spec, p, unmapped)
            use_startup_script = use_startup_script or startup
            out.append(converted)
        elif kind == "InstanceGroup":
            converted = _group(meta, spec, p, unmapped)
            cluster = str(converted["metadata"]["labels"].get(CLUSTER_LABEL, ""))
            zones = converted["spec"].get("zones", [])
            if isinstance(zones, list):
                zones_by_cluster.setdefault(cluster, []).extend(z for z in zones if isinstance(z, str))
            out.append(converted)
        else:
            unmapped.append(f"{p.where}: kind {shown(kind)}")
    for doc in out:
        if doc.get("kind") == "Cluster" and isinstance(doc.get("spec"), dict) and not doc["spec"].get("zones"):
            name = str(doc["metadata"].get("name", "")) if isinstance(doc.get("metadata"), dict) else ""
            zones = zones_by_cluster.get(name) or zones_by_cluster.get("", [])
            doc["spec"]["zones"] = sorted(set(zones))
        if use_startup_script and doc.get("kind") == "InstanceGroup" and isinstance(doc.get("spec"), dict):
            bootstrap = doc["spec"].setdefault("bootstrap", {})
            if isinstance(bootstrap, dict):
                bootstrap["channel"] = "startup-script"
    if problems:
        raise SpecError(capped(problems))
    warnings = []
    if unmapped:
        warnings.append("kOps fields kubegce does not implement were ignored: " + ", ".join(sorted(set(unmapped))))
    return out, warnings


def _networking(value: Any, p: _Problems) -> str | None:
    supported = " or ".join(f"{{{n}: {{}}}}" for n in SUPPORTED_NETWORKING)
    if value is None:
        return None
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, dict):
        names = [str(k) for k in value]
    else:
        p.add("spec.networking", f"must be a mapping like calico: {{}}, got {shown(value)}")
        return None
    chosen = [n for n in names if n in SUPPORTED_NETWORKING]
    others = [n for n in names if n not in SUPPORTED_NETWORKING]
    for name in others:
        what = (
            "a kOps networking provider kubegce does not support"
            if name in KOPS_NETWORKING
            else "not a kOps networking provider"
        )
        hint = did_you_mean(name, SUPPORTED_NETWORKING) if name not in KOPS_NETWORKING else ""
        native = " (GCE-native routing)" if name in ("gce", "gcp") else ""
        p.add(
            "spec.networking",
            f"{shown(name)}{native} is {what}{hint}; kubegce supports calico, cilium and cni "
            f"(bring your own pod network) (networking: {supported})",
        )
    if isinstance(value, str) and chosen:
        p.add("spec.networking", f"write it as a mapping: networking: {{{value}: {{}}}}")
    if len(chosen) > 1:
        p.add("spec.networking", f"names {' and '.join(chosen)}; choose one")
    return _PLUGIN_OF[chosen[0]] if chosen else None


def _cluster(
    meta: dict[str, Any], spec: dict[str, Any], p: _Problems, unmapped: list[str]
) -> tuple[dict[str, Any], bool]:
    out: dict[str, Any] = {}
    p.unknown(spec, KOPS_CLUSTER_SPEC_FIELDS, "spec")
    provider = spec.get("cloudProvider")
    project = spec.get("project")
    if isinstance(provider, dict):
        gce = provider.get("gce")
        if gce is None and "gce" not in provider:
            p.add("spec.cloudProvider", f"kubegce runs on gce only (got {', '.join(shown_key(k) for k in provider)})")
        else:
            gce_project = p.mapping(gce, "spec.cloudProvider.gce").get("project")
            project = project or gce_project
    elif provider not in (None, "gce"):
        p.add("spec.cloudProvider", f"kubegce runs on gce only (got {shown(provider)})")
    if project:
        out["project"] = project
    if "kubernetesVersion" in spec:
        version = spec["kubernetesVersion"]
        out["kubernetesVersion"] = version.lstrip("v") if isinstance(version, str) else version
    if "networkCIDR" in spec:
        out["networkCIDR"] = spec["networkCIDR"]
    subnets = []
    for s in p.mappings(spec.get("subnets"), "spec.subnets"):
        region, cidr, name = s.get("region"), s.get("cidr"), s.get("name")
        if cidr and region:
            subnets.append({"name": name or region, "region": region, "cidr": cidr})
        if str(s.get("type", "Public"))[:20].lower() == "private":
            out["topology"] = "private"
    if subnets:
        out["subnets"] = subnets
    net_out: dict[str, Any] = {}
    if plugin := _networking(spec.get("networking"), p):
        net_out["plugin"] = plugin
    if "podCIDR" in spec:
        net_out["podCIDR"] = spec["podCIDR"]
    if "serviceClusterIPRange" in spec:
        net_out["serviceCIDR"] = spec["serviceClusterIPRange"]
    if net_out:
        out["networking"] = net_out
    if "nonMasqueradeCIDR" in spec and "podCIDR" not in spec:
        # kOps carves pods from the upper half of nonMasqueradeCIDR and services from its first /13.
        try:
            nm = ipaddress.IPv4Network(str(spec["nonMasqueradeCIDR"])[:50])
            halves = list(nm.subnets(prefixlen_diff=1))
            out.setdefault("networking", {})["podCIDR"] = str(halves[1])
            out["networking"].setdefault("serviceCIDR", str(next(halves[0].subnets(new_prefix=13))))
        except ValueError:
            p.add("spec.nonMasqueradeCIDR", f"not a CIDR of /13 or larger (got {shown(spec['nonMasqueradeCIDR'])})")
    for key in ("sshAccess", "kubernetesApiAccess", "cloudLabels"):
        if key in spec:
            out[key] = spec[key]
    cloud_config = p.mapping(spec.get("cloudConfig"), "spec.cloudConfig")
    if "gceServiceAccount" in cloud_config:
        out["serviceAccount"] = cloud_config["gceServiceAccount"]
    startup = cloud_config.get("gceUseStartupScript") is True
    if "gcpPDCSIDriver" in cloud_config:  # kOps's GCE PD CSI driver; kubegce's spec.storage (docs/storage.md)
        pd_csi = p.mapping(cloud_config["gcpPDCSIDriver"], "spec.cloudConfig.gcpPDCSIDriver")
        if "enabled" in pd_csi:
            out["storage"] = {"pdCSIDriver": {"enabled": pd_csi["enabled"]}}
    p.unknown(cloud_config, KOPS_CLOUD_CONFIG_FIELDS, "spec.cloudConfig")
    for k in sorted(str(k) for k in cloud_config if k not in _CLOUD_CONFIG_MAPPED and k in KOPS_CLOUD_CONFIG_FIELDS):
        unmapped.append(f"Cluster spec.cloudConfig.{k}")
    topology = spec.get("topology")
    if isinstance(topology, dict) and "private" in {str(v).lower() for v in topology.values() if isinstance(v, str)}:
        out["topology"] = "private"
    if backup := _etcd_backup(spec.get("etcdClusters"), p):
        out["etcd"] = {"backup": backup}
    if "clusterAutoscaler" in spec:
        ca = p.mapping(spec["clusterAutoscaler"], "spec.clusterAutoscaler")
        out["clusterAutoscaler"] = cluster_autoscaler(ca, unmapped)
    for k in sorted(str(k) for k in spec if k in KOPS_CLUSTER_SPEC_FIELDS and k not in _CLUSTER_MAPPED | _IGNORED_TOP):
        unmapped.append(f"Cluster spec.{k}")
    if not meta.get("name"):
        p.add("metadata.name", "required: the cluster's DNS name, e.g. k8s.example.com")
    meta_out = {"name": meta.get("name", "")}
    return {"apiVersion": API_VERSION, "kind": "Cluster", "metadata": meta_out, "spec": out}, startup


GO_DURATION_RE = re.compile(r"(?:([0-9]{1,5})h)?(?:([0-9]{1,5})m)?(?:([0-9]{1,5})s)?")


def _etcd_backup(clusters: Any, p: _Problems) -> dict[str, Any]:
    """kOps's etcd-manager backup settings of the `main` etcd cluster (etcdClusters[].manager:
    backupInterval, a Go duration such as 15m0s; backupRetentionDays) as spec.etcd.backup: the
    interval as it is, the retention days as the daily tier. Members, versions and the backup store
    are kOps's own (kubegce keeps backups in its state store); they stay in the ignored-fields warning."""
    out: dict[str, Any] = {}
    for i, c in enumerate(p.mappings(clusters, "spec.etcdClusters")):
        if c.get("name") != "main":
            continue
        field = f"spec.etcdClusters[{i}].manager"
        manager = p.mapping(c.get("manager"), field)
        if "backupInterval" in manager:
            text = manager["backupInterval"]
            m = GO_DURATION_RE.fullmatch(text) if isinstance(text, str) and text else None
            if m is None or not any(m.groups()):
                p.add(f"{field}.backupInterval", f"not a duration like 15m0s (got {shown(text)})")
            else:
                h, mi, se = (int(g or 0) for g in m.groups())
                seconds = h * 3600 + mi * 60 + se
                out["interval"] = (f"{seconds // 3600}h" if seconds % 3600 == 0 else
                                   f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s")  # fmt: skip
        if "backupRetentionDays" in manager:
            days = manager["backupRetentionDays"]
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
                p.add(f"{field}.backupRetentionDays", f"a whole number of days from 1 to 3660 (got {shown(days)})")
            else:
                out["retention"] = {"daily": f"{days}d"}
    return out


def _group(meta: dict[str, Any], spec: dict[str, Any], p: _Problems, unmapped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    p.unknown(spec, KOPS_INSTANCE_GROUP_SPEC_FIELDS, "spec")
    role = spec.get("role")
    if role in ("Master", "ControlPlane"):
        out["role"] = "ControlPlane"
    elif role == "Node":
        out["role"] = "Node"
    else:
        p.add("spec.role", f"{shown(role)} is not supported; use ControlPlane (or Master) or Node")
    for key in ("machineType", "image", "minSize", "maxSize", "zones", "rootVolumeSize",
                "nodeLabels", "taints", "cloudLabels"):  # fmt: skip
        if key in spec:
            out[key] = spec[key]
    if isinstance(out.get("nodeLabels"), dict):
        # kOps's kops-controller sets labels the kubelet may not (kops.k8s.io/instancegroup,
        # node-role.kubernetes.io/...); kubegce's nodes register with the kubelet's own flag only.
        kept = {k: v for k, v in out["nodeLabels"].items() if not kubelet_refuses(str(k))}
        for k in sorted(str(k) for k in out["nodeLabels"] if k not in kept):
            unmapped.append(
                f"InstanceGroup spec.nodeLabels[{shown(k)}] (set by kops-controller; the kubelet refuses it)"
            )
        out["nodeLabels"] = kept
    if spec.get("additionalUserData"):
        out["bootstrap"] = {"additionalUserData": spec["additionalUserData"]}
    if "autoscale" in spec:  # kOps's: whether the cluster autoscaler scales this group
        out["autoscale"] = spec["autoscale"]
    if "gcpProvisioningModel" in spec:  # kOps's Spot VMs on GCE: SPOT or STANDARD
        out["provisioningModel"] = spec["gcpProvisioningModel"]
    if "guestAccelerators" in spec:  # kOps's AcceleratorConfig: acceleratorType, acceleratorCount
        out["guestAccelerators"] = [{"type": a.get("acceleratorType", ""), "count": a.get("acceleratorCount", 1)}
                                    for a in p.mappings(spec["guestAccelerators"], "spec.guestAccelerators")]  # fmt: skip
    for k in sorted(str(k) for k in spec if k in KOPS_INSTANCE_GROUP_SPEC_FIELDS and k not in _IG_MAPPED):
        unmapped.append(f"InstanceGroup spec.{k}")
    labels = dict(p.mapping(meta.get("labels"), "metadata.labels"))
    cluster = labels.pop(KOPS_CLUSTER_LABEL, None)
    if cluster:
        labels[CLUSTER_LABEL] = cluster
    return {
        "apiVersion": API_VERSION,
        "kind": "InstanceGroup",
        "metadata": {"name": meta.get("name", ""), "labels": labels},
        "spec": out,
    }
