"""The cluster autoscaler's part of a spec: which groups it scales, their MIGs' shares of
minSize/maxSize, and the checks of ``spec.clusterAutoscaler`` (validate.py calls
:func:`autoscaler_problems`). docs/autoscaling.md is the user's side.

The GCE provider of the cluster autoscaler addresses a node group by its zonal instance group URL
only (kubernetes/autoscaler cluster-autoscaler/cloudprovider/gce/gce_url.go, parseGceUrl:
``projects/P/zones/Z/instanceGroups/NAME``, anything but ``zones`` is "Wrong url"), so a regional
MIG (spec.zoneDistribution: regional) cannot be autoscaled and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubegce.spec import releases
from kubegce.spec.gce_names import zonal_mig_name
from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
from kubegce.spec.text import shown, shown_key

# cluster-autoscaler/expander/expander.go AvailableExpanders, less grpc (it needs a server of
# its own: --grpc-expander-url); a comma-separated list chains them, as the flag takes it.
EXPANDERS = ("random", "most-pods", "least-waste", "price", "priority")
# Go's time.ParseDuration in the whole units the autoscaler's docs use: 10m, 1h30m, 90s.
DURATION_RE = re.compile(r"\A(?=[0-9])([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?\Z")
# REGISTRY[:PORT]/PATH:TAG or @sha256:DIGEST (the distribution reference grammar, lowercase)
IMAGE_RE = re.compile(
    r"\A[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})\Z"
)
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
GCE_MIG_URL = "https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}/instanceGroups/{name}"


def autoscaled(bundle: ClusterBundle, group: InstanceGroup) -> bool:
    """Whether the cluster autoscaler scales ``group``: it is on, the group is a node group, and
    ``spec.autoscale`` says so (unset: when maxSize > minSize)."""
    s = group.spec
    if not bundle.cluster.spec.cluster_autoscaler.enabled or s.role == Role.CONTROL_PLANE:
        return False
    return s.autoscale if s.autoscale is not None else s.max_size > s.min_size


def split(total: int, zones: list[str]) -> dict[str, int]:
    """cloud/model.py's split_size: the remainder to the first zones."""
    base, extra = divmod(total, len(zones)) if zones else (0, 0)
    return {z: base + (1 if i < extra else 0) for i, z in enumerate(zones)}


@dataclass(frozen=True)
class MigRange:
    """One zonal MIG of an autoscaled group and its share of the group's min/max."""

    group: str
    zone: str
    name: str
    min: int
    max: int

    def clamp(self, size: int) -> int:
        return max(self.min, min(self.max, size))


def mig_ranges(bundle: ClusterBundle, group: InstanceGroup) -> list[MigRange]:
    """The zonal MIGs of an autoscaled group with their shares; a MIG whose max share is 0 (a
    maxSize below the zone count) is left out: it stays empty and the autoscaler is not told."""
    if not autoscaled(bundle, group) or group.spec.zone_distribution != "zonal":
        return []
    lo, hi = split(group.spec.min_size, group.spec.zones), split(group.spec.max_size, group.spec.zones)
    c_name = bundle.cluster.name
    return [
        MigRange(group.name, z, zonal_mig_name(z, group.name, c_name), lo[z], hi[z])
        for z in group.spec.zones
        if hi[z] > 0
    ]


def all_mig_ranges(bundle: ClusterBundle) -> list[MigRange]:
    return [r for g in bundle.instance_groups for r in mig_ranges(bundle, g)]


def image_of(bundle: ClusterBundle) -> str:
    """The autoscaler's image: the override, or the minor's release from the registry
    (spec.assets.containerRegistry, or registry.k8s.io)."""
    s = bundle.cluster.spec
    if s.cluster_autoscaler.image:
        return s.cluster_autoscaler.image
    version = releases.cluster_autoscaler_version(s.kubernetes_version) or "0.0.0"
    registry = s.assets.container_registry or "registry.k8s.io"
    return f"{registry}/{releases.CLUSTER_AUTOSCALER_IMAGE}:v{version}"


