"""kubeadm configuration for each role. Secrets are not in it: nodes get the join token and the
cluster's CAs from the state store (`fetch_secrets`), which writes the files referenced here.

What real kubeadm and the kubelet would refuse is kept out at render time (checked against
kubernetes/kubernetes v1.35 source):

- no ``certificateKey``: control planes get the shared CAs and the service-account key from their
  secrets bundle, so `kubeadm join --control-plane` needs no uploaded certificates (which expire
  after two hours: cmd/kubeadm/app/constants/constants.go, ``DefaultCertTokenDuration``), and
  `kubeadm init` uploads none;
- the kubelet's ``cloud-provider=external`` only when the cloud-controller-manager is installed:
  with it, the kubelet registers every node with the
  ``node.cloudprovider.kubernetes.io/uninitialized`` taint that only a CCM removes
  (pkg/kubelet/kubelet_node_status.go);
- ``node-labels`` only of the keys the kubelet accepts (spec validation refuses the others:
  :func:`kubegce.spec.validate.kubelet_label_problem`);
- ``imageRepository`` from ``spec.assets.containerRegistry``, so an air-gapped cluster pulls the
  control-plane images (and containerd the sandbox image) from its own registry.
"""

from __future__ import annotations

from typing import Any

import yaml

from kubegce.boot.versions import DEFAULT_REGISTRY
from kubegce.spec import gpu
from kubegce.spec.models import SPOT_NODE_LABEL, ClusterBundle, InstanceGroup, ProvisioningModel, Role
from kubegce.spec.validate import VERSION_RE

BOOTSTRAP_KUBECONFIG = "/etc/kubegce/bootstrap.kubeconfig"
ETCD_DATA_DIR = "/var/lib/etcd"  # kubeadm's default; lib/etcd.sh binds it from the etcd disk
# Flags kubeadm accepts beside --config (its ValidateMixedArguments): these, and any --skip-*.
FLAGS_ALLOWED_WITH_CONFIG = frozenset(
    {"config", "ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "kubeconfig-dir", "upload-certs",
     "print-join-command", "rootfs", "v", "log-file"}
)  # fmt: skip
API_PORT = 443
# The control planes' health for the API's load balancer (lib/health.sh; the target pool's legacy
# HTTP health check and its firewall rule in cloud/model.py): kOps's kube-apiserver-healthcheck port.
API_HEALTH_PORT = 3990
API_HEALTH_PATH = "/readyz"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane:NoSchedule"  # kubeadm's


# A Spot group's kubelet settings, as a kubeadm patch (target kubeletconfiguration, merge) that
# `kubeadm init` and `kubeadm join` apply to this node's kubelet configuration: the cluster's
# kubelet-config ConfigMap (written once, by the first `kubeadm init`) stays as it is, so a Spot
# group added to an existing cluster gets them too, and other groups' nodes are unchanged.
# Graceful node shutdown sized to GCE's notice: a Spot VM's preemption sends ACPI soft-off and gives
# the guest 30 s before the power goes (cloud.google.com/compute/docs/instances/spot, "Preemption
# process"); the kubelet holds shutdown that long through a systemd-logind inhibitor lock, ordinary
# pods get the first 15 s and critical (system-node-critical, system-cluster-critical) pods the
# last 15 s, as GKE does for its Spot nodes. Checked against kubernetes/kubernetes v1.35:
# pkg/kubelet/apis/config/validation/validation.go (shutdownGracePeriodCriticalPods must not exceed
# shutdownGracePeriod), pkg/kubelet/nodeshutdown/nodeshutdown_manager_linux.go (the kubelet raises
# logind's InhibitDelayMaxSec itself), cmd/kubeadm/app/util/patches/patches.go (file names
# TARGET[SUFFIX][+PATCHTYPE].EXTENSION; targets include kubeletconfiguration since v1.25).
GCE_SHUTDOWN_NOTICE_S = 30
KUBELET_PATCH_DIR = "/etc/kubegce/kubeadm-patches"
SPOT_KUBELET_PATCH: dict[str, Any] = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "shutdownGracePeriod": f"{GCE_SHUTDOWN_NOTICE_S}s",
    "shutdownGracePeriodCriticalPods": f"{GCE_SHUTDOWN_NOTICE_S // 2}s",
}


