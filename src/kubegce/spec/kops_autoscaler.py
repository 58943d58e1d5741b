"""kOps's ``spec.clusterAutoscaler`` (Cluster) as kubegce's spec.clusterAutoscaler (docs/autoscaling.md).

kOps's fields (k8s.io/kops pkg/apis/kops ClusterAutoscalerConfig) of the same meaning map one to
one; kOps writes scaleDownUtilizationThreshold as a string ("0.5") and durations as Go's
metav1.Duration ("10m0s"), which kubegce's checks take as they are. Its other fields (cpuRequest,
newPodScaleUpDelay, ...) are named in the import's ignored-fields warning.
"""

from __future__ import annotations

import re
from typing import Any

NUMBER_RE = re.compile(r"\A[0-9]{0,3}(\.[0-9]{1,6})?\Z")

MAPPED = {
    "enabled": "enabled",
    "expander": "expander",
    "scaleDownUtilizationThreshold": "scaleDownUtilizationThreshold",
    "scaleDownDelayAfterAdd": "scaleDownDelayAfterAdd",
    "scaleDownUnneededTime": "scaleDownUnneededTime",
    "skipNodesWithLocalStorage": "skipNodesWithLocalStorage",
    "balanceSimilarNodeGroups": "balanceSimilarNodeGroups",
    "image": "image",
}


def cluster_autoscaler(value: dict[str, Any], unmapped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        if name not in MAPPED:
            unmapped.append(f"Cluster spec.clusterAutoscaler.{name[:40]}")
            continue
        if name == "scaleDownUtilizationThreshold" and isinstance(item, str) and NUMBER_RE.fullmatch(item):
            item = float(item)  # anything else: the model refuses it, naming the field
        out[MAPPED[name]] = item
    return out
