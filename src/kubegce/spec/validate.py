"""Semantic validation of a cluster bundle: names, zones, CIDRs, sizes, versions, labels.

Each check appends a problem naming the field and the fix; nothing here touches a cloud.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable

from kubegce.spec.models import ClusterBundle, InstanceGroup, Role

CLUSTER_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
GCE_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
ZONE_RE = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-[a-z]$")
VERSION_RE = re.compile(r"^v?1\.(\d+)\.(\d+)$")
GCE_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GCE_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
K8S_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
K8S_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
K8S_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MIN_MINOR, MAX_MINOR = 30, 34
MACHINE_FAMILIES = (
    "e2", "n1", "n2", "n2d", "n4", "t2d", "t2a", "c2", "c2d", "c3", "c3d", "c4", "c4a", "c4d",
    "m1", "m2", "m3", "a2", "a3", "g2", "h3", "z3", "f1", "g1",
)  # fmt: skip
MACHINE_RE = re.compile(r"^([a-z][a-z0-9]*)-([a-z0-9-]+)$")


def region_of(zone: str) -> str:
    m = ZONE_RE.match(zone)
    return m.group(1) if m else zone


def _close(value: str, options: Iterable[str]) -> str:
    hint = difflib.get_close_matches(value, list(options), n=1, cutoff=0.5)
    return f"; did you mean '{hint[0]}'?" if hint else ""


def check_k8s_label_key(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not K8S_PREFIX_RE.match(prefix)):
        return "prefix must be a DNS subdomain"
    if not K8S_NAME_RE.match(name):
        return "name must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
    return None


def check_taint(taint: str) -> str | None:
    """kubectl syntax: key[=value]:Effect."""
    key_value, sep, effect = taint.rpartition(":")
    if not sep or effect not in TAINT_EFFECTS:
        return f"must look like key[=value]:Effect with Effect one of {', '.join(TAINT_EFFECTS)}"
    key, _, value = key_value.partition("=")
    problem = check_k8s_label_key(key)
    if problem:
        return f"key {problem}"
    if not K8S_VALUE_RE.match(value):
        return "value must be at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
    return None


def _networks(field: str, value: str, problems: list[str]) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        problems.append(f"{field}: '{value}' is not a CIDR ({exc}); write it like 10.0.0.0/16")
        return None
    if not isinstance(net, ipaddress.IPv4Network):
        problems.append(f"{field}: '{value}' must be an IPv4 CIDR")
        return None
    return net


def _check_labels(field: str, labels: dict[str, str], problems: list[str]) -> None:
    for k, v in labels.items():
        if not GCE_LABEL_KEY_RE.match(k):
            problems.append(f"{field}.{k}: GCE label keys are 1-63 of [a-z0-9_-] starting with a lowercase letter")
        if not GCE_LABEL_VALUE_RE.match(v):
            problems.append(f"{field}.{k}: GCE label values are 0-63 of [a-z0-9_-] (got {v!r})")


def check_version(version: str) -> str | None:
    m = VERSION_RE.match(version)
    if not m:
        return f"'{version}' is not a Kubernetes version; write it like 1.33.2"
    minor = int(m.group(1))
    if not MIN_MINOR <= minor <= MAX_MINOR:
        return f"1.{minor} is not supported; use 1.{MIN_MINOR} to 1.{MAX_MINOR}"
    return None


def check_machine_type(value: str) -> str | None:
    m = MACHINE_RE.match(value)
    if not m:
        return f"'{value}' is not a GCE machine type; write it like e2-standard-4"
    if m.group(1) not in MACHINE_FAMILIES and not value.startswith("custom-"):
        return f"unknown machine family '{m.group(1)}'{_close(m.group(1), MACHINE_FAMILIES)}"
    return None


def validate_bundle(bundle: ClusterBundle) -> list[str]:
    """Return problems; an empty list means the bundle is valid (images are checked by boot planning)."""
    problems: list[str] = []
    c = bundle.cluster
    s = c.spec
    if not CLUSTER_NAME_RE.match(c.name) or len(c.name) > 253:
        problems.append(f"metadata.name: '{c.name}' must be a lowercase DNS name like demo.example.com")
    if not PROJECT_RE.match(s.project):
        problems.append(
            f"spec.project: '{s.project}' is not a GCP project id "
            "(6-30 of [a-z0-9-], starting with a letter); pass --project"
        )
    if not s.zones:
        problems.append("spec.zones: give at least one zone, e.g. --zones us-central1-a")
    for i, z in enumerate(s.zones):
        if not ZONE_RE.match(z):
            problems.append(f"spec.zones[{i}]: '{z}' is not a GCE zone; write it like us-central1-a")
    if len(set(s.zones)) != len(s.zones):
        problems.append("spec.zones: lists a zone twice")
    if problem := check_version(s.kubernetes_version):
        problems.append(f"spec.kubernetesVersion: {problem}")
    _check_labels("spec.cloudLabels", s.cloud_labels, problems)

    # GCE networks have no range of their own: networkCIDR is only where generated subnets come from.
    _networks("spec.networkCIDR", s.network_cidr, problems)
    named: list[tuple[str, ipaddress.IPv4Network]] = []
    regions = {region_of(z) for z in s.zones}
    subnet_regions: dict[str, int] = {}
    for i, sub in enumerate(s.subnets):
        field = f"spec.subnets[{i}]"
        if not GCE_NAME_RE.match(sub.name):
            problems.append(f"{field}.name: '{sub.name}' must be a GCE name ([a-z][-a-z0-9]*, max 63)")
        subnet_regions[sub.region] = subnet_regions.get(sub.region, 0) + 1
        net = _networks(f"{field}.cidr", sub.cidr, problems)
        if net is not None:
            named.append((f"{field}.cidr", net))
    for region in sorted(regions):
        count = subnet_regions.get(region, 0)
        if count != 1:
            problems.append(
                f"spec.subnets: region {region} has {count} subnets; zones across regions need "
                "exactly one subnet per region (leave spec.subnets empty to have them generated)"
            )
    for region in sorted(set(subnet_regions) - regions):
        problems.append(f"spec.subnets: region {region} has no zone in spec.zones; remove the subnet")
    for field, value in (
        ("spec.networking.podCIDR", s.networking.pod_cidr),
        ("spec.networking.serviceCIDR", s.networking.service_cidr),
    ):
        net = _networks(field, value, problems)
        if net is not None:
            named.append((field, net))
    for a in range(len(named)):
        for b in range(a + 1, len(named)):
            if named[a][1].overlaps(named[b][1]):
                problems.append(f"{named[b][0]}: {named[b][1]} overlaps {named[a][0]} {named[a][1]}; pick ranges apart")
    for i, cidr in enumerate(s.ssh_access):
        _networks(f"spec.sshAccess[{i}]", cidr, problems)
    for i, cidr in enumerate(s.kubernetes_api_access):
        _networks(f"spec.kubernetesApiAccess[{i}]", cidr, problems)

    names = [g.name for g in bundle.instance_groups]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"instancegroup {dup}: defined twice")
    if not any(g.spec.role == Role.CONTROL_PLANE for g in bundle.instance_groups):
        problems.append("instance groups: none has role ControlPlane; add one (--control-plane-count 1)")
    for g in bundle.instance_groups:
        problems.extend(_validate_group(g, s.zones))
    return problems


def _validate_group(g: InstanceGroup, cluster_zones: list[str]) -> list[str]:
    problems: list[str] = []
    p = f"instancegroup {g.name}:"
    s = g.spec
    if not GCE_NAME_RE.match(g.name) or len(g.name) > 40:
        problems.append(f"{p} metadata.name must be [a-z][-a-z0-9]*, at most 40 characters")
    if problem := check_machine_type(s.machine_type):
        problems.append(f"{p} spec.machineType: {problem}")
    if s.min_size < 0:
        problems.append(f"{p} spec.minSize: must be 0 or more (got {s.min_size})")
    if s.max_size < s.min_size:
        problems.append(f"{p} spec.maxSize: {s.max_size} is below spec.minSize {s.min_size}; raise maxSize")
    if s.max_size > 1000:
        problems.append(f"{p} spec.maxSize: at most 1000 per group (got {s.max_size})")
    if not 10 <= s.root_volume_size <= 65536:
        problems.append(f"{p} spec.rootVolumeSize: 10 to 65536 GB (got {s.root_volume_size})")
    for i, z in enumerate(s.zones):
        if z not in cluster_zones:
            problems.append(
                f"{p} spec.zones[{i}]: '{z}' is not a cluster zone{_close(z, cluster_zones)}; "
                "add it to the cluster's spec.zones"
            )
    for k, v in s.node_labels.items():
        if problem := check_k8s_label_key(k):
            problems.append(f"{p} spec.nodeLabels.{k}: key {problem}")
        if not K8S_VALUE_RE.match(v):
            problems.append(f"{p} spec.nodeLabels.{k}: value {v!r} must be a Kubernetes label value")
    for i, t in enumerate(s.taints):
        if problem := check_taint(t):
            problems.append(f"{p} spec.taints[{i}]: {t!r} {problem}")
    _check_labels(f"{p} spec.cloudLabels", s.cloud_labels, problems)
    seen: set[str] = set()
    for i, part in enumerate(s.bootstrap.additional_user_data):
        if not part.name or part.name in seen:
            problems.append(f"{p} spec.bootstrap.additionalUserData[{i}].name: must be set and unique")
        seen.add(part.name)
    return problems
