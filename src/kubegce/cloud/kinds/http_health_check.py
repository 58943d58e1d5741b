"""Legacy HTTP health check (global): the API target pool's view of each control plane.

A target pool takes only this kind (Compute v1 ``TargetPool.healthChecks``: "Only legacy
HttpHealthChecks are supported. Only one health check may be specified"). It probes each control
plane's ``/readyz`` on the health port (lib/health.sh answers it from the local API server's
readiness), so GCE sends no API traffic to a control plane that is being recreated or is not ready.
Patched in place."""

from __future__ import annotations

from typing import Any

from kubegce.cloud.kinds.base import ApiBinding, Kind, TfContext, TfRendering, patch_update
from kubegce.cloud.resources import Resource


def terraform(r: Resource, tf: TfContext) -> dict[str, Any]:
    b = r.body
    return {"name": r.name, "project": tf.project, "description": b["description"], "port": b["port"],
            "request_path": b["requestPath"], "check_interval_sec": b["checkIntervalSec"],
            "timeout_sec": b["timeoutSec"], "healthy_threshold": b["healthyThreshold"],
            "unhealthy_threshold": b["unhealthyThreshold"]}  # fmt: skip


KIND = Kind(
    name="http_health_check",
    scope="global",
    api=ApiBinding("http_health_checks", "http_health_check", "HttpHealthCheck", "httpHealthChecks", library=False),
    terraform=TfRendering("google_compute_http_health_check", terraform),
    update=patch_update(),
)
