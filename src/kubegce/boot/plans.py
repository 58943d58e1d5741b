"""Resolve every instance group's image and boot plan, and render its metadata.

This is the step between the spec and the resource graph; every problem across all groups is
collected into one :class:`SpecError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubegce.boot.channel import BootPlan, ChannelError, plan_boot
from kubegce.boot.metadata import MetadataError, build_metadata
from kubegce.boot.render import BootPayload, render_node_config, render_payload
from kubegce.errors import SpecError, UserError
from kubegce.images.catalog import Catalog, ImageReader, ResolvedImage
from kubegce.spec.models import ClusterBundle, InstanceGroup
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


def api_endpoint_name(cluster_name: str) -> str:
    return f"api.internal.{cluster_name}"


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
) -> ClusterBoot:
    problems = validate_bundle(bundle)
    if problems:
        raise SpecError(problems)
    warnings: list[str] = []
    groups: list[GroupBoot] = []
    s = bundle.cluster.spec
    for g in bundle.instance_groups:
        where = f"instancegroup {g.name}"
        try:
            image = catalog.resolve(g.spec.image, reader)
            plan = plan_boot(image, g.spec.bootstrap, where=where, force=force)
        except (ChannelError, UserError) as exc:
            problems.append(str(exc) if isinstance(exc, ChannelError) else f"{where} spec.image: {exc}")
            continue
        warnings.extend(plan.warnings)
        config = render_node_config(
            bundle, g, plan, image.profile,
            api_endpoint=api_endpoint_name(bundle.cluster.name), secrets_url=secrets_url,
        )  # fmt: skip
        payload = render_payload(config, plan)
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
    return ClusterBoot(bundle, groups, warnings)
