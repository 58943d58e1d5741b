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
from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
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


def kubelet_args(bundle: ClusterBundle, group: InstanceGroup) -> dict[str, str]:
    """The kubelet flags kubeadm writes into kubeadm-flags.env for this group, by name."""
    args: dict[str, str] = {}
    if bundle.cluster.spec.cloud_controller_manager:
        args["cloud-provider"] = "external"
    if group.spec.node_labels:
        args["node-labels"] = ",".join(f"{k}={v}" for k, v in sorted(group.spec.node_labels.items()))
    return args


def _kubelet_args(api: str, args: dict[str, str]) -> Any:
    if api.endswith("v1beta4"):
        return [{"name": k, "value": v} for k, v in args.items()]
    return args


def render_kubeadm_config(bundle: ClusterBundle, group: InstanceGroup, api_endpoint: str) -> str:
    s = bundle.cluster.spec
    api = api_version_for(s.kubernetes_version)
    registration: dict[str, Any] = {
        "taints": _taints(group.spec.taints)
        if group.spec.taints or group.spec.role == Role.NODE
        else [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
    }
    if args := kubelet_args(bundle, group):
        registration["kubeletExtraArgs"] = _kubelet_args(api, args)
    docs: list[dict[str, Any]] = []
    if group.spec.role == Role.CONTROL_PLANE:
        docs.append(
            {
                "apiVersion": api,
                "kind": "InitConfiguration",
                "nodeRegistration": registration,
                "localAPIEndpoint": {"bindPort": API_PORT},
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
    }
    if group.spec.role == Role.CONTROL_PLANE:
        join["controlPlane"] = {"localAPIEndpoint": {"bindPort": API_PORT}}
    docs.append(join)
    return yaml.safe_dump_all(docs, sort_keys=False)
