"""The boot pipeline: resolve every instance group's image, choose its boot channel, and render
its node config and metadata.

This is the step between the spec and the resource graph (:mod:`kubegce.cloud.model`); every
problem across all groups is collected into one :class:`SpecError`. Where objects live in the
state store is :mod:`kubegce.state.layout`'s business; the API's name is :mod:`kubegce.boot.endpoint`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubegce.boot import gpu as boot_gpu
from kubegce.boot.channel import ChannelDecision, ChannelError, decide_channel
from kubegce.boot.endpoint import api_endpoint_name
from kubegce.boot.gpu import version_warnings as gpu_version_warnings
from kubegce.boot.metadata import MetadataError, build_metadata
from kubegce.boot.render import BackupUrls, BootPayload, RestoreUrls, render_node_config, render_payload
from kubegce.errors import SpecError, UserError
from kubegce.images.catalog import DEFAULT_CNI_BIN_DIR, Catalog, ImageProfile, ImageReader, ResolvedImage
from kubegce.images.fit import arch_problem, image_warnings, not_found_problem
from kubegce.images.gpu_profiles import gpu_profile
from kubegce.spec import gce_accelerators
from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
from kubegce.spec.validate import validate_bundle
from kubegce.state.base import NodeUrls
from kubegce.state.layout import (
    backup_request_key,
    backups_dir,
    discovery_key,
    election_key,
    node_config_key,
    restore_leader_key,
    restore_marker_key,
    role_of,
    role_secrets_key,
)


@dataclass(frozen=True)
class GroupChannel:
    """One group's image and the channel its nodes boot through, before anything is rendered."""

    group: InstanceGroup
    image: ResolvedImage
    decision: ChannelDecision


@dataclass(frozen=True)
class GroupBoot:
    group: InstanceGroup
    image: ResolvedImage
    decision: ChannelDecision
    payload: BootPayload
    metadata: dict[str, str]


@dataclass(frozen=True)
class ClusterBoot:
    bundle: ClusterBundle
    groups: list[GroupBoot]
    warnings: list[str]
    # objects nodes fetch at boot (state-store key -> content); empty when configs travel in metadata
    node_objects: dict[str, bytes] = field(default_factory=dict)


def cluster_cni_bin_dir(profiles: list[ImageProfile | None]) -> str:
    """One CNI plugin dir for every node: the pod network's DaemonSet installs its plugins there by
    hostPath, cluster-wide. /opt/cni/bin, unless an image's /opt is read-only (COS): then its dir
    for all nodes (the first control plane rewrites the manifest's hostPath to match)."""
    other = sorted({p.cni_bin_dir for p in profiles if p is not None and p.cni_bin_dir != DEFAULT_CNI_BIN_DIR})
    return other[0] if other else DEFAULT_CNI_BIN_DIR


def asset_warnings(bundle: ClusterBundle) -> list[str]:
    """Settings that let the cluster be created but keep a node from finishing its bootstrap."""
    from kubegce.boot.versions import asset_urls

    s = bundle.cluster.spec
    pinned = s.assets.manifest_sha256
    urls = asset_urls(s.networking.plugin, s.assets.mirror)
    name = bundle.cluster.name
    out = []
    if s.networking.plugin != "none" and s.networking.plugin not in pinned:
        out.append(
            f"spec.assets.manifestSha256.{s.networking.plugin} is not set: the control plane will "
            f"refuse to install the unpinned {s.networking.plugin} manifest; pin its sha256: "
            + _pin_hint(urls.network_manifest, name, s.networking.plugin)
        )
    if s.cloud_controller_manager and "ccm" not in pinned:
        out.append(
            "spec.assets.manifestSha256.ccm is not set: the cloud-controller-manager will not install; pin it: "
            + _pin_hint(urls.ccm_manifest, name, "ccm")
        )
    out += _pd_csi_warnings(bundle)
    return out


def _pd_csi_warnings(bundle: ClusterBundle) -> list[str]:
    """spec.assets.manifestSha256.pd-csi is accepted (specs stored while the driver came from a mirror
    carry it) but ignored: kubegce renders the driver itself (docs/storage.md)."""
    if "pd-csi" not in bundle.cluster.spec.assets.manifest_sha256:
        return []
    return [
        "spec.assets.manifestSha256.pd-csi is deprecated and ignored: kubegce renders the GCE PD CSI driver "
        "itself, nothing is fetched or pinned (docs/storage.md); remove it: "
        f"`kubegce edit cluster {bundle.cluster.name} --unset spec.assets.manifestSha256.pd-csi`"
    ]


def _pin_hint(url: str, cluster: str, key: str) -> str:
    """The exact commands that get and set a manifest's sha256."""
    return (
        f"`curl -fsSL {url} | sha256sum`, then "
        f"`kubegce edit cluster {cluster} --set spec.assets.manifestSha256.{key}=HEX`"
    )


