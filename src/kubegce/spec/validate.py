"""Semantic validation of a cluster bundle: names, zones, CIDRs, sizes, versions, labels.

Each check appends a problem naming the field and the fix; nothing here touches a cloud. Every
pattern matches the whole value (``\\A...\\Z``), so a trailing newline never passes, and a value
is quoted back at most 40 characters long (:func:`kubegce.spec.text.shown`).

:func:`validate_bundle` returns the problems (refuse the spec); :func:`bundle_warnings` what is
valid but probably not meant (an even number of control planes).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Collection, Iterable

from kubegce.backups import retention as backup_retention
from kubegce.spec import gce_accelerators, gce_machines, gce_zones, kubelet_labels, releases
from kubegce.spec.autoscaler import autoscaler_problems, autoscaler_warnings
from kubegce.spec.fields import (
    did_you_mean,
    image_problem,
    manifest_sha256_problems,
    mirror_problem,
    service_account_problem,
    ssh_public_key_problem,
    user_data_name_problem,
    user_data_type_problem,
)
from kubegce.spec.gpu import gpu_problems
from kubegce.spec.models import (
    CLUSTER_LABEL,
    DEFAULT_STORAGE_CLASS,
    PREMIUM_STORAGE_CLASS,
    SPOT_NODE_LABEL,
    ClusterBundle,
    EtcdBackupSpec,
    InstanceGroup,
    InstanceGroupSpec,
    ProvisioningModel,
    Role,
    StorageSpec,
)
from kubegce.spec.text import capped, shown, shown_key

CLUSTER_NAME_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
GCE_NAME_RE = re.compile(r"\A[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
PROJECT_RE = re.compile(r"\A[a-z][a-z0-9-]{4,28}[a-z0-9]\Z")
ZONE_RE = re.compile(r"\A([a-z]+-[a-z]+[0-9]+)-[a-z]\Z")
VERSION_RE = re.compile(r"\Av?1\.([0-9]{1,3})\.([0-9]{1,3})\Z")
GCE_LABEL_KEY_RE = re.compile(r"\A[a-z][a-z0-9_-]{0,62}\Z")
GCE_LABEL_VALUE_RE = re.compile(r"\A[a-z0-9_-]{0,63}\Z")
K8S_NAME_RE = re.compile(r"\A([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]\Z")
K8S_PREFIX_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
K8S_VALUE_RE = re.compile(r"\A(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?\Z")
# HOST[:PORT][/PATH]: what kubeadm's imageRepository and an image reference take (lowercase path
# components, as the distribution reference grammar has them); it reaches YAML and TOML on nodes.
REGISTRY_RE = re.compile(
    r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*\Z"
)
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MACHINE_FAMILIES = tuple(gce_machines.SERIES)
MAX_GCE_LABELS = 64


def region_of(zone: str) -> str:
    m = ZONE_RE.fullmatch(zone)
    return m.group(1) if m else zone


def _close(value: str, options: Iterable[str]) -> str:
    return did_you_mean(value, options, cutoff=0.5)


def check_k8s_label_key(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not K8S_PREFIX_RE.fullmatch(prefix)):
        return "prefix must be a DNS subdomain"
    if not K8S_NAME_RE.fullmatch(name):
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
    if not K8S_VALUE_RE.fullmatch(value):
        return "value must be at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
    return None


def _networks(field: str, value: str, problems: list[str]) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        reason = str(exc) if len(value) <= 50 and value.isprintable() else "not an address/prefix"
        problems.append(f"{field}: {shown(value)} is not a CIDR ({reason}); write it like 10.0.0.0/16")
        return None
    if not isinstance(net, ipaddress.IPv4Network):
        problems.append(f"{field}: {shown(value)} must be an IPv4 CIDR")
        return None
    return net


def _access_network(field: str, value: str, problems: list[str]) -> None:
    """A source range of a firewall rule: a CIDR of either family (one GCE rule is made per family)."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        reason = str(exc) if len(value) <= 50 and value.isprintable() else "not an address/prefix"
        problems.append(
            f"{field}: {shown(value)} is not a CIDR ({reason}); write it like 203.0.113.0/24 or 2001:db8::/32"
        )


