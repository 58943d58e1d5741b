"""The registry of GCE resource kinds: one module per kind, one line here.

The order is the order kinds are created in (and the reverse of the order they are deleted in):
a kind comes after every kind it ``depends_on``. Each kind declares only what it references; which
deletes wait for which is derived from those declarations (:func:`delete_after`), so adding a kind
edits no other kind. The graph, the planner, the Compute API target, the Terraform renderer and
the contract test all read this registry; adding a kind is a new module in this package plus its
line below.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubegce.cloud.kinds import (
    address,
    firewall,
    forwarding_rule,
    http_health_check,
    instance_group_manager,
    instance_template,
    network,
    region_instance_group_manager,
    router,
    subnetwork,
    target_pool,
)
from kubegce.cloud.kinds.base import Kind

REGISTRY: dict[str, Kind] = {
    k.name: k
    for k in (
        network.KIND,
        subnetwork.KIND,
        router.KIND,
        firewall.KIND,
        address.KIND,
        http_health_check.KIND,
        target_pool.KIND,
        forwarding_rule.KIND,
        instance_template.KIND,
        instance_group_manager.KIND,
        region_instance_group_manager.KIND,
    )
}
RANK: dict[str, int] = {name: i for i, name in enumerate(REGISTRY)}


def delete_after(name: str, registry: Mapping[str, Kind] | None = None) -> frozenset[str]:
    """The kinds whose deletes go before a delete of kind ``name``: every kind that declares it
    depends on ``name`` (its resources reference one of ``name``'s, so it must go first)."""
    kinds = REGISTRY if registry is None else registry
    return frozenset(k.name for k in kinds.values() if name in k.depends_on)


def kind(name: str) -> Kind:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a registered GCE resource kind (see kubegce.cloud.kinds)") from None


__all__ = ["RANK", "REGISTRY", "Kind", "delete_after", "kind"]
