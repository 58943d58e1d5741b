"""Pinned component versions and where nodes download them (an assets mirror serves the same paths).

The versions that depend on the Kubernetes minor (containerd, runc, CNI plugins, the pause image)
are data in :mod:`kubegce.spec.releases`; :func:`components` picks them for a cluster. Binaries are
verified on the node against the checksum files each project publishes beside them (sha256); pod
network and CCM manifests against the sha256 pinned in the spec (`spec.assets.manifestSha256`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubegce.spec import releases

DEFAULT_REGISTRY = "registry.k8s.io"
# The newest supported minor's components (the lab's mirror and docs name these by default).
CONTAINERD_VERSION = releases.DEFAULT.containerd
RUNC_VERSION = releases.DEFAULT.runc
CNI_PLUGINS_VERSION = releases.DEFAULT.cni_plugins
CALICO_VERSION = "3.30.3"
CILIUM_VERSION = "1.18.3"
GCP_CCM_VERSION = "33.1.1"
# The GCE PD CSI driver release kubegce renders itself (boot/storage.py, boot/templates/pd-csi-driver.yaml,
# docs/storage.md): its objects are written from this release's deploy/kubernetes, nothing is fetched.
PD_CSI_DRIVER_VERSION = "1.20.0"


@dataclass(frozen=True)
class Components:
    """What a node of one Kubernetes version installs, and the images its runtime is told about."""

    kubernetes: str
    containerd: str
    containerd_config_version: int
    runc: str
    cni_plugins: str
    registry: str  # kubeadm's imageRepository; registry.k8s.io unless spec.assets.containerRegistry
    pause_image: str


def pause_image(kubernetes_version: str, registry: str | None = None) -> str:
    """The sandbox image kubeadm expects for this version (its PauseVersion), from ``registry``."""
    return f"{(registry or DEFAULT_REGISTRY).rstrip('/')}/pause:{releases.for_version(kubernetes_version).pause}"


def components(kubernetes_version: str, registry: str | None = None) -> Components:
    minor = releases.for_version(kubernetes_version)
    return Components(
        kubernetes=kubernetes_version.lstrip("v"),
        containerd=minor.containerd,
        containerd_config_version=minor.containerd_config_version,
        runc=minor.runc,
        cni_plugins=minor.cni_plugins,
        registry=(registry or DEFAULT_REGISTRY).rstrip("/"),
        pause_image=pause_image(kubernetes_version, registry),
    )


@dataclass(frozen=True)
class AssetURLs:
    kubernetes: str
    containerd: str
    runc: str
    cni: str
    network_manifest: str
    ccm_manifest: str


def asset_urls(networking: str, mirror: str | None) -> AssetURLs:
    """Upstream locations, or the same paths under a mirror for air-gapped clusters."""
    if mirror:
        base = mirror.rstrip("/")
        manifest = f"{base}/manifests/{networking}.yaml" if networking != "none" else ""
        return AssetURLs(
            kubernetes=f"{base}/kubernetes/release",
            containerd=f"{base}/containerd/releases/download",
            runc=f"{base}/runc/releases/download",
            cni=f"{base}/cni-plugins/releases/download",
            network_manifest=manifest,
            ccm_manifest=f"{base}/manifests/gcp-cloud-controller-manager.yaml",
        )
    network = {  # networking "none": bring your own pod network, nothing to fetch
        "calico": f"https://raw.githubusercontent.com/projectcalico/calico/v{CALICO_VERSION}/manifests/calico.yaml",
        "cilium": f"https://raw.githubusercontent.com/cilium/cilium/v{CILIUM_VERSION}/install/kubernetes/quick-install.yaml",
    }.get(networking, "")
    return AssetURLs(
        kubernetes="https://dl.k8s.io/release",
        containerd="https://github.com/containerd/containerd/releases/download",
        runc="https://github.com/opencontainers/runc/releases/download",
        cni="https://github.com/containernetworking/plugins/releases/download",
        network_manifest=network,
        ccm_manifest=(
            "https://raw.githubusercontent.com/kubernetes/cloud-provider-gcp/"
            f"ccm/v{GCP_CCM_VERSION}/deploy/packages/default/manifest.yaml"
        ),
    )
