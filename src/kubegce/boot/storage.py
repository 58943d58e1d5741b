"""The GCE PD CSI driver and the StorageClasses kubegce renders for it (docs/storage.md).

The driver's objects are data (`boot/templates/pd-csi-driver.yaml`, written from upstream
kubernetes-sigs/gcp-compute-persistent-disk-csi-driver v1.20.0, deploy/kubernetes/base and the
stable-master overlay's image tags; the file's header names each upstream path). kubegce parses
that file and changes it in Python: every image under spec.assets.containerRegistry when it is set
(the same paths, for air-gapped clusters) and kubegce's managed-by label; no user value is ever
templated into text. The driver authenticates as the VM's service account through the metadata
server: the file has no cloud-sa Secret volume and no GOOGLE_APPLICATION_CREDENTIALS.

The classes are kubegce's own, named as GKE names them so workloads written for GKE find them: the
default class (pd-balanced, `standard-rwo` unless `spec.storage.defaultStorageClass` renames it or is
"": none) and `premium-rwo` (pd-ssd). Both wait for their first consumer (a disk is zonal: it is made
in the zone the pod was scheduled to) and allow expansion. The first control plane applies the
driver, then the classes, with kubectl (lib/join.sh install_storage); both go base64 in the control
planes' node config, so nothing is fetched and no sha256 is pinned.
"""

from __future__ import annotations

import base64
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kubegce.boot.versions import PD_CSI_DRIVER_VERSION
from kubegce.spec.models import PD_CSI_PROVISIONER, PREMIUM_STORAGE_CLASS, ClusterSpec, Role

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubegce"}
# where upstream's kustomize base puts the driver (deploy/kubernetes/base/kustomization.yaml)
PD_CSI_NAMESPACE = "gce-pd-csi-driver"
PD_CSI_CONTROLLER = "csi-gce-pd-controller"
PD_CSI_NODE = "csi-gce-pd-node"
UPSTREAM_REGISTRY = "registry.k8s.io"
MANIFEST_FILE = "pd-csi-driver.yaml"


@cache
def _upstream_text() -> str:
    return resources.files("kubegce.boot").joinpath("templates", MANIFEST_FILE).read_text()


def pd_csi_objects(spec: ClusterSpec) -> list[dict[str, Any]]:
    """The driver's objects for this cluster (a fresh copy each call); none without the driver."""
    if not spec.storage.pd_csi_driver.enabled:
        return []
    registry = (spec.assets.container_registry or "").rstrip("/")  # validated: HOST[:PORT][/PATH]
    objs = [o for o in yaml.safe_load_all(_upstream_text()) if o]
    for o in objs:
        o["metadata"].setdefault("labels", {}).update(MANAGED_BY)
        pod = o.get("spec", {}).get("template", {}).get("spec", {})
        for c in pod.get("containers", []):
            image = str(c["image"])
            if not image.startswith(f"{UPSTREAM_REGISTRY}/"):  # the file's own invariant (unit-tested)
                raise ValueError(f"{MANIFEST_FILE}: {c['name']} image {image} is not under {UPSTREAM_REGISTRY}")
            if registry:
                c["image"] = registry + image.removeprefix(UPSTREAM_REGISTRY)
    return objs


def render_pd_csi_driver(spec: ClusterSpec) -> str:
    """The driver's objects as one YAML stream ("" without the driver)."""
    objs = pd_csi_objects(spec)
    return yaml.safe_dump_all(objs, sort_keys=False) if objs else ""


def _storage_class(name: str, disk_type: str, default: bool) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "labels": dict(MANAGED_BY),
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


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def storage_settings(spec: ClusterSpec, role: Role) -> list[tuple[str, str | int | list[str]]]:
    """The node config's storage lines (lib/join.sh install_storage). The driver's manifest and the
    classes go base64, so no value of theirs is ever shell text, and only to control planes (only
    the first one applies them; a worker's node config stays small)."""
    on = spec.storage.pd_csi_driver.enabled
    cp = role == Role.CONTROL_PLANE
    return [
        ("KUBEGCE_PD_CSI_DRIVER", 1 if on else 0),
        ("KUBEGCE_PD_CSI_DRIVER_VERSION", PD_CSI_DRIVER_VERSION if on else ""),
        ("KUBEGCE_PD_CSI_MANIFEST_B64", _b64(render_pd_csi_driver(spec)) if on and cp else ""),
        ("KUBEGCE_STORAGE_CLASSES_B64", _b64(render_storage_classes(spec)) if cp else ""),
    ]