def _check_labels(field: str, labels: dict[str, str], problems: list[str]) -> None:
    if len(labels) > MAX_GCE_LABELS:
        problems.append(f"{field}: {len(labels)} labels; GCE takes at most {MAX_GCE_LABELS}")
    for k, v in labels.items():
        if not GCE_LABEL_KEY_RE.fullmatch(k):
            problems.append(
                f"{field}.{shown_key(k)}: GCE label keys are 1-63 of [a-z0-9_-] starting with a lowercase letter"
            )
        if not GCE_LABEL_VALUE_RE.fullmatch(v):
            problems.append(f"{field}.{shown_key(k)}: GCE label values are 0-63 of [a-z0-9_-] (got {shown(v)})")


def _check_k8s_labels(field: str, labels: dict[str, str], problems: list[str]) -> None:
    for k, v in labels.items():
        if problem := check_k8s_label_key(k):
            problems.append(f"{field}.{shown_key(k)}: key {problem}")
        if not K8S_VALUE_RE.fullmatch(v):
            problems.append(
                f"{field}.{shown_key(k)}: value {shown(v)} must be a Kubernetes label value "
                "(at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric)"
            )


def check_version(version: str) -> str | None:
    """None when kubegce knows ``version``'s minor (supported, or out of support but still run by
    clusters: spec/releases.py); otherwise why not, with the range to use."""
    m = VERSION_RE.fullmatch(version)
    if not m:
        return f"{shown(version)} is not a Kubernetes version; write it like {releases.DEFAULT_VERSION}"
    if releases.minor_of(version) is None:
        return (
            f"1.{int(m.group(1))} is not a Kubernetes minor kubegce runs; use {releases.supported_range()} "
            f"(e.g. {releases.DEFAULT_VERSION}; checked against upstream on {releases.CHECKED})"
        )
    return None


def end_of_life_note(version: str) -> str | None:
    """Why ``version`` (a known one) is past upstream's end of life and how to move on, or None."""
    minor = releases.minor_of(version)
    if minor is None or minor.supported:
        return None
    path = ", then ".join(f"1.{n}" for n in range(minor.minor + 1, releases.OLDEST_SUPPORTED.minor + 1))
    return (
        f"Kubernetes 1.{minor.minor} reached end of life on {minor.end_of_life} (supported: "
        f"{releases.supported_range()}, as of {releases.CHECKED}); upgrade one minor at a time: {path} "
        "(edit cluster --set spec.kubernetesVersion=..., then rolling-update cluster --yes, for each)"
    )


def version_step_problem(before: str, after: str) -> str | None:
    """kubeadm upgrades a control plane one minor version at a time and never down (its
    `upgrade apply` version checks; lib/etcd.sh refuses the same on the node): a change of
    spec.kubernetesVersion that a roll could not carry out is refused when it is made."""
    old, new = releases.minor_of(before), releases.minor_of(after)
    if old is None or new is None or new.minor - old.minor in (0, 1):
        return None
    if new.minor < old.minor:
        return (
            f"spec.kubernetesVersion: {shown(after)} is a downgrade from {shown(before)}; kubeadm never downgrades "
            "a control plane: restore an etcd backup taken on the older version instead"
        )
    steps = ", then ".join(f"1.{n}" for n in range(old.minor + 1, new.minor + 1))
    return (
        f"spec.kubernetesVersion: {shown(before)} -> {shown(after)} skips a minor; kubeadm upgrades one minor at a "
        f"time: set {steps}, applying and rolling (rolling-update cluster --yes) after each"
    )


def new_cluster_problems(bundle: ClusterBundle) -> list[str]:
    """What a new cluster may not have that a stored one may keep: a minor past end of life."""
    if end_of_life_note(bundle.cluster.spec.kubernetes_version) is None:
        return []
    return [
        f"spec.kubernetesVersion: 1.{releases.for_version(bundle.cluster.spec.kubernetes_version).minor} is past "
        f"upstream's end of life; new clusters run {releases.supported_range()}: use e.g. "
        f"{releases.DEFAULT_VERSION}"
    ]


def check_machine_type(value: str) -> str | None:
    """None, or why ``value`` is not a GCE machine type, with the nearest known shapes."""
    problem = gce_machines.problem(value)
    if problem is None:
        return None
    if problem.startswith("unknown machine family"):
        series = value.split("-", 1)[0]
        hint = did_you_mean(series, MACHINE_FAMILIES)
        if not hint:
            hint = did_you_mean(value, gce_machines.SUGGESTIONS, n=2)
        return f"{problem}{hint}; families: {', '.join(MACHINE_FAMILIES)}"
    hint = did_you_mean(value, gce_machines.SUGGESTIONS, n=2, cutoff=0.5) if len(value) <= 63 else ""
    return f"{shown(value)} {problem}{hint}"