def kubelet_patch(group: InstanceGroup) -> str:
    """The group's kubeletconfiguration patch (YAML), or "" for none."""
    if group.spec.provisioning_model == ProvisioningModel.SPOT:
        return yaml.safe_dump(SPOT_KUBELET_PATCH, sort_keys=False)
    return ""


def api_version_for(kubernetes_version: str) -> str:
    m = VERSION_RE.match(kubernetes_version)
    minor = int(m.group(1)) if m else 99
    return "kubeadm.k8s.io/v1beta4" if minor >= 31 else "kubeadm.k8s.io/v1beta3"


def _taints(taints: list[str]) -> list[dict[str, str]]:
    out = []
    for t in taints:
        key_value, _, effect = t.rpartition(":")
        key, _, value = key_value.partition("=")
        item = {"key": key, "effect": effect}
        if value:
            item["value"] = value
        out.append(item)
    return out


def kubelet_args(
    bundle: ClusterBundle, group: InstanceGroup, extra_labels: dict[str, str] | None = None
) -> dict[str, str]:
    """The kubelet flags kubeadm writes into kubeadm-flags.env for this group, by name."""
    args: dict[str, str] = {}
    if bundle.cluster.spec.cloud_controller_manager:
        args["cloud-provider"] = "external"
    labels = {**group.spec.node_labels, **gpu.node_labels(group), **(extra_labels or {})}
    if group.spec.provisioning_model == ProvisioningModel.SPOT:
        labels[SPOT_NODE_LABEL] = "true"
    if labels:
        args["node-labels"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return args


def _kubelet_args(api: str, args: dict[str, str]) -> Any:
    if api.endswith("v1beta4"):
        return [{"name": k, "value": v} for k, v in args.items()]
    return args


def registration_taints(bundle: ClusterBundle, group: InstanceGroup) -> list[str]:
    """The taints the group's nodes register with: its spec.taints (a control plane without any gets
    kubeadm's control-plane taint), and a GPU group's nvidia.com/gpu taint (spec.gpu.taint)."""
    own = group.spec.taints
    if not own and group.spec.role == Role.CONTROL_PLANE:
        own = [CONTROL_PLANE_TAINT]
    return [*own, *gpu.node_taints(bundle, group)]


def render_kubeadm_config(
    bundle: ClusterBundle, group: InstanceGroup, api_endpoint: str, *, extra_labels: dict[str, str] | None = None
) -> str:
    s = bundle.cluster.spec
    api = api_version_for(s.kubernetes_version)
    registration: dict[str, Any] = {"taints": _taints(registration_taints(bundle, group))}
    if args := kubelet_args(bundle, group, extra_labels):
        registration["kubeletExtraArgs"] = _kubelet_args(api, args)
    patches = {"patches": {"directory": KUBELET_PATCH_DIR}} if kubelet_patch(group) else {}
    docs: list[dict[str, Any]] = []
    if group.spec.role == Role.CONTROL_PLANE:
        docs.append(
            {
                "apiVersion": api,
                "kind": "InitConfiguration",
                "nodeRegistration": registration,
                "localAPIEndpoint": {"bindPort": API_PORT},
                **patches,
            }
        )
        cluster: dict[str, Any] = {
            "apiVersion": api,
            "kind": "ClusterConfiguration",
            "clusterName": bundle.cluster.name,
            "kubernetesVersion": f"v{s.kubernetes_version.lstrip('v')}",
            "controlPlaneEndpoint": f"{api_endpoint}:{API_PORT}",
            "networking": {
                "podSubnet": s.networking.pod_cidr,
                "serviceSubnet": s.networking.service_cidr,
            },
            "etcd": {"local": {"dataDir": ETCD_DATA_DIR}},
        }
        registry = (s.assets.container_registry or "").rstrip("/")
        if registry and registry != DEFAULT_REGISTRY:
            cluster["imageRepository"] = registry
        docs.append(cluster)
    join: dict[str, Any] = {
        "apiVersion": api,
        "kind": "JoinConfiguration",
        "nodeRegistration": registration,
        "discovery": {"file": {"kubeConfigPath": BOOTSTRAP_KUBECONFIG}},
        **patches,
    }
    if group.spec.role == Role.CONTROL_PLANE:
        join["controlPlane"] = {"localAPIEndpoint": {"bindPort": API_PORT}}
    docs.append(join)
    return yaml.safe_dump_all(docs, sort_keys=False)
