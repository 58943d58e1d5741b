"""Node annotations through the Kubernetes API (the rolling update's scale-down-disabled marks)."""

from __future__ import annotations

from typing import Any

from kubegce.kube.client import KubeApiError, KubeClient


def node_annotations(client: KubeClient, node: str) -> dict[str, str] | None:
    """The node's annotations, or None when no such node is registered."""
    try:
        got = client.call(f"reading node {node}", client.core.read_node, node)
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise
    return {str(k): str(v) for k, v in (got.metadata.annotations or {}).items()}


def set_node_annotations(client: KubeClient, node: str, annotations: dict[str, str]) -> bool:
    """Replace the node's annotations with ``annotations`` (one JSON patch: every client version
    sends a list as application/json-patch+json); False when the node is gone."""
    patch: list[dict[str, Any]] = [{"op": "add", "path": "/metadata/annotations", "value": dict(annotations)}]
    try:
        client.call(f"annotating node {node}", client.core.patch_node, node, patch)
    except KubeApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def annotated_nodes(client: KubeClient, key: str, value: str) -> dict[str, dict[str, str]]:
    """Every node whose annotation ``key`` is ``value``: name -> its annotations (one list call)."""
    out: dict[str, dict[str, str]] = {}
    for n in client.call("listing nodes", client.core.list_node).items:
        current = {str(k): str(v) for k, v in (n.metadata.annotations or {}).items()}
        if current.get(key) == value:
            out[str(n.metadata.name)] = current
    return out