def check_zone(zone: str, known: Collection[str]) -> str | None:
    """None, or why ``zone`` is not a GCE zone, naming the nearest known ones."""
    if zone in known:
        return None
    if zone.strip().lower() in known:
        return f"{shown(zone)}: zones are lowercase with no spaces; write '{zone.strip().lower()}'"
    nearest = _nearest_zones(zone, known)
    return f"{shown(zone)} is not a GCE zone; nearest known: {', '.join(nearest)}"


def _nearest_zones(zone: str, known: Collection[str], n: int = 3) -> list[str]:
    """The zones of the region the text names (``us-central1`` or ``us-central1-z``), else the zones
    most like it, else the zones of the regions most like its region part."""
    text = zone.strip().lower()[:64]
    by_region: dict[str, list[str]] = {}
    for z in sorted(known):
        by_region.setdefault(z.rsplit("-", 1)[0], []).append(z)
    region = text if text in by_region else text.rsplit("-", 1)[0]
    if region in by_region:
        return by_region[region][:n]
    close = difflib.get_close_matches(text, sorted(known), n=n, cutoff=0.75)
    for r in difflib.get_close_matches(region, sorted(by_region), n=n, cutoff=0.0):
        close.extend(z for z in by_region[r] if z not in close)
    return close[:n]


def validate_bundle(bundle: ClusterBundle, *, known_zones: Collection[str] | None = None) -> list[str]:
    """Return problems; an empty list means the bundle is valid (images are resolved by boot planning).

    ``known_zones`` is the zones to accept (e.g. from the API's zones.list); default the built-in
    list in :mod:`kubegce.spec.gce_zones`.
    """
    problems: list[str] = []
    zones_known = gce_zones.ZONES if known_zones is None else known_zones
    c = bundle.cluster
    s = c.spec
    if not CLUSTER_NAME_RE.fullmatch(c.name) or len(c.name) > 253:
        problems.append(f"metadata.name: {shown(c.name)} must be a lowercase DNS name like demo.example.com")
    _check_k8s_labels("metadata.labels", c.metadata.labels, problems)
    if not PROJECT_RE.fullmatch(s.project):
        problems.append(
            f"spec.project: {shown(s.project)} is not a GCP project id "
            "(6-30 of [a-z0-9-], starting with a letter, ending with a letter or digit)"
        )
    if not s.zones:
        problems.append("spec.zones: give at least one zone, e.g. zones: [us-central1-a]")
    good_zones: list[str] = []
    for i, z in enumerate(s.zones):
        if problem := check_zone(z, zones_known):
            problems.append(f"spec.zones[{i}]: {problem}")
        else:
            good_zones.append(z)
    if len(set(s.zones)) != len(s.zones):
        problems.append("spec.zones: lists a zone twice; list each zone once")
    regions = sorted({region_of(z) for z in good_zones})
    if len(regions) > 1:
        problems.append(
            f"spec.zones: the zones are in {len(regions)} regions ({', '.join(regions)}); a cluster's zones "
            f"must be in one region, as in kOps: keep the zones of one region (e.g. {regions[0]}) "
            "and create one cluster per region"
        )
    if problem := check_version(s.kubernetes_version):
        problems.append(f"spec.kubernetesVersion: {problem}")
    _check_labels("spec.cloudLabels", s.cloud_labels, problems)
    if problem := service_account_problem(s.service_account):
        problems.append(f"spec.serviceAccount: {problem}")
    if s.ssh_public_key is not None and (problem := ssh_public_key_problem(s.ssh_public_key)):
        problems.append(f"spec.sshPublicKey: {problem}")
    if s.assets.mirror is not None and (problem := mirror_problem(s.assets.mirror)):
        problems.append(f"spec.assets.mirror: {problem}")
    registry = s.assets.container_registry
    if registry is not None and (len(registry) > 200 or not REGISTRY_RE.fullmatch(registry)):
        problems.append(
            f"spec.assets.containerRegistry: {shown(registry)} is not a registry; write HOST[:PORT][/PATH] "
            "in lowercase, e.g. registry.example.com:5000/k8s (no scheme), as kubeadm's imageRepository takes it"
        )
    for key, problem in manifest_sha256_problems(s.assets.manifest_sha256):
        problems.append(f"spec.assets.manifestSha256.{shown_key(key)}: {problem}")

    _check_backup(s.etcd.backup, problems)
    problems.extend(storage_problems(s.storage))
    problems.extend(gpu_problems(bundle))

    # GCE networks have no range of their own: networkCIDR is only where generated subnets come from.
    _networks("spec.networkCIDR", s.network_cidr, problems)
    named: list[tuple[str, ipaddress.IPv4Network]] = []
    subnet_regions: dict[str, int] = {}
    for i, sub in enumerate(s.subnets):
        field = f"spec.subnets[{i}]"
        if not GCE_NAME_RE.fullmatch(sub.name):
            problems.append(f"{field}.name: {shown(sub.name)} must be a GCE name ([a-z][-a-z0-9]*, max 63)")
        subnet_regions[sub.region] = subnet_regions.get(sub.region, 0) + 1
        net = _networks(f"{field}.cidr", sub.cidr, problems)
        if net is not None:
            named.append((f"{field}.cidr", net))
    if len(good_zones) == len(s.zones):  # a bad zone's region is not a region: say nothing about its subnet
        for region in regions:
            count = subnet_regions.get(region, 0)
            if count != 1:
                problems.append(
                    f"spec.subnets: region {region} has {count} subnets; give exactly one subnet per "
                    "region (leave spec.subnets empty to have it generated)"
                )
        for region in sorted(set(subnet_regions) - set(regions)):
            problems.append(f"spec.subnets: region {shown_key(region)} has no zone in spec.zones; remove the subnet")
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
        _access_network(f"spec.sshAccess[{i}]", cidr, problems)
    for i, cidr in enumerate(s.kubernetes_api_access):
        _access_network(f"spec.kubernetesApiAccess[{i}]", cidr, problems)

    names = [g.name for g in bundle.instance_groups]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"instancegroup {shown_key(dup)}: defined twice; give each group its own metadata.name")
    if not any(g.spec.role == Role.CONTROL_PLANE for g in bundle.instance_groups):
        problems.append(
            "instance groups: none has role ControlPlane; add an InstanceGroup with "
            "spec: {role: ControlPlane, minSize: 1, maxSize: 1} (3 for high availability)"
        )
    for g in bundle.instance_groups:
        problems.extend(_validate_group(g, s.zones))
    problems.extend(autoscaler_problems(bundle))  # spec.clusterAutoscaler, spec.autoscale
    return capped(problems)


