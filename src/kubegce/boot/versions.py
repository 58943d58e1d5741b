"""Pinned component versions and where nodes download them (an assets mirror serves the same paths)."""

from __future__ import annotations

from dataclasses import dataclass

CONTAINERD_VERSION = "1.7.27"
RUNC_VERSION = "1.2.6"
CNI_PLUGINS_VERSION = "1.6.2"
CALICO_VERSION = "3.29.3"
CILIUM_VERSION = "1.17.4"
GCP_CCM_VERSION = "33.1.1"


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
