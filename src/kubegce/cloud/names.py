"""GCE resource names derived from the cluster name, as kOps does (dots to dashes, hashed when long)."""

from __future__ import annotations

import hashlib
import re

MAX = 63
OWNER_LABEL = "kubegce-cluster"
DESCRIPTION_PREFIX = "kubegce:"


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower())


def gce_name(*parts: str, limit: int = MAX) -> str:
    """Join parts into a valid GCE name; too long names keep a prefix and a hash of the whole."""
    raw = "-".join(_clean(p) for p in parts if p)
    raw = re.sub(r"-+", "-", raw).strip("-")
    if not raw or not raw[0].isalpha():
        raw = "k-" + raw
    if len(raw) <= limit:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return raw[: limit - 9].rstrip("-") + "-" + digest


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


def zone_letter(zone: str) -> str:
    return zone.rsplit("-", 1)[-1]
