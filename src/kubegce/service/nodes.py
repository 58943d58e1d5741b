"""What nodes read from the state store: their configs, their role's secrets, the API's address."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubegce.boot.endpoint import api_server_url
from kubegce.boot.plans import ClusterBoot
from kubegce.cloud.graph import ResourceGraph
from kubegce.errors import UserError
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import discovery_key
from kubegce.state.pki import ClusterSecrets

if TYPE_CHECKING:
    from kubegce.cloud.gce.target import GceTarget

Log = Callable[[str], None]


def quiet(message: str) -> None:
    """A log that says nothing."""


def publish_node_objects(repo: ClusterRepository, boot: ClusterBoot, *, log: Log = quiet) -> list[str]:
    """Generate the cluster's secrets if needed and write what nodes fetch at boot (only into a
    store nodes can read: gs://). Returns the keys written."""
    if not repo.store.nodes_can_read:
        return []
    name = boot.bundle.cluster.name
    secrets_ = repo.ensure_secrets(name)
    written = repo.publish_node_objects(name, boot.node_objects, secrets_, api_server_url(name))
    log(f"wrote {len(written)} node objects to {repo.store.url}" if written else "node objects are up to date")
    return written


def publish_load_balancer_address(repo: ClusterRepository, target: GceTarget, graph: ResourceGraph, *,
                                  log: Log = quiet) -> None:  # fmt: skip
    """With a load-balanced API, nodes learn its address from the state bucket (written here)."""
    if not repo.store.nodes_can_read:
        return
    for key in (k for k in graph.resources if k.kind == "address"):
        resource = target.get(key)
        address = (resource or {}).get("address")
        if not address:
            raise UserError(f"{key} has no IP address yet; re-run `kubegce update cluster {graph.cluster_name} --yes`")
        store_key = discovery_key(graph.cluster_name)
        current = repo.store.read(store_key)
        if current is None or current.data.decode() != address:
            repo.store.write(store_key, address.encode(), if_generation=current.generation if current else 0)
            log(f"published the API address {address} for the nodes")


def rotate_token(repo: ClusterRepository, name: str, ttl: dt.timedelta) -> ClusterSecrets:
    """A new kubeadm join token, and the role bundles nodes fetch republished with it."""
    repo.get(name)
    secrets_ = repo.rotate_token(name, ttl)
    repo.publish_node_objects(name, {}, secrets_, api_server_url(name))
    return secrets_