def control_plane_count(bundle: ClusterBundle) -> int:
    return sum(g.spec.min_size for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE)


def bundle_warnings(bundle: ClusterBundle) -> list[str]:
    """What is valid but probably not meant. The service returns these with its other warnings
    (:func:`kubegce.service.cluster.check_spec` for create and edit, :func:`kubegce.service.cluster.plan`
    for update), so every way a spec comes in is warned the same, once."""
    out = []
    if note := end_of_life_note(bundle.cluster.spec.kubernetes_version):
        out.append(f"spec.kubernetesVersion: {note}")
    out.extend(autoscaler_warnings(bundle))
    for g in bundle.instance_groups:
        if g.spec.instance_termination_action == "STOP":
            out.append(
                f"instancegroup {g.name} spec.instanceTerminationAction: STOP keeps a preempted VM and starts it "
                "again; one stopped in the middle of its boot reruns `kubeadm join`, which kubeadm refuses once it "
                "has written the kubelet's config, and the node stays out; DELETE (the default) boots a clean disk"
            )
    count = control_plane_count(bundle)
    if count > 1 and count % 2 == 0:
        out.append(
            f"{count} control planes: etcd needs a majority for quorum, so {count} members survive no more "
            f"failures than {count - 1}; use an odd number ({count - 1} or {count + 1})"
        )
    return out