def autoscaler_problems(bundle: ClusterBundle) -> list[str]:
    """spec.clusterAutoscaler and the groups' spec.autoscale: each problem names the field and the fix."""
    problems: list[str] = []
    ca = bundle.cluster.spec.cluster_autoscaler
    f = "spec.clusterAutoscaler"
    for g in bundle.instance_groups:
        p = f"instancegroup {shown_key(g.name)}: spec.autoscale"
        if g.spec.autoscale is not True:
            continue
        if g.spec.role == Role.CONTROL_PLANE:
            problems.append(f"{p}: a control-plane group is never autoscaled (etcd's members are fixed); "
                            "remove spec.autoscale")  # fmt: skip
        elif g.spec.max_size == 0:
            problems.append(f"{p}: the group's spec.maxSize is 0, so there is nothing to scale; raise maxSize "
                            "or set autoscale: false")  # fmt: skip
    for g in bundle.instance_groups:
        if autoscaled(bundle, g) and g.spec.zone_distribution == "regional":
            problems.append(
                f"instancegroup {shown_key(g.name)}: spec.zoneDistribution: regional cannot be autoscaled: the "
                "cluster autoscaler's GCE provider takes zonal instance groups only (its gce_url.go parses "
                "projects/P/zones/Z/instanceGroups/NAME); set zoneDistribution: zonal, or autoscale: false"
            )
    if not ca.enabled:
        return problems
    parts = ca.expander.split(",")
    if not ca.expander or any(e not in EXPANDERS for e in parts) or len(set(parts)) != len(parts):
        problems.append(f"{f}.expander: {shown(ca.expander)} is not an expander the cluster autoscaler knows; use one "
                        f"of {', '.join(EXPANDERS)} (or a comma-separated chain of them, e.g. priority,least-waste)")  # fmt: skip
    if not 0 < ca.scale_down_utilization_threshold <= 1:
        problems.append(f"{f}.scaleDownUtilizationThreshold: {shown(ca.scale_down_utilization_threshold)} must be "
                        "above 0 and at most 1 (the share of a node's requested CPU and memory below which it may "
                        "go; the autoscaler's default 0.5)")  # fmt: skip
    for name, value in (("scaleDownDelayAfterAdd", ca.scale_down_delay_after_add),
                        ("scaleDownUnneededTime", ca.scale_down_unneeded_time)):  # fmt: skip
        if not DURATION_RE.fullmatch(value):
            problems.append(f"{f}.{name}: {shown(value)} is not a duration; write whole hours, minutes and seconds "
                            "in that order, e.g. 10m, 1h30m or 90s")  # fmt: skip
    if ca.image is not None and (len(ca.image) > 255 or not IMAGE_RE.fullmatch(ca.image)):
        problems.append(f"{f}.image: {shown(ca.image)} is not an image reference; write REGISTRY/PATH:TAG or "
                        "REGISTRY/PATH@sha256:DIGEST, e.g. registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1")  # fmt: skip
    if ca.image is None and releases.cluster_autoscaler_version(bundle.cluster.spec.kubernetes_version) is None:
        known = ", ".join(f"1.{m}" for m in sorted(releases.CLUSTER_AUTOSCALER))
        problems.append(f"{f}.image: kubegce knows no cluster-autoscaler release for Kubernetes "
                        f"{shown(bundle.cluster.spec.kubernetes_version)} (it knows {known}, as of {releases.CHECKED}); "
                        "set image to the release of your minor (registry.k8s.io/autoscaling/cluster-autoscaler:v1.N.P)")  # fmt: skip
    return problems


def autoscaler_warnings(bundle: ClusterBundle) -> list[str]:
    """What is valid but does nothing."""
    ca = bundle.cluster.spec.cluster_autoscaler
    if ca.enabled and not all_mig_ranges(bundle):
        return ["spec.clusterAutoscaler: enabled, but no group is autoscaled (a node group needs maxSize > "
                "minSize, or autoscale: true): the autoscaler will run and change nothing"]  # fmt: skip
    return []
