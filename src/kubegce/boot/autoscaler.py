"""The cluster autoscaler's manifest, rendered by kubegce (docs/autoscaling.md).

The first control plane applies it with the other add-ons (lib/join.sh install_addons, from the
node config's KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64). The RBAC is upstream's example's
(kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/examples/cluster-autoscaler-autodiscover.yaml
at commit 046b7e82b9125f5f336736ca91ca0b7f4236dddd: the repository keeps no GCE example; the
rules are the core's, not the provider's).

On GCE the autoscaler needs no cloud config: its GCE manager takes the compute token of the VM's
service account from the metadata server (google.DefaultClient) and the project from each
``--nodes`` URL (cloudprovider/gce/gce_url.go). It runs with hostNetwork on the control plane, so
169.254.169.254 and the API server are reached without the pod network.
"""

from __future__ import annotations

from typing import Any

import yaml

from kubegce.spec.autoscaler import GCE_MIG_URL, all_mig_ranges, image_of
from kubegce.spec.models import ClusterBundle

NAME = "cluster-autoscaler"
NAMESPACE = "kube-system"
LABELS = {"k8s-app": NAME, "app.kubernetes.io/managed-by": "kubegce"}


def node_flags(bundle: ClusterBundle) -> list[str]:
    """One --nodes=MIN:MAX:URL per zonal MIG of every autoscaled group (its share of min/max)."""
    project = bundle.cluster.spec.project
    return [
        f"--nodes={r.min}:{r.max}:" + GCE_MIG_URL.format(project=project, zone=r.zone, name=r.name)
        for r in all_mig_ranges(bundle)
    ]


def command(bundle: ClusterBundle) -> list[str]:
    ca = bundle.cluster.spec.cluster_autoscaler
    return [
        "./cluster-autoscaler",
        "--v=2",
        "--cloud-provider=gce",
        f"--expander={ca.expander}",
        f"--scale-down-utilization-threshold={ca.scale_down_utilization_threshold:g}",
        f"--scale-down-delay-after-add={ca.scale_down_delay_after_add}",
        f"--scale-down-unneeded-time={ca.scale_down_unneeded_time}",
        f"--skip-nodes-with-local-storage={str(ca.skip_nodes_with_local_storage).lower()}",
        f"--balance-similar-node-groups={str(ca.balance_similar_node_groups).lower()}",
        "--leader-elect=true",
        *node_flags(bundle),
    ]


def _meta(name: str, namespaced: bool = True) -> dict[str, Any]:
    return {"name": name, "labels": dict(LABELS), **({"namespace": NAMESPACE} if namespaced else {})}


def _rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


CLUSTER_RULES = [
    _rule([""], ["events", "endpoints"], ["create", "patch"]),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule([""], ["pods/status"], ["update"]),
    _rule([""], ["endpoints"], ["get", "update"], [NAME]),
    _rule([""], ["nodes"], ["watch", "list", "get", "update"]),
    _rule(
        [""],
        ["namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"],
        ["watch", "list", "get"],
    ),  # fmt: skip
    _rule(["policy"], ["poddisruptionbudgets"], ["watch", "list"]),
    _rule(["apps"], ["statefulsets", "replicasets", "daemonsets"], ["watch", "list", "get"]),
    _rule(
        ["storage.k8s.io"],
        ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities"],
        ["watch", "list", "get"],
    ),  # fmt: skip
    _rule(["batch"], ["jobs"], ["get", "list", "watch", "patch"]),
    _rule(["coordination.k8s.io"], ["leases"], ["create"]),
    _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [NAME]),
]
ROLE_RULES = [
    _rule([""], ["configmaps"], ["create", "list", "watch"]),
    _rule(
        [""],
        ["configmaps"],
        ["delete", "get", "update", "watch"],
        ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"],
    ),  # fmt: skip
]


def objects(bundle: ClusterBundle) -> list[dict[str, Any]]:
    """The manifest's objects, in apply order."""
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    rbac = "rbac.authorization.k8s.io/v1"
    pod_spec: dict[str, Any] = {
        "priorityClassName": "system-cluster-critical",
        "serviceAccountName": NAME,
        "hostNetwork": True,  # the metadata server's token and the API without the pod network
        "dnsPolicy": "ClusterFirstWithHostNet",
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534},
        "containers": [
            {
                "name": NAME,
                "image": image_of(bundle),
                "command": command(bundle),
                "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
            }
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)},
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": _meta(NAME, False), "rules": CLUSTER_RULES},
        {"apiVersion": rbac, "kind": "Role", "metadata": _meta(NAME), "rules": ROLE_RULES},
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": _meta(NAME, False),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": subject,
        },  # fmt: skip
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": _meta(NAME),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": subject,
        },  # fmt: skip
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(NAME),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"k8s-app": NAME}},
                "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod_spec},
            },
        },
    ]


def render_manifest(bundle: ClusterBundle) -> str:
    """The manifest kubectl applies, or "" when the autoscaler is off."""
    if not bundle.cluster.spec.cluster_autoscaler.enabled:
        return ""
    return "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects(bundle))
