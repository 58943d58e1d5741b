"""The simulated cluster behind the emulator: its Kubernetes API follows the Compute instances.

A node registers (Ready) when its instance's simulated boot reports ``joined`` and disappears when
its instance is deleted, as a cloud controller manager would remove it. A control-plane node also
gets kubeadm's static pods (``kube-system/etcd-<node>``, ``kube-apiserver-<node>``, mirror pods,
Ready). When an instance is recreated under the same name (a new instance id: the control-plane
roll's ``recreateInstances``), its node turns NotReady and its static pods go, as when a kubelet
stops; once the new boot joins, the node is Ready again (a cordon is kept) and the static pods
are back. Once worker nodes exist a
few workloads are added so drains have something to do: a ReplicaSet ``web`` (two pods per worker
node at the time) guarded by a PodDisruptionBudget (``maxUnavailable: 1``) and a DaemonSet
``node-agent`` on every node. Same process as the Compute emulator, its own 127.0.0.1 port.

A reset instance (``instances.reset``) whose Node object is gone registers again once its boot
has joined, as a kubelet does when it starts. Control planes whose node config is in a local
fake-gcs bucket back etcd up and restore it (emulator/backups.py); a control plane that joins on a
fresh etcd disk while a restore is marked restores the backup's objects into the simulated API.

A GPU group's node (its node config has KUBEGCE_GPU=1) registers with the labels and taints its
rendered kubeadm config names (nvidia.com/gpu.present, cloud.google.com/gke-accelerator, the
nvidia.com/gpu taint), and advertises ``nvidia.com/gpu`` (its GPU count) once the NVIDIA device
plugin would run: a joined control plane whose node config carries its DaemonSets
(KUBEGCE_DEVICE_PLUGIN_B64, spec.gpu.devicePlugin).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from kubegce.boot import protocol
from kubegce.emulator.api_error import ApiError
from kubegce.emulator.backups import SimulatedEtcd, node_config
from kubegce.emulator.bootsim import is_gpu_node
from kubegce.emulator.compute.migs import MigReconciler
from kubegce.emulator.compute.state import ComputeState
from kubegce.emulator.kube import CONTROL_PLANE_LABEL, KubeApiServer, KubeState
from kubegce.emulator.kube_storage import SimulatedStorage
from kubegce.spec.models import SPOT_NODE_LABEL

GPU_RESOURCE = "nvidia.com/gpu"


def is_control_plane(instance: dict[str, Any]) -> bool:
    return any(str(t).endswith("control-plane") for t in (instance.get("tags") or {}).get("items", []))


def kubeadm_registration(settings: dict[str, str]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(node labels, taints) of the node config's kubeadm config (nodeRegistration: the kubelet's
    --node-labels and the taints it registers with)."""
    try:
        text = base64.b64decode(settings.get("KUBEGCE_KUBEADM_CONFIG_B64", ""), validate=True).decode()
        docs = list(yaml.safe_load_all(text))
    except (binascii.Error, UnicodeDecodeError, yaml.YAMLError):
        return {}, []
    labels: dict[str, str] = {}
    taints: list[dict[str, Any]] = []
    for doc in docs:
        reg = doc.get("nodeRegistration") if isinstance(doc, dict) else None
        if not isinstance(reg, dict):
            continue
        taints = [dict(t) for t in reg.get("taints") or [] if isinstance(t, dict)]
        for arg in reg.get("kubeletExtraArgs") or []:
            if isinstance(arg, dict) and arg.get("name") == "node-labels":
                for pair in str(arg.get("value", "")).split(","):
                    key, eq, value = pair.partition("=")
                    if eq:
                        labels[key.strip()] = value.strip()
    return labels, taints


