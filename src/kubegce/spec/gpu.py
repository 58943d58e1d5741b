"""GPU groups in the spec: which GPUs a group has, its NVIDIA driver version and taint, and what is
refused (docs/gpus.md). The per-image install is catalog data (images/catalog.yaml gpu_profiles);
what a node gets is rendered by :mod:`kubegce.boot.gpu`.
"""

from __future__ import annotations

import re

from kubegce.spec import gce_accelerators
from kubegce.spec.gce_accelerators import Gpus
from kubegce.spec.models import (
    DEFAULT_GPU_DRIVER_BRANCH,
    GPU_ACCELERATOR_LABEL,
    GPU_PRESENT_LABEL,
    GPU_TAINT,
    GPU_TOOLKIT_LABEL,
    ClusterBundle,
    InstanceGroup,
)
from kubegce.spec.text import shown

# A driver branch (580) or an exact NVIDIA driver version (580.95.05, 580.82): NVIDIA's numbering.
DRIVER_VERSION_RE = re.compile(r"\A[1-9][0-9]{2}(?:\.[0-9]{1,3}){0,2}\Z")


def gpus_of(group: InstanceGroup) -> Gpus | None:
    """The GPUs each instance of the group has, or None."""
    s = group.spec
    return gce_accelerators.group_gpus(s.machine_type, [(a.type, a.count) for a in s.guest_accelerators])


def driver_version(bundle: ClusterBundle, group: InstanceGroup) -> str:
    """The group's driver version: its own spec.gpu.driverVersion, the cluster's, or the default branch."""
    own = group.spec.gpu.driver_version if group.spec.gpu else None
    return own or bundle.cluster.spec.gpu.driver_version or DEFAULT_GPU_DRIVER_BRANCH


def driver_branch(version: str) -> str:
    """580 of 580.95.05."""
    return version.split(".", 1)[0]


def tainted(bundle: ClusterBundle, group: InstanceGroup) -> bool:
    own = group.spec.gpu.taint if group.spec.gpu else None
    return bundle.cluster.spec.gpu.taint if own is None else own


def node_labels(group: InstanceGroup) -> dict[str, str]:
    """The labels a GPU group's nodes register with (none for other groups)."""
    gpus = gpus_of(group)
    if gpus is None:
        return {}
    return {GPU_PRESENT_LABEL: "true", GPU_ACCELERATOR_LABEL: gpus.model}


def node_taints(bundle: ClusterBundle, group: InstanceGroup) -> list[str]:
    """The taint a GPU group's nodes register with, unless spec.gpu.taint is false or the group
    already has a taint of that key."""
    if gpus_of(group) is None or not tainted(bundle, group):
        return []
    key = GPU_TAINT.split("=", 1)[0]
    if any(t.split(":", 1)[0].split("=", 1)[0] == key for t in group.spec.taints):
        return []
    return [GPU_TAINT]


def _version_problem(field: str, version: str) -> str | None:
    if not DRIVER_VERSION_RE.fullmatch(version):
        return (f"{field}: {shown(version)} is not an NVIDIA driver version; write a branch (580) or an exact "
                "version (580.95.05)")  # fmt: skip
    return None


def gpu_problems(bundle: ClusterBundle) -> list[str]:
    """spec.gpu of the cluster and of each group, and the labels kubegce sets itself."""
    out = []
    cluster_version = bundle.cluster.spec.gpu.driver_version
    if cluster_version and (problem := _version_problem("spec.gpu.driverVersion", cluster_version)):
        out.append(problem)
    for g in bundle.instance_groups:
        p = f"instancegroup {g.name}:"
        gpus = gpus_of(g)
        for label in (GPU_PRESENT_LABEL, GPU_ACCELERATOR_LABEL, GPU_TOOLKIT_LABEL):
            if label in g.spec.node_labels:
                out.append(f"{p} spec.nodeLabels.{label}: kubegce sets it on GPU groups' nodes; remove it")
        own = g.spec.gpu.driver_version if g.spec.gpu else None
        if own is not None and (problem := _version_problem("spec.gpu.driverVersion", own)):
            out.append(f"{p} {problem}")
            continue
        if g.spec.gpu is not None and gpus is None:
            out.append(f"{p} spec.gpu: the group has no GPUs ({g.spec.machine_type}, no guestAccelerators); "
                       "remove spec.gpu, or give it GPUs (docs/gpus.md)")  # fmt: skip
            continue
        if gpus is None:
            continue
        version = driver_version(bundle, g)
        if not DRIVER_VERSION_RE.fullmatch(version):
            continue  # the cluster's, reported above
        if problem := gce_accelerators.branch_problem(gpus.model, int(driver_branch(version))):
            where = "spec.gpu.driverVersion" if own else "the cluster's spec.gpu.driverVersion"
            out.append(f"{p} {where} {version}: {problem}; set the group's spec.gpu.driverVersion")
    return out
