"""Resolve every instance group's image and boot plan, and render its metadata.

This is the step between the spec and the resource graph; every problem across all groups is
collected into one :class:`SpecError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kubegce.boot.channel import BootPlan, ChannelError, plan_boot
from kubegce.boot.kubeadm import API_PORT
from kubegce.boot.metadata import MetadataError, build_metadata
from kubegce.boot.render import BootPayload, render_node_config, render_payload
from kubegce.errors import SpecError, UserError
from kubegce.images.catalog import DEFAULT_CNI_BIN_DIR, Catalog, ImageProfile, ImageReader, ResolvedImage
from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
from kubegce.spec.validate import validate_bundle


@dataclass(frozen=True)
class GroupBoot:
    group: InstanceGroup
    image: ResolvedImage
    plan: BootPlan
    payload: BootPayload
    metadata: dict[str, str]


@dataclass(frozen=True)
class ClusterBoot:
    bundle: ClusterBundle
    groups: list[GroupBoot]
    warnings: list[str]
    # objects nodes fetch at boot (state-store key -> content); empty when configs travel in metadata
    node_objects: dict[str, bytes] = field(default_factory=dict)


def role_of(group: InstanceGroup) -> str:
    return "control-plane" if group.spec.role == Role.CONTROL_PLANE else "node"


def node_config_key(cluster: str, group: InstanceGroup) -> str:
    return f"{cluster}/nodeconfig/{role_of(group)}/{group.name}.env"


def secrets_key(cluster: str, role: str) -> str:
    return f"{cluster}/secrets/{role}.tar"


class NodeObjectStore(Protocol):
    nodes_can_read: bool

    def object_url(self, key: str) -> str: ...

    def upload_url(self, key: str) -> str: ...

    def create_url(self, key: str) -> str: ...


def discovery_key(cluster: str) -> str:
    """Object holding the API server's address: written by the first control plane (or by kubegce
    for a load-balanced API), read by every other node before it joins."""
    return f"{cluster}/discovery/api-address"


def election_key(cluster: str) -> str:
    """Object whose create-only write elects the control plane that runs `kubeadm init` (HA);
    it holds the winner's instance name. `delete cluster` removes it with the rest of the cluster."""
    return f"{cluster}/discovery/init-election"


def cluster_cni_bin_dir(profiles: list[ImageProfile | None]) -> str:
    """One CNI plugin dir for every node: the pod network's DaemonSet installs its plugins there by
    hostPath, cluster-wide. /opt/cni/bin, unless an image's /opt is read-only (COS): then its dir
    for all nodes (the first control plane rewrites the manifest's hostPath to match)."""
    other = sorted({p.cni_bin_dir for p in profiles if p is not None and p.cni_bin_dir != DEFAULT_CNI_BIN_DIR})
    return other[0] if other else DEFAULT_CNI_BIN_DIR


def api_endpoint_name(cluster_name: str) -> str:
    return f"api.internal.{cluster_name}"


def api_server_url(cluster_name: str) -> str:
    """The API server as nodes and kubeconfigs address it."""
    return f"https://{api_endpoint_name(cluster_name)}:{API_PORT}"


def asset_warnings(bundle: ClusterBundle) -> list[str]:
    """Settings that let the cluster be created but keep a node from finishing its bootstrap."""
    s = bundle.cluster.spec
    pinned = s.assets.manifest_sha256
    out = []
    if s.networking.plugin not in pinned:
        out.append(
            f"spec.assets.manifestSha256.{s.networking.plugin} is not set: the control plane will "
            f"refuse to install the unpinned {s.networking.plugin} manifest; pin its sha256"
        )
    if s.cloud_controller_manager and "ccm" not in pinned:
        out.append("spec.assets.manifestSha256.ccm is not set: the cloud-controller-manager will not install")
    return out


def plan_cluster(
    bundle: ClusterBundle,
    catalog: Catalog,
    *,
    reader: ImageReader | None = None,
    force: bool = False,
    secrets_url: str = "",
    store: NodeObjectStore | None = None,
    validate: bool = True,
) -> ClusterBoot:
    """Validate, resolve images, choose channels and render every group's metadata.

    With a store nodes can read (gs://), node configs are objects in it (metadata carries their
    URL and hash) and each role's secrets bundle is referenced; otherwise the non-secret config
    travels in metadata and there is no secrets source. ``validate=False`` skips the spec checks
    (only the boot lab does that, to feed hostile values to the renderer on purpose).
    """
    problems = validate_bundle(bundle) if validate else []
    if problems:
        raise SpecError(problems)
    warnings: list[str] = []
    groups: list[GroupBoot] = []
    node_objects: dict[str, bytes] = {}
    s = bundle.cluster.spec
    resolved: dict[str, ResolvedImage | UserError] = {}
    for g in bundle.instance_groups:
        try:
            resolved[g.name] = catalog.resolve(g.spec.image, reader)
        except UserError as exc:
            resolved[g.name] = exc
    cni_bin_dir = cluster_cni_bin_dir([r.profile for r in resolved.values() if isinstance(r, ResolvedImage)])
    for g in bundle.instance_groups:
        where = f"instancegroup {g.name}"
        try:
            image = resolved[g.name]
            if isinstance(image, UserError):
                raise image
            plan = plan_boot(image, g.spec.bootstrap, where=where, force=force)
        except (ChannelError, UserError) as exc:
            problems.append(str(exc) if isinstance(exc, ChannelError) else f"{where} spec.image: {exc}")
            continue
        warnings.extend(plan.warnings)
        config_url = ""
        group_secrets = secrets_url
        discovery = ("", "")
        election = ("", "")
        if store is not None and store.nodes_can_read:
            key = node_config_key(bundle.cluster.name, g)
            config_url = store.object_url(key)
            group_secrets = store.object_url(secrets_key(bundle.cluster.name, role_of(g)))
            discovery = (store.object_url(discovery_key(bundle.cluster.name)),
                         store.upload_url(discovery_key(bundle.cluster.name)))  # fmt: skip
            election = (store.object_url(election_key(bundle.cluster.name)),
                        store.create_url(election_key(bundle.cluster.name)))  # fmt: skip
        config = render_node_config(
            bundle, g, plan, image.profile,
            api_endpoint=api_endpoint_name(bundle.cluster.name), secrets_url=group_secrets,
            discovery_url=discovery[0], discovery_upload_url=discovery[1],
            election_url=election[0], election_upload_url=election[1], cni_bin_dir=cni_bin_dir,
        )  # fmt: skip
        if config_url:
            node_objects[node_config_key(bundle.cluster.name, g)] = config.text.encode()
        payload = render_payload(config, plan, config_url)
        try:
            metadata = build_metadata(
                cluster_name=bundle.cluster.name,
                group_name=g.name,
                plan=plan,
                payload=payload,
                ssh_public_key=s.ssh_public_key,
            )
        except MetadataError as exc:
            problems.append(str(exc))
            continue
        groups.append(GroupBoot(g, image, plan, payload, metadata))
    if problems:
        raise SpecError(problems)
    return ClusterBoot(bundle, groups, warnings, node_objects)
