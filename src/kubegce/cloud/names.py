"""GCE resource names derived from the cluster name, as kOps does (dots to dashes, hashed when long)."""

from __future__ import annotations

from kubegce.spec.gce_names import MAX, gce_name, zone_letter

__all__ = ["MAX", "gce_name", "zone_letter"]

OWNER_LABEL = "kubegce-cluster"
DESCRIPTION_PREFIX = "kubegce:"


def cluster_slug(cluster_name: str) -> str:
    """The cluster name as a GCE name: the prefix of its resources' names and its owner label's value."""
    return gce_name(cluster_name)


def owner_description(cluster_name: str) -> str:
    """Ownership marker for resources that have no labels (networks, firewalls, MIGs, pools)."""
    return f"{DESCRIPTION_PREFIX} managed by kubegce for cluster {cluster_name}"


def role_tag(cluster_name: str, role: str) -> str:
    return gce_name(cluster_name, "k8s-io-role", role)


def url_tail(url: str) -> str:
    """The `projects/...` part of a full or partial resource URL (other strings unchanged)."""
    if "/projects/" in url:
        return "projects/" + url.split("/projects/", 1)[1]
    return url
