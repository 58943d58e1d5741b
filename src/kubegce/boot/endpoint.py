"""The API server's name, as nodes, kubeadm and kubeconfigs address it: the one place it is spelled."""

from __future__ import annotations

from kubegce.boot.kubeadm import API_PORT


def api_endpoint_name(cluster_name: str) -> str:
    """The DNS name every node puts in /etc/hosts (from discovery/api-address) and kubeadm uses."""
    return f"api.internal.{cluster_name}"


def api_server_url(cluster_name: str) -> str:
    """The API server as nodes and kubeconfigs address it."""
    return f"https://{api_endpoint_name(cluster_name)}:{API_PORT}"
