"""Defaults: generated subnets, instance-group zones, and the bundle `create cluster` builds from flags."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kubegce.defaults import DEFAULT_CONTROL_PLANE_MACHINE_TYPE, DEFAULT_IMAGE, DEFAULT_NODE_MACHINE_TYPE
from kubegce.errors import UserError
from kubegce.spec.models import (
    DEFAULT_KUBERNETES_VERSION,
    Cluster,
    ClusterBundle,
    ClusterSpec,
    InstanceGroup,
    InstanceGroupSpec,
    NetworkingSpec,
    ObjectMeta,
    Role,
    SubnetSpec,
)
from kubegce.spec.validate import ZONE_RE, region_of


def apply_defaults(bundle: ClusterBundle) -> ClusterBundle:
    """Return a copy with generated subnets (one per region) and group zones filled in."""
    b = bundle.model_copy(deep=True)
    s = b.cluster.spec
    # only well-formed zones have a region; validation names the others (and no subnet it never asked for)
    regions = sorted({region_of(z) for z in s.zones if ZONE_RE.fullmatch(z)})
    if not s.subnets and regions:
        try:
            net = ipaddress.ip_network(s.network_cidr, strict=True)
            blocks = list(net.subnets(new_prefix=max(net.prefixlen, 20)))
        except ValueError:
            blocks = []  # validation reports the CIDR
        s.subnets = [
            SubnetSpec(name=region, region=region, cidr=str(blocks[i]))
            for i, region in enumerate(regions)
            if i < len(blocks)
        ]
    for g in b.instance_groups:
        if not g.spec.zones:
            g.spec.zones = list(s.zones)
    return b


@dataclass
class CreateClusterOptions:
    """The kOps-like flags of `kubegce create cluster`."""

    name: str
    project: str
    zones: list[str]
    image: str = DEFAULT_IMAGE
    node_image: str | None = None
    control_plane_image: str | None = None
    node_count: int = 2
    control_plane_count: int = 1
    node_size: str = DEFAULT_NODE_MACHINE_TYPE
    control_plane_size: str = DEFAULT_CONTROL_PLANE_MACHINE_TYPE
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    networking: str = "calico"
    topology: str = "public"
    ssh_public_key: str | None = None
    cloud_labels: dict[str, str] = field(default_factory=dict)
    ssh_access: list[str] = field(default_factory=list)  # empty: the API access list (kOps), else 0.0.0.0/0
    api_access: list[str] = field(default_factory=list)  # empty: 0.0.0.0/0


def bundle_from_options(o: CreateClusterOptions) -> ClusterBundle:
    """The bundle `create cluster` flags describe. Counts are checked here, where the message can
    name the flag; everything else is checked by :func:`kubegce.spec.validate.validate_bundle`."""
    if o.control_plane_count < 1:
        raise UserError(
            f"--control-plane-count {o.control_plane_count}: a cluster needs at least one control plane; "
            "use 1 (or 3 for high availability)"
        )
    if o.node_count < 0:
        raise UserError(f"--node-count {o.node_count}: must be 0 or more")
    spec = ClusterSpec.model_validate(
        {
            "project": o.project,
            "zones": o.zones,
            "kubernetesVersion": o.kubernetes_version,
            "networking": NetworkingSpec.model_validate({"plugin": o.networking}),
            "topology": o.topology,
            "sshPublicKey": o.ssh_public_key,
            "cloudLabels": o.cloud_labels,
            **({"kubernetesApiAccess": o.api_access} if o.api_access else {}),
            **({"sshAccess": o.ssh_access or o.api_access} if o.ssh_access or o.api_access else {}),
        }
    )
    cluster = Cluster(metadata=ObjectMeta(name=o.name), spec=spec)
    groups = [
        InstanceGroup(
            metadata=ObjectMeta(name="control-plane"),
            spec=InstanceGroupSpec(
                role=Role.CONTROL_PLANE,
                machine_type=o.control_plane_size,
                image=o.control_plane_image or o.image,
                min_size=o.control_plane_count,
                max_size=o.control_plane_count,
                # one control plane per zone, as kOps does; the count decides how many zones
                zones=o.zones[: max(1, min(o.control_plane_count, len(o.zones)))],
            ),
        ),
        InstanceGroup(
            metadata=ObjectMeta(name="nodes"),
            spec=InstanceGroupSpec(
                role=Role.NODE,
                machine_type=o.node_size,
                image=o.node_image or o.image,
                min_size=o.node_count,
                max_size=o.node_count,
            ),
        ),
    ]
    return apply_defaults(ClusterBundle(cluster=cluster, instance_groups=groups))