def _validate_group(g: InstanceGroup, cluster_zones: list[str]) -> list[str]:
    problems: list[str] = []
    p = f"instancegroup {shown_key(g.name)}:"
    s = g.spec
    if not GCE_NAME_RE.fullmatch(g.name) or len(g.name) > 40:
        problems.append(f"{p} metadata.name must be [a-z][-a-z0-9]*, at most 40 characters")
    # the cluster label names the group's cluster in a document and is never a Kubernetes or GCE
    # label: it holds any cluster name, as kOps's kops.k8s.io/cluster does (longer than 63 too)
    labels = {k: v for k, v in g.metadata.labels.items() if k != CLUSTER_LABEL}
    _check_k8s_labels(f"{p} metadata.labels", labels, problems)
    owner = g.metadata.labels.get(CLUSTER_LABEL)
    if owner is not None and (not CLUSTER_NAME_RE.fullmatch(owner) or len(owner) > 253):
        problems.append(f"{p} metadata.labels.{CLUSTER_LABEL}: {shown(owner)} must be the cluster's name "
                        "(a lowercase DNS name like demo.example.com)")  # fmt: skip
    if problem := check_machine_type(s.machine_type):
        problems.append(f"{p} spec.machineType: {problem}")
    if problem := image_problem(s.image):
        problems.append(f"{p} spec.image: {problem}")
    if s.role == Role.CONTROL_PLANE and s.min_size < 1:
        problems.append(
            f"{p} spec.minSize: a control-plane group needs at least 1 instance (got {shown(s.min_size)}); "
            "set minSize and maxSize to 1 (3 for high availability), or remove the group"
        )
    elif s.min_size < 0:
        problems.append(f"{p} spec.minSize: must be 0 or more (got {shown(s.min_size)})")
    if s.max_size < s.min_size:
        problems.append(
            f"{p} spec.maxSize: {shown(s.max_size)} is below spec.minSize {shown(s.min_size)}; raise maxSize"
        )
    if s.max_size > 1000:
        problems.append(f"{p} spec.maxSize: at most 1000 per group (got {shown(s.max_size)})")
    if not 10 <= s.root_volume_size <= 65536:
        problems.append(f"{p} spec.rootVolumeSize: 10 to 65536 GB (got {shown(s.root_volume_size)})")
    if not s.zones:
        problems.append(f"{p} spec.zones: give at least one zone (one of the cluster's spec.zones)")
    for i, z in enumerate(s.zones):
        if z not in cluster_zones:
            problems.append(
                f"{p} spec.zones[{i}]: {shown(z)} is not a cluster zone{_close(z, cluster_zones)}; "
                "add it to the cluster's spec.zones"
            )
    _check_k8s_labels(f"{p} spec.nodeLabels", s.node_labels, problems)
    for key in s.node_labels:
        if kubelet_labels.kubelet_refuses(key):
            problems.append(f"{p} spec.nodeLabels.{shown_key(key)}: {kubelet_labels.refusal_reason(key)}")
    for i, t in enumerate(s.taints):
        if problem := check_taint(t):
            problems.append(f"{p} spec.taints[{i}]: {shown(t)} {problem}")
    _check_labels(f"{p} spec.cloudLabels", s.cloud_labels, problems)
    problems.extend(f"{p} {problem}" for problem in spot_problems(s))
    problems.extend(f"{p} {problem}" for problem in accelerator_problems(s))
    if s.service_account is not None and (problem := service_account_problem(s.service_account)):
        problems.append(f"{p} spec.serviceAccount: {problem}")
    seen: set[str] = set()
    for i, part in enumerate(s.bootstrap.additional_user_data):
        field = f"{p} spec.bootstrap.additionalUserData[{i}]"
        if problem := user_data_name_problem(part.name):
            problems.append(f"{field}.name: {problem}")
        elif part.name in seen:
            problems.append(f"{field}.name: {shown(part.name)} is used twice; give each part its own name")
        seen.add(part.name)
        if problem := user_data_type_problem(part.type):
            problems.append(f"{field}.type: {problem}")
    return problems


