"""The StorageClasses kubegce renders for the GCE PD CSI driver (docs/storage.md).

The driver itself comes from a pinned manifest (`boot/versions.py` PD_CSI_MANIFEST, sha256 in
`spec.assets.manifestSha256.pd-csi`); these classes are kubegce's own, named as GKE names them so
workloads written for GKE find them: the default class (pd-balanced, `standard-rwo` unless
`spec.storage.defaultStorageClass` renames it or is "": none) and `premium-rwo` (pd-ssd). Both wait for
their first consumer (a disk is zonal: it is made in the zone the pod was scheduled to) and allow
expansion. The first control plane applies them with kubectl after the driver.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from kubegce.spec.models import PD_CSI_PROVISIONER, PREMIUM_STORAGE_CLASS, ClusterSpec

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# where upstream's kustomize base puts the driver (deploy/kubernetes/base/kustomization.yaml)
PD_CSI_NAMESPACE = "gce-pd-csi-driver"
PD_CSI_CONTROLLER = "csi-gce-pd-controller"


def _storage_class(name: str, disk_type: str, default: bool) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "kubegce"},
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true" if default else "false"},
        },
        "provisioner": PD_CSI_PROVISIONER,
        "parameters": {"type": disk_type},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def storage_classes(spec: ClusterSpec) -> list[dict[str, Any]]:
    """The classes this cluster's first control plane applies; none without the driver."""
    if not spec.storage.pd_csi_driver.enabled:
        return []
    out = []
    if spec.storage.default_storage_class:
        out.append(_storage_class(spec.storage.default_storage_class, "pd-balanced", True))
    out.append(_storage_class(PREMIUM_STORAGE_CLASS, "pd-ssd", False))
    return out


def render_storage_classes(spec: ClusterSpec) -> str:
    """The classes as one YAML stream ("" when there are none)."""
    classes = storage_classes(spec)
    return yaml.safe_dump_all(classes, sort_keys=False) if classes else ""


def storage_settings(spec: ClusterSpec, manifest_url: str) -> list[tuple[str, str | int | list[str]]]:
    """The node config's storage lines (lib/join.sh install_storage): the classes go base64, so no
    value of theirs is ever shell text."""
    on = spec.storage.pd_csi_driver.enabled
    classes = render_storage_classes(spec)
    return [
        ("KUBEGCE_PD_CSI_DRIVER", 1 if on else 0),
        ("KUBEGCE_PD_CSI_MANIFEST_URL", manifest_url if on else ""),
        ("KUBEGCE_PD_CSI_MANIFEST_SHA256", spec.assets.manifest_sha256.get("pd-csi", "") if on else ""),
        ("KUBEGCE_PD_CSI_NAMESPACE", PD_CSI_NAMESPACE),
        ("KUBEGCE_STORAGE_CLASSES_B64", base64.b64encode(classes.encode()).decode()),
    ]
