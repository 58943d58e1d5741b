"""Which node labels the kubelet accepts in `--node-labels` (and may set on its own Node).

Written from kubernetes/kubernetes v1.35: cmd/kubelet/app/options/options.go
(``ValidateKubeletFlags``: a key in the ``kubernetes.io`` or ``k8s.io`` namespaces, or a subdomain
of either, that is not a kubelet label makes the kubelet exit at start) and
staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go (``IsKubeletLabel``: the kubelet's own
keys, and the ``kubelet.kubernetes.io`` and ``node.kubernetes.io`` namespaces with their subdomains).
"""

from __future__ import annotations

KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
})  # fmt: skip
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
RESERVED_NAMESPACES = ("kubernetes.io", "k8s.io")


def _namespace(key: str) -> str:
    prefix, sep, _ = key.partition("/")
    return prefix if sep else ""


def _in(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def kubelet_refuses(key: str) -> bool:
    """Whether a kubelet started with this key in --node-labels exits with "unknown 'kubernetes.io'
    or 'k8s.io' labels specified with --node-labels"."""
    ns = _namespace(key)
    if not any(_in(ns, d) for d in RESERVED_NAMESPACES):
        return False
    return key not in KUBELET_LABELS and not any(_in(ns, d) for d in KUBELET_LABEL_NAMESPACES)


def refusal_reason(key: str) -> str:
    return (
        f"the kubelet refuses node labels in the kubernetes.io and k8s.io namespaces other than its own "
        f"({', '.join(KUBELET_LABEL_NAMESPACES)} and their subdomains, and well-known keys such as "
        "node.kubernetes.io/instance-type) and would not start; use a key of your own domain (e.g. "
        "example.com/role) or one under node.kubernetes.io/"
    )
