"""Storage in the emulator's simulated Kubernetes API: StorageClasses, CSIDrivers,
PersistentVolumeClaims and PersistentVolumes, for the `kubernetes` Python client and kubectl.

The model (docs/storage.md, docs/emulator.md): a control plane that joins with
``KUBEGCE_PD_CSI_DRIVER=1`` in its node config (the driver enabled: kubegce rendered its manifest
into that node config) has "installed" the GCE PD CSI driver, as its install_addons step would: the
CSIDriver ``pd.csi.storage.gke.io``
appears and the StorageClasses kubegce rendered into that node config (KUBEGCE_STORAGE_CLASSES_B64,
boot/storage.py) are applied. Nothing runs: no driver pod, no disk. A claim of a class whose
provisioner is the driver binds once the driver is installed and, for ``WaitForFirstConsumer``,
once a Ready, schedulable worker node exists (the driver's node plugin is a DaemonSet on every
node; pods here carry no volumes, so that node stands for the first consumer's: the claim's
``volume.kubernetes.io/selected-node``, the volume's zone). Binding creates a PersistentVolume
``pvc-<claim uid>`` with a CSI source naming the zonal disk the driver would create. With the
driver opted out, or for a class nobody provisions, a claim stays Pending. A claim with no
``storageClassName`` gets the default class when it is created, as the DefaultStorageClass
admission plugin does. Deleting a claim deletes its volume (reclaimPolicy Delete). These objects
are not part of the simulated etcd snapshot (emulator/backups.py).
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from kubegce.emulator.backups import node_config
from kubegce.emulator.bootsim import parse_settings
from kubegce.emulator.kube import (
    CONTROL_PLANE_LABEL,
    KubeState,
    StatusError,
    _invalid,
    _not_found,
    _now,
    _resource,
    success,
)
from kubegce.spec.models import PD_CSI_PROVISIONER

GROUP = "storage.k8s.io"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
NAME_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


class SimulatedStorage:
    """Served through ``kube.extensions``; ``sync`` is called with the joined instances."""

    def __init__(self, kube: KubeState) -> None:
        self.kube = kube
        self._lock = threading.RLock()
        self.driver_installed = False
        self._classes: dict[str, dict[str, Any]] = {}
        self._drivers: dict[str, dict[str, Any]] = {}
        self._claims: dict[tuple[str, str], dict[str, Any]] = {}
        self._volumes: dict[str, dict[str, Any]] = {}
        self._zones: dict[str, str] = {}  # node name -> its instance's zone
        self._configs: dict[str, dict[str, str]] = {}
        kube.extensions.append(self)

    # -- the emulator's Python API

    def node_settings(self, instance: dict[str, Any]) -> dict[str, str]:
        """The node config's settings, from metadata or a local bucket ({} when unreadable)."""
        md = {i["key"]: i.get("value", "") for i in instance.get("metadata", {}).get("items", [])}
        if "kubegce-node-config" in md:
            return parse_settings(md["kubegce-node-config"])
        return node_config(instance, self._configs)

    def sync(self, joined: Mapping[str, dict[str, Any]], is_control_plane: Callable[[dict[str, Any]], bool]) -> None:
        """The joined instances: their zones, and the add-on a joined control plane installed."""
        with self._lock:
            for name, inst in joined.items():
                self._zones[name] = str(inst.get("zone", "")).rsplit("/", 1)[-1]
            if self.driver_installed:
                return
            for inst in joined.values():
                if not is_control_plane(inst):
                    continue
                cfg = self.node_settings(inst)
                if cfg.get("KUBEGCE_PD_CSI_DRIVER") == "1":
                    classes = base64.b64decode(cfg.get("KUBEGCE_STORAGE_CLASSES_B64", "")).decode()
                    self.install_driver([c for c in yaml.safe_load_all(classes) if isinstance(c, dict)])
                    return

    def install_driver(self, classes: list[dict[str, Any]]) -> None:
        """What install_storage leaves: the CSIDriver object and kubegce's StorageClasses."""
        with self._lock:
            self.driver_installed = True
            self._drivers[PD_CSI_PROVISIONER] = self._stamp(
                {"apiVersion": f"{GROUP}/v1", "kind": "CSIDriver", "metadata": {"name": PD_CSI_PROVISIONER},
                 "spec": {"attachRequired": True, "podInfoOnMount": False, "volumeLifecycleModes": ["Persistent"]}}
            )  # fmt: skip
            for c in classes:
                self._classes[str(c["metadata"]["name"])] = self._stamp(dict(c))

    # -- bookkeeping

    def _stamp(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        meta = dict(obj.get("metadata") or {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = str(self.kube._bump())
        if namespace is not None:
            meta["namespace"] = namespace
        obj["metadata"] = meta
        return obj

    def _default_class(self) -> str | None:
        for name, c in sorted(self._classes.items()):
            if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
                return name
        return None

    def _consumer_node(self) -> str | None:
        nodes = self.kube.snapshot().nodes
        fit = [n for n in sorted(nodes.values(), key=lambda n: n.name)
               if n.ready and not n.unschedulable and CONTROL_PLANE_LABEL not in n.labels]  # fmt: skip
        return fit[0].name if fit else None

    def _advance(self) -> None:
        """Bind what the driver would provision by now."""
        for (ns, name), claim in sorted(self._claims.items()):
            if claim["status"]["phase"] != "Pending":
                continue
            sc = self._classes.get(claim["spec"].get("storageClassName") or "")
            if sc is None or sc.get("provisioner") != PD_CSI_PROVISIONER or not self.driver_installed:
                continue
            node = None
            if sc.get("volumeBindingMode") == "WaitForFirstConsumer":
                if (node := self._consumer_node()) is None:
                    continue
                claim["metadata"].setdefault("annotations", {})["volume.kubernetes.io/selected-node"] = node
            self._bind(ns, name, claim, sc, node)

    def _bind(self, ns: str, name: str, claim: dict[str, Any], sc: dict[str, Any], node: str | None) -> None:
        pv_name = f"pvc-{claim['metadata']['uid']}"
        zone = self._zones.get(node or "", "") or next(iter(sorted(set(self._zones.values()))), "zone")
        size = claim["spec"]["resources"]["requests"]["storage"]
        volume: dict[str, Any] = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": PD_CSI_PROVISIONER}},
            "spec": {
                "capacity": {"storage": size}, "accessModes": list(claim["spec"]["accessModes"]),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": sc["metadata"]["name"], "volumeMode": claim["spec"].get("volumeMode", "Filesystem"),
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": ns, "name": name,
                             "uid": claim["metadata"]["uid"], "apiVersion": "v1"},
                "csi": {"driver": PD_CSI_PROVISIONER, "fsType": "ext4",
                        "volumeHandle": f"projects/kubegce-emulator/zones/{zone}/disks/{pv_name}"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.gke.io/zone", "operator": "In", "values": [zone]}]}]}},
            },
            "status": {"phase": "Bound"},
        }  # fmt: skip
        self._volumes[pv_name] = self._stamp(volume)
        claim["metadata"].setdefault("annotations", {}).update({
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": PD_CSI_PROVISIONER,
        })  # fmt: skip
        claim["spec"]["volumeName"] = pv_name
        claim["status"] = {"phase": "Bound", "accessModes": list(claim["spec"]["accessModes"]),
                           "capacity": {"storage": size}}  # fmt: skip
        self._stamp(claim, ns)

    # -- the API

    def create_claim(self, ns: str, body: Any) -> dict[str, Any]:
        self.kube.get_namespace(ns)  # 404 for an unknown namespace
        if not isinstance(body, dict):
            raise StatusError(400, "BadRequest", "the body is not a PersistentVolumeClaim")
        name = str((body.get("metadata") or {}).get("name") or "")
        spec = dict(body.get("spec") or {})
        causes = []
        if not NAME_RE.fullmatch(name) or len(name) > 253:
            causes.append(("metadata.name", "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                            "characters, '-' or '.'"))  # fmt: skip
        if not spec.get("accessModes"):
            causes.append(("spec.accessModes", "Required value: at least 1 access mode is required"))
        if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
            causes.append(("spec.resources[storage]", "Required value"))
        if causes:
            raise _invalid("PersistentVolumeClaim", name, causes)
        with self._lock:
            if (ns, name) in self._claims:
                raise StatusError(409, "AlreadyExists", f'persistentvolumeclaims "{name}" already exists',
                                  {"name": name, "kind": "persistentvolumeclaims"})  # fmt: skip
            if spec.get("storageClassName") is None and (default := self._default_class()):
                spec["storageClassName"] = default  # the DefaultStorageClass admission plugin
            spec.setdefault("volumeMode", "Filesystem")
            meta = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("name", "labels", "annotations")}
            claim = self._stamp({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec,
                                 "status": {"phase": "Pending"}}, ns)  # fmt: skip
            self._claims[(ns, name)] = claim
            self._advance()
            return claim

    def create_class(self, body: Any) -> dict[str, Any]:
        name = str(((body or {}).get("metadata") or {}).get("name") or "") if isinstance(body, dict) else ""
        if not NAME_RE.fullmatch(name) or not isinstance(body, dict) or not body.get("provisioner"):
            raise _invalid("StorageClass", name, [("metadata.name", "a lowercase RFC 1123 subdomain"),
                                                  ("provisioner", "Required value")], GROUP)  # fmt: skip
        with self._lock:
            if name in self._classes:
                raise StatusError(409, "AlreadyExists", f'storageclasses.{GROUP} "{name}" already exists',
                                  {"name": name, "group": GROUP, "kind": "storageclasses"})  # fmt: skip
            keep = (
                "metadata",
                "provisioner",
                "parameters",
                "reclaimPolicy",
                "volumeBindingMode",
                "allowVolumeExpansion",
            )
            sc = {"apiVersion": f"{GROUP}/v1", "kind": "StorageClass"} | {k: body[k] for k in keep if k in body}
            sc.setdefault("reclaimPolicy", "Delete")
            sc.setdefault("volumeBindingMode", "Immediate")
            self._classes[name] = self._stamp(sc)
            return sc

    def _delete_claim(self, ns: str, name: str) -> dict[str, Any]:
        claim = self._claims.pop((ns, name), None)
        if claim is None:
            raise _not_found("persistentvolumeclaims", name)
        volume = self._volumes.get(claim["spec"].get("volumeName") or "")
        if volume is not None and volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete":
            del self._volumes[volume["metadata"]["name"]]
        return claim

    @staticmethod
    def _list(kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"kind": f"{kind}List", "apiVersion": api_version, "metadata": {"resourceVersion": ""}, "items": items}

    @staticmethod
    def _one(found: dict[str, Any] | None, resource: str, name: str, group: str = "") -> dict[str, Any]:
        if found is None:
            raise _not_found(resource, name, group)
        return found

    def route(self, method: str, seg: list[str], query: Mapping[str, str], body: Any) -> tuple[int, Any] | None:
        with self._lock:
            self._advance()
            if seg[:2] == ["api", "v1"]:
                return self._core(method, seg[2:], body)
            if seg[:3] == ["apis", GROUP, "v1"]:
                return self._storage(method, seg[3:], body)
        return None

    def _core(self, method: str, rest: list[str], body: Any) -> tuple[int, Any] | None:
        claims = "persistentvolumeclaims"
        if rest == [claims] and method == "GET":
            return 200, self._list("PersistentVolumeClaim", "v1", [c for _, c in sorted(self._claims.items())])
        if rest == ["persistentvolumes"] and method == "GET":
            return 200, self._list("PersistentVolume", "v1", [v for _, v in sorted(self._volumes.items())])
        if len(rest) == 2 and rest[0] == "persistentvolumes" and method == "GET":
            return 200, self._one(self._volumes.get(rest[1]), "persistentvolumes", rest[1])
        if len(rest) < 3 or rest[0] != "namespaces" or rest[2] != claims:
            return None
        ns = rest[1]
        if len(rest) == 3 and method == "POST":
            return 201, self.create_claim(ns, body)
        if len(rest) == 3 and method == "GET":
            items = [c for (n, _), c in sorted(self._claims.items()) if n == ns]
            return 200, self._list("PersistentVolumeClaim", "v1", items)
        if len(rest) == 4 and method == "GET":
            return 200, self._one(self._claims.get((ns, rest[3])), claims, rest[3])
        if len(rest) == 4 and method == "DELETE":
            return 200, self._delete_claim(ns, rest[3])
        return None

    def _storage(self, method: str, rest: list[str], body: Any) -> tuple[int, Any] | None:
        tables = {"storageclasses": ("StorageClass", self._classes), "csidrivers": ("CSIDriver", self._drivers)}
        if not rest or rest[0] not in tables:
            return None
        kind, table = tables[rest[0]]
        if len(rest) == 1 and method == "GET":
            return 200, self._list(kind, f"{GROUP}/v1", [o for _, o in sorted(table.items())])
        if len(rest) == 1 and method == "POST" and rest[0] == "storageclasses":
            return 201, self.create_class(body)
        if len(rest) == 2 and method == "GET":
            return 200, self._one(table.get(rest[1]), rest[0], rest[1], GROUP)
        if len(rest) == 2 and method == "DELETE" and rest[0] == "storageclasses":
            self._one(table.pop(rest[1], None), rest[0], rest[1], GROUP)
            return 200, success(details={"name": rest[1], "group": GROUP, "kind": rest[0]})
        return None

    # -- discovery

    def discovery(self, path: str, found: dict[str, Any] | None) -> dict[str, Any] | None:
        version = {"groupVersion": f"{GROUP}/v1", "version": "v1"}
        group = {"name": GROUP, "versions": [version], "preferredVersion": version}
        if path == "/api/v1" and found is not None:
            verbs = ["create", "delete", "get", "list"]
            found["resources"] += [_resource("persistentvolumeclaims", "PersistentVolumeClaim", verbs, True, ["pvc"]),
                                   _resource("persistentvolumes", "PersistentVolume", ["get", "list"], False, ["pv"])]  # fmt: skip
        elif path == "/apis" and found is not None:
            found["groups"].append(group)
        elif path == f"/apis/{GROUP}":
            return {"kind": "APIGroup", "apiVersion": "v1"} | group
        elif path == f"/apis/{GROUP}/v1":
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/v1", "resources": [
                _resource("storageclasses", "StorageClass", ["create", "delete", "get", "list"], False, ["sc"]),
                _resource("csidrivers", "CSIDriver", ["get", "list"], False)]}  # fmt: skip
        return found