class SimulatedCluster:
    def __init__(self, compute: ComputeState, *, port: int = 0, interval_s: float = 0.1,
                 workloads: bool = True, backup_interval_s: float | None = None,
                 backup_poll_s: float = 1.0) -> None:  # fmt: skip
        self.compute = compute
        self.kube = KubeState(reschedule_delay_s=0.2)
        self.server = KubeApiServer(self.kube, port)
        self.storage = SimulatedStorage(self.kube)  # the PD CSI driver's objects (emulator/kube_storage.py)
        self.interval_s = interval_s
        self.workloads = workloads
        self.seeded = False
        self.nodes: dict[str, str] = {}  # node name -> the instance id whose boot joined it
        self.boots: dict[str, float] = {}  # node name -> when the boot that joined it began
        self.etcd = SimulatedEtcd(self.kube, interval_s=backup_interval_s)
        configs: dict[str, dict[str, str]] = {}
        compute.boot.fetch_config = lambda instance: node_config(instance, configs)  # (GPU nodes' settings)
        self.backup_poll_s = backup_poll_s
        self._next_backup = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def write_kubeconfig(self, path: str | Path) -> Path:
        return self.server.write_kubeconfig(path)

    def joined(self, instance: dict[str, Any]) -> bool:
        from kubegce.emulator.compute.handlers import booted_image

        st = self.compute
        try:
            attrs = st.boot.guest_attributes(instance, booted_image(st, instance), protocol.attribute_path(""))
        except ApiError:
            return False
        items = {i["key"]: i["value"] for i in attrs["queryValue"]["items"]}
        return items.get(protocol.ATTR_PHASE) == protocol.JOINED

    def sync(self) -> None:
        """Nodes for joined instances, none for deleted ones, NotReady (static pods stopped) for
        recreated ones until they join again; the workloads once workers exist."""
        st = self.compute
        with st.lock:
            if st.repairs:
                MigReconciler(st).repair_due()  # preempted Spot VMs whose capacity is back
            instances = {k[3]: r for k, r in st.resources.items() if k[2] == "instances"}
            current = {name: str(r.get("id", "")) for name, r in instances.items()}
            # preempted and stopped (emulator/spot.py): its kubelet is down until the VM's next boot joins
            down = {name for name, r in instances.items() if float(r.get("_down_until", 0)) > time.time()}
            for name in down & set(self.nodes):
                self.nodes[name] = ""
            joined = {name: r for name, r in instances.items()
                      if self.nodes.get(name) == current[name] or self.joined(r)}  # fmt: skip
        for name in sorted(set(self.nodes) - set(instances)):
            self.kube.node_gone(name)
            del self.nodes[name]
            self.boots.pop(name, None)
        for name in sorted(instances):
            if name in self.nodes and self.nodes[name] != current[name] and name not in joined:
                if name in self.kube.snapshot().nodes:  # (unless someone deleted the Node object)
                    self.kube.set_node_ready(name, False)  # recreated: its kubelet is down until the new boot joins
                    self.kube.stop_static_pods(name)
                self.nodes[name] = ""
        registered = set(self.kube.snapshot().nodes)
        for name, r in sorted(joined.items()):
            booted = float(r.get("_booted", 0))
            reset_and_gone = self.boots.get(name) != booted and name not in registered and self.joined(r)
            if self.nodes.get(name) == current[name] and not reset_and_gone:
                continue  # (a reset instance whose Node is gone registers again once its boot joined)
            control_plane = is_control_plane(r)
            if (
                control_plane
                and (r.get("_etcd") or {}).get("state") == "init"
                and self.nodes.get(name) != current[name]
            ):
                # a fresh etcd disk: a marked restore happens here; a failed one fails the boot
                role, error = self.etcd.control_plane_joined(r, instances)
                if role == "failed":
                    with st.lock:
                        r["_etcd"] = {**(r.get("_etcd") or {}), "state": "failed", "error": error}
                    continue
            labels = {CONTROL_PLANE_LABEL: ""} if control_plane else {}
            if (r.get("scheduling") or {}).get("provisioningModel") == "SPOT":
                labels[SPOT_NODE_LABEL] = "true"  # the kubelet's --node-labels (boot/kubeadm.py)
            settings = st.boot.node_settings(r)
            if is_gpu_node(settings):  # the labels and the taint the kubeadm config registers it with
                gpu_labels, taints = kubeadm_registration(settings)
                self.kube.node_joined(name, {**labels, **gpu_labels}, taints=taints)
            else:
                self.kube.node_joined(name, labels)
            if control_plane:
                self.kube.start_static_pods(name)
            self.nodes[name] = current[name]
            self.boots[name] = booted
        self._device_plugin(joined)
        now = time.monotonic()
        if now >= self._next_backup:
            self._next_backup = now + self.backup_poll_s
            self.etcd.backup_tick([r for n, r in joined.items() if is_control_plane(r) and n in self.nodes])
        self.storage.sync({n: r for n, r in joined.items() if n in self.nodes}, is_control_plane)
        workers = [n for n, r in joined.items() if not is_control_plane(r)]
        every_worker = sum(1 for r in instances.values() if not is_control_plane(r))
        if self.workloads and not self.seeded and workers and len(workers) == every_worker:
            # once every worker instance has joined (a slow sync must not put all pods on the first one)
            self.seeded = True
            self.kube.add_daemonset("node-agent")
            self.kube.add_replicaset("web", 2 * len(workers), nodes=sorted(workers))
            self.kube.add_pdb("web", match_labels={"app": "web"}, max_unavailable=1)

    def _device_plugin(self, joined: dict[str, dict[str, Any]]) -> None:
        """nvidia.com/gpu on GPU nodes once a joined control plane applied the device plugin."""
        st = self.compute
        registered = {n: r for n, r in joined.items() if n in self.nodes}
        settings = {n: st.boot.node_settings(r) for n, r in registered.items()}
        plugin = any(is_control_plane(r) and settings[n].get("KUBEGCE_DEVICE_PLUGIN_B64")
                     for n, r in registered.items())  # fmt: skip
        nodes = self.kube.snapshot().nodes
        for name, cfg in settings.items():
            if name in nodes and is_gpu_node(cfg):
                count = cfg.get("KUBEGCE_GPU_COUNT", "0")
                self.kube.set_node_resources(name, {GPU_RESOURCE: count} if plugin else {})

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sync()

    def start(self) -> SimulatedCluster:
        self.server.start()
        self._thread = threading.Thread(target=self._run, name="kubegce-simulated-cluster", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.server.stop()
