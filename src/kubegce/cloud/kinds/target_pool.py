"""Target pool (regional): the control-plane instances behind the API's forwarding rule.

Target pools have no patch method (Compute v1); the one field kubegce changes in place is the
health check, through ``addHealthCheck``/``removeHealthCheck`` (a pool made before health checks
existed gets one on the next apply). Other differences are left alone: the pool carries the API's
traffic, and its other fields are constants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, ApiContext, Kind, TfContext, TfRendering, UpdateRequest
from kubegce.cloud.names import url_tail
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "region": r.location, "description": b["description"],
            "session_affinity": b["sessionAffinity"],
            "health_checks": [tf.ref("http_health_check", u) for u in b.get("healthChecks", [])]}  # fmt: skip


def health_check_update(api: ApiContext, kind: Kind, req: UpdateRequest) -> None:
    """Health checks in place (as JSON): remove those GCE has that are not desired, then add the
    desired ones (a pool takes one)."""
    if "healthChecks" not in req.changed:
        return
    want = [url_tail(u) for u in req.desired.get("healthChecks", [])]
    have = [url_tail(u) for u in req.actual.get("healthChecks", [])]
    path = f"{kind.api.url_path(kind.where(api.project, req.key.location))}/{req.key.name}"
    clients = api.clients

    def call(verb: str, body: dict[str, Any]) -> Callable[[], Any]:
        return lambda: clients.rest("POST", f"{path}/{verb}", body)

    for verb, urls in (("removeHealthCheck", [u for u in have if u not in want]),
                       ("addHealthCheck", [u for u in want if u not in have])):  # fmt: skip
        if urls:
            api.mutate(req.key, call(verb, {"healthChecks": [{"healthCheck": u} for u in urls]}))


KIND = Kind(
    name="target_pool",
    scope="region",
    api=ApiBinding("target_pools", "target_pool", "TargetPool", "targetPools", "target_pools"),  # fmt: skip
    terraform=TfRendering("google_compute_target_pool", terraform),
    update=health_check_update,
    depends_on=("http_health_check",),
)
