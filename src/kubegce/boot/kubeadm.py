"""kubeadm configuration for each role. Secrets are not in it: nodes get the join token, CA and
certificate key from the state store (`fetch_secrets`), which writes the files referenced here.

kubeadm refuses `--certificate-key` beside `--config` ("can not mix '--config' with arguments");
a control plane's config therefore carries CERTIFICATE_KEY_PLACEHOLDER where the key goes
(InitConfiguration.certificateKey, JoinConfiguration.controlPlane.certificateKey), and the
bootstrap writes the key in on the node, into a 0600 file."""

from __future__ import annotations

from typing import Any

import yaml

from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
from kubegce.spec.validate import VERSION_RE

BOOTSTRAP_KUBECONFIG = "/etc/kubegce/bootstrap.kubeconfig"
CERTIFICATE_KEY_PLACEHOLDER = "@KUBEGCE_CERTIFICATE_KEY@"
# Flags kubeadm accepts beside --config (its ValidateMixedArguments): these, and any --skip-*.
FLAGS_ALLOWED_WITH_CONFIG = frozenset(
    {"config", "ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "kubeconfig-dir", "upload-certs",
     "print-join-command", "rootfs", "v", "log-file"}
)  # fmt: skip
API_PORT = 443


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


def _kubelet_args(api: str, labels: dict[str, str]) -> Any:
    args = {"cloud-provider": "external"}
    if labels:
        args["node-labels"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    if api.endswith("v1beta4"):
        return [{"name": k, "value": v} for k, v in args.items()]
    return args


def render_kubeadm_config(bundle: ClusterBundle, group: InstanceGroup, api_endpoint: str) -> str:
    s = bundle.cluster.spec
    api = api_version_for(s.kubernetes_version)
    registration = {
        "kubeletExtraArgs": _kubelet_args(api, group.spec.node_labels),
        "taints": _taints(group.spec.taints)
        if group.spec.taints or group.spec.role == Role.NODE
        else [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
    }
    docs: list[dict[str, Any]] = []
    if group.spec.role == Role.CONTROL_PLANE:
        docs.append(
            {
                "apiVersion": api,
                "kind": "InitConfiguration",
                "nodeRegistration": registration,
                "localAPIEndpoint": {"bindPort": API_PORT},
                "certificateKey": CERTIFICATE_KEY_PLACEHOLDER,
            }
        )
        docs.append(
            {
                "apiVersion": api,
                "kind": "ClusterConfiguration",
                "clusterName": bundle.cluster.name,
                "kubernetesVersion": f"v{s.kubernetes_version.lstrip('v')}",
                "controlPlaneEndpoint": f"{api_endpoint}:{API_PORT}",
                "networking": {
                    "podSubnet": s.networking.pod_cidr,
                    "serviceSubnet": s.networking.service_cidr,
                },
            }
        )
    join: dict[str, Any] = {
        "apiVersion": api,
        "kind": "JoinConfiguration",
        "nodeRegistration": registration,
        "discovery": {"file": {"kubeConfigPath": BOOTSTRAP_KUBECONFIG}},
    }
    if group.spec.role == Role.CONTROL_PLANE:
        join["controlPlane"] = {
            "localAPIEndpoint": {"bindPort": API_PORT},
            "certificateKey": CERTIFICATE_KEY_PLACEHOLDER,
        }
    docs.append(join)
    return yaml.safe_dump_all(docs, sort_keys=False)