def spot_problems(s: InstanceGroupSpec) -> list[str]:
    """spec.provisioningModel and what goes with it (docs/spot.md)."""
    out = []
    spot = s.provisioning_model == ProvisioningModel.SPOT
    if spot and s.role == Role.CONTROL_PLANE and not s.allow_spot_control_plane:
        out.append(
            "spec.provisioningModel: SPOT on a control-plane group is refused: GCE can preempt the Spot VMs "
            "of a zone together, and when a majority of control planes goes etcd loses quorum and the API "
            "stops; use STANDARD (Spot for Node groups), or set spec.allowSpotControlPlane: true to accept it"
        )
    if s.allow_spot_control_plane and not (spot and s.role == Role.CONTROL_PLANE):
        out.append("spec.allowSpotControlPlane: only for a control-plane group with provisioningModel: SPOT; remove it")
    if s.instance_termination_action is not None and not spot:
        out.append(
            f"spec.instanceTerminationAction: {s.instance_termination_action} is what GCE does when it preempts "
            "a Spot VM; set provisioningModel: SPOT, or remove it"
        )
    if SPOT_NODE_LABEL in s.node_labels:
        out.append(
            f"spec.nodeLabels.{SPOT_NODE_LABEL}: kubegce sets it on Spot groups' nodes (true); remove it and use "
            "provisioningModel: SPOT"
        )
    return out


def storage_problems(s: StorageSpec) -> list[str]:
    """spec.storage.defaultStorageClass: a StorageClass name (a DNS-1123 subdomain) that is not the
    name of the other class kubegce creates (docs/storage.md)."""
    name = s.default_storage_class
    field = "spec.storage.defaultStorageClass"
    if not name:
        return []  # no default class
    if not CLUSTER_NAME_RE.fullmatch(name) or len(name) > 253:
        return [
            f"{field}: {shown(name)} is not a StorageClass name; write a lowercase DNS-1123 subdomain "
            f"(a-z, 0-9, '-' and '.', at most 253), e.g. {DEFAULT_STORAGE_CLASS}, or \"\" for no default class"
        ]
    if name == PREMIUM_STORAGE_CLASS:
        return [
            f"{field}: {name} is the pd-ssd class kubegce also creates; name the default (pd-balanced) class "
            f'something else, e.g. {DEFAULT_STORAGE_CLASS} (GKE\'s name), or "" for no default class'
        ]
    return []


def accelerator_problems(s: InstanceGroupSpec) -> list[str]:
    """spec.guestAccelerators: one GPU model, in a count its N1 machine type can take."""
    if not s.guest_accelerators:
        return []
    if len(s.guest_accelerators) > 1:
        return ["spec.guestAccelerators: GCE attaches one GPU model per instance; keep one entry"]
    a = s.guest_accelerators[0]
    field = "spec.guestAccelerators[0]"
    if not GCE_NAME_RE.fullmatch(a.type) or len(a.type) > 63:
        return [f"{field}.type: {shown(a.type)} is not a GPU model name like nvidia-tesla-t4"]
    if not 1 <= a.count <= 16:
        return [f"{field}.count: {shown(a.count)} must be 1 to 16"]
    if problem := gce_accelerators.attach_problem(s.machine_type, a.type, a.count):
        return [f"{field}: {problem}"]
    return []


def _check_backup(b: EtcdBackupSpec, problems: list[str]) -> None:
    """spec.etcd.backup: durations as whole strings, an interval of at least a minute, a retention
    that keeps something."""
    r = backup_retention
    interval = r.duration_s(b.interval)
    if interval is None or not r.MIN_INTERVAL_S <= interval <= r.MAX_INTERVAL_S:
        problems.append(f"spec.etcd.backup.interval: {shown(b.interval)} must be a duration from 1m to 7d "
                        "(a whole number and s, m, h or d: 15m, 1h)")  # fmt: skip
    tiers = {}
    for name in ("all", "hourly", "daily"):
        value = getattr(b.retention, name)
        seconds = r.duration_s(value)
        if seconds is None or seconds > r.MAX_RETENTION_S:
            problems.append(f"spec.etcd.backup.retention.{name}: {shown(value)} must be 0 or a duration up to 3660d "
                            "(a whole number and s, m, h or d: 1h, 168h, 30d)")  # fmt: skip
        else:
            tiers[name] = seconds
    if len(tiers) == 3 and not any(tiers.values()):
        problems.append("spec.etcd.backup.retention: all, hourly and daily are all 0, which would keep only the "
                        "newest backup; give at least one of them a duration (the defaults: all 1h, hourly 168h, "
                        "daily 30d), or set spec.etcd.backup.enabled: false")  # fmt: skip


def backup_retention_of(b: EtcdBackupSpec) -> backup_retention.Retention:
    """The retention rule of a valid spec.etcd.backup."""
    seconds = [backup_retention.duration_s(getattr(b.retention, n)) or 0 for n in ("all", "hourly", "daily")]
    return backup_retention.Retention(*seconds)