def choose_channels(
    bundle: ClusterBundle,
    catalog: Catalog,
    *,
    reader: ImageReader | None = None,
    force: bool = False,
    validate: bool = True,
) -> tuple[list[GroupChannel], list[str]]:
    """Validate the spec, resolve every group's image and choose its channel; nothing is rendered.

    Returns the groups and the warnings; raises :class:`SpecError` with every problem found.
    ``validate=False`` skips the spec checks (only the boot lab does that, to feed hostile values
    to the renderer on purpose).
    """
    problems = validate_bundle(bundle) if validate else []
    if problems:
        raise SpecError(problems)
    warnings: list[str] = []
    chosen: list[GroupChannel] = []
    for g in bundle.instance_groups:
        where = f"instancegroup {g.name}"
        try:
            image = catalog.resolve(g.spec.image, reader)
            fit = [arch_problem(image, g.spec.machine_type), not_found_problem(image, catalog)]
            warnings.extend(f"{where} spec.image: {w}" for w in image_warnings(image, catalog, offline=reader is None))
            if found := [f for f in fit if f]:
                if not force:
                    problems.extend(f"{where} spec.image: {f}" for f in found)
                    continue
                warnings.extend(f"{where} spec.image: {f} (kept: --force)" for f in found)
            if gce_accelerators.has_gpus(g.spec.machine_type, len(g.spec.guest_accelerators)):
                gpu = gpu_profile(image.profile)
                if gpu is None:
                    warnings.append(f"{where} spec.image: the catalog cannot place {image.ref}, so how its NVIDIA "
                                    "driver goes in is unknown; install it in the image (docs/gpus.md)")  # fmt: skip
                elif not gpu.supported:
                    problems.append(f"{where} spec.image: {image.profile.label if image.profile else image.ref} "
                                    f"takes no GPUs here: {gpu.reason}; for a GPU group use an Ubuntu, Debian, "
                                    "RHEL, Rocky, AlmaLinux, CentOS Stream or COS image (docs/gpus.md)")  # fmt: skip
                    continue
                warnings.extend(f"{where} {w}" for w in gpu_version_warnings(bundle, g, image.profile))
                warnings.extend(f"{where} {w}" for w in boot_gpu.plan_warnings(g))
                if found := boot_gpu.gpu_problems(bundle, g, image.profile):
                    problems.extend(f"{where} {f}" for f in found)
                    continue
            decision = decide_channel(image, g.spec.bootstrap, where=where, force=force)
        except ChannelError as exc:
            problems.append(str(exc))
            continue
        except UserError as exc:
            problems.append(f"{where} spec.image: {exc}")
            continue
        warnings.extend(decision.warnings)
        chosen.append(GroupChannel(g, image, decision))
    if problems:
        raise SpecError(problems)
    return chosen, warnings


def render_cluster_boot(
    bundle: ClusterBundle,
    catalog: Catalog,
    *,
    reader: ImageReader | None = None,
    force: bool = False,
    secrets_url: str = "",
    store: NodeUrls | None = None,
    validate: bool = True,
) -> ClusterBoot:
    """Choose every group's channel (:func:`choose_channels`) and render its metadata.

    With a store nodes can read (gs://), node configs are objects in it (metadata carries their
    URL and hash) and each role's secrets bundle is referenced; otherwise the non-secret config
    travels in metadata and there is no secrets source.
    """
    chosen, warnings = choose_channels(bundle, catalog, reader=reader, force=force, validate=validate)
    problems: list[str] = []
    groups: list[GroupBoot] = []
    node_objects: dict[str, bytes] = {}
    name = bundle.cluster.name
    cni_bin_dir = cluster_cni_bin_dir([c.image.profile for c in chosen])
    for c in chosen:
        g, image, decision = c.group, c.image, c.decision
        config_url = ""
        group_secrets = secrets_url
        discovery = ("", "")
        election = ("", "")
        backups: BackupUrls | None = None  # control planes back etcd up only to a store they can write
        restore: RestoreUrls | None = None  # and restore from one only when they can read it
        if store is not None and store.nodes_can_read:
            config_url = store.object_url(node_config_key(name, g))
            group_secrets = store.object_url(role_secrets_key(name, role_of(g)))
            discovery = (store.object_url(discovery_key(name)), store.upload_url(discovery_key(name)))
            election = (store.object_url(election_key(name)), store.create_url(election_key(name)))
            if g.spec.role == Role.CONTROL_PLANE and bundle.cluster.spec.etcd.backup.enabled:
                request = store.object_url(backup_request_key(name))
                backups = BackupUrls(store.dir_urls(backups_dir(name)), request, request.split("?", 1)[0])
            if g.spec.role == Role.CONTROL_PLANE:
                restore = RestoreUrls(store.object_url(restore_marker_key(name)), store.dir_urls(backups_dir(name)).object,
                                      store.create_url(restore_leader_key(name)), store.object_url(restore_leader_key(name)))  # fmt: skip
        config = render_node_config(
            bundle, g, decision, image.profile,
            api_endpoint=api_endpoint_name(name), secrets_url=group_secrets,
            discovery_url=discovery[0], discovery_upload_url=discovery[1],
            election_url=election[0], election_upload_url=election[1], cni_bin_dir=cni_bin_dir,
            backups=backups, restore=restore,
        )  # fmt: skip
        if config_url:
            node_objects[node_config_key(name, g)] = config.text.encode()
        payload = render_payload(config, decision, config_url)
        try:
            metadata = build_metadata(
                cluster_name=name,
                group_name=g.name,
                plan=decision,
                payload=payload,
                ssh_public_key=bundle.cluster.spec.ssh_public_key,
            )
        except MetadataError as exc:
            problems.append(str(exc))
            continue
        groups.append(GroupBoot(g, image, decision, payload, metadata))
    if problems:
        raise SpecError(problems)
    return ClusterBoot(bundle, groups, warnings, node_objects)
