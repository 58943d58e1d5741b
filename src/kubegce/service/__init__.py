"""The cluster service: the one path from a stored spec to the cloud.

    spec (state store) -> images + boot (boot.plans) -> desired graph (cloud.model)
        -> diff (cloud.planner) -> target: dry run | Terraform | Compute API

Every CLI verb parses its arguments, makes one call here and prints the answer; the demo, the
tests and the benchmarks use the same calls. See docs/architecture.md.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubegce.service import rolling
    from kubegce.service.cloud import connect
    from kubegce.service.cluster import (
        ApplyProgress,
        ClusterChangeSet,
        ClusterDeletion,
        apply,
        check_apply_target,
        check_spec,
        delete,
        plan,
        plan_deletion,
        write_terraform,
    )
    from kubegce.service.nodes import publish_load_balancer_address, publish_node_objects, rotate_token
    from kubegce.service.specs import add_groups, create_clusters, replace_clusters

# Each name is imported from its module on first use, so a verb that never plans does not pay for
# the boot pipeline and the planner (see benchmarks/startup.py).
_HOME = {
    "connect": "cloud",
    **dict.fromkeys(
        (
            "ApplyProgress",
            "ClusterChangeSet",
            "ClusterDeletion",
            "apply",
            "check_apply_target",
            "check_spec",
            "delete",
            "plan",
            "plan_deletion",
            "write_terraform",
        ),
        "cluster",
    ),  # fmt: skip
    **dict.fromkeys(("publish_load_balancer_address", "publish_node_objects", "rotate_token"), "nodes"),
    **dict.fromkeys(("add_groups", "create_clusters", "replace_clusters"), "specs"),
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "rolling":  # a submodule, used as service.rolling.*
        value: Any = importlib.import_module("kubegce.service.rolling")
    elif name in _HOME:
        value = getattr(importlib.import_module(f"kubegce.service.{_HOME[name]}"), name)
    else:
        raise AttributeError(f"module 'kubegce.service' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "ApplyProgress",
    "ClusterChangeSet",
    "ClusterDeletion",
    "apply",
    "check_apply_target",
    "check_spec",
    "add_groups",
    "connect",
    "create_clusters",
    "delete",
    "plan",
    "plan_deletion",
    "publish_load_balancer_address",
    "publish_node_objects",
    "replace_clusters",
    "rolling",
    "rotate_token",
    "write_terraform",
]
