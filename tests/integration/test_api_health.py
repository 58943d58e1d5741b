"""Issue 25 item 8 against the emulator: the API's target pool gets its legacy HTTP health check,
an older pool without one gets it on the next apply (addHealthCheck), the pool reports a control
plane that is being recreated as UNHEALTHY until its boot joins, and the emulator refuses what
Compute refuses (a non-legacy check, two checks, a check in use, impossible timings)."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from google.api_core import exceptions

from kubegce import service
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.target import GceTarget
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle

pytestmark = pytest.mark.integration
CATALOG = Catalog.load()
REGION = "projects/my-proj/regions/us-central1"


def ha_bundle() -> Any:
    return make_bundle(control_plane_count=3, zones=["us-central1-a", "us-central1-b", "us-central1-c"])


def applied(emu: RunningEmulator) -> tuple[GceTarget, ComputeClients, Any]:
    clients = ComputeClients.create(emu.endpoint)
    target = GceTarget(clients, "my-proj", "demo.example.com", rng=random.Random(0), backoff_s=0.01, deadline_s=60)
    bundle = ha_bundle()
    results = service.apply(target, service.plan(bundle, CATALOG, target=target))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return target, clients, bundle


def pool_and_members(clients: ComputeClients) -> tuple[dict[str, Any], list[str]]:
    (pool,) = clients.rest("GET", f"{REGION}/targetPools")["items"]
    return pool, list(pool.get("instances", []))


def health(clients: ComputeClients, pool: dict[str, Any], instance: str) -> str:
    answer = clients.rest("POST", f"{REGION}/targetPools/{pool['name']}/getHealth", {"instance": instance})
    (status,) = answer["healthStatus"]
    return str(status["healthState"])


def test_the_pool_has_the_check_converges_and_a_recreated_control_plane_is_unhealthy_until_it_joins(
    emulator: RunningEmulator,
) -> None:
    target, clients, bundle = applied(emulator)
    (check,) = clients.rest("GET", "projects/my-proj/global/httpHealthChecks")["items"]
    assert check["port"] == 3990 and check["requestPath"] == "/readyz"
    pool, members = pool_and_members(clients)
    assert [u.rsplit("/", 1)[-1] for u in pool["healthChecks"]] == [check["name"]]
    assert len(members) == 3  # the three control planes, from their groups' targetPools
    assert service.plan(bundle, CATALOG, target=target).diff.empty  # GCE's full URLs equal ours

    deadline = time.monotonic() + 30
    while {health(clients, pool, m) for m in members} != {"HEALTHY"}:
        assert time.monotonic() < deadline, "the control planes never became healthy"
        time.sleep(0.2)
    # recreate one control plane through its group: no traffic for it until its new boot joins
    victim = members[0]
    zone, name = victim.split("/zones/")[1].split("/")[0], victim.rsplit("/", 1)[-1]
    (mig,) = [m for m in clients.rest("GET", f"projects/my-proj/zones/{zone}/instanceGroupManagers")["items"]
              if m.get("targetPools")]  # fmt: skip
    clients.rest("POST", f"projects/my-proj/zones/{zone}/instanceGroupManagers/{mig['name']}/recreateInstances",
                 {"instances": [f"zones/{zone}/instances/{name}"]})  # fmt: skip
    assert health(clients, pool, victim) == "UNHEALTHY"
    assert {health(clients, pool, m) for m in members[1:]} == {"HEALTHY"}
    deadline = time.monotonic() + 30
    while health(clients, pool, victim) != "HEALTHY":
        assert time.monotonic() < deadline, "the recreated control plane never became healthy again"
        time.sleep(0.2)

    with pytest.raises(exceptions.BadRequest, match="already being used"):
        clients.rest("DELETE", f"projects/my-proj/global/httpHealthChecks/{check['name']}")
    results = service.delete(service.plan_deletion(bundle, target), target)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    with emulator.state.lock:
        assert emulator.state.resources == {}


def test_a_pool_made_before_health_checks_gets_one_in_place(emulator: RunningEmulator) -> None:
    target, clients, bundle = applied(emulator)
    pool, _ = pool_and_members(clients)
    clients.rest("POST", f"{REGION}/targetPools/{pool['name']}/removeHealthCheck",
                 {"healthChecks": [{"healthCheck": pool["healthChecks"][0]}]})  # fmt: skip
    assert "healthChecks" not in pool_and_members(clients)[0]
    plan = service.plan(bundle, CATALOG, target=target)
    assert [(c.action, c.key.kind, [f.path for f in c.fields]) for c in plan.diff.changes] == [
        ("update", "target_pool", ["healthChecks"])]  # fmt: skip
    pool_id = pool["id"]
    results = service.apply(target, plan)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    after, _ = pool_and_members(clients)
    assert after["id"] == pool_id and after["healthChecks"] == pool["healthChecks"]  # in place, not replaced
    assert service.plan(bundle, CATALOG, target=target).diff.empty


def test_the_emulator_refuses_what_compute_refuses(emulator: RunningEmulator) -> None:
    clients = ComputeClients.create(emulator.endpoint)
    checks = "projects/my-proj/global/httpHealthChecks"
    for body, words in (({"name": "a", "requestPath": "readyz"}, "requestPath"),
                        ({"name": "a", "timeoutSec": 10, "checkIntervalSec": 5}, "timeoutSec"),
                        ({"name": "a", "port": 70000}, "port"),
                        ({"name": "a", "healthyThreshold": "x"}, "healthyThreshold")):  # fmt: skip
        with pytest.raises(exceptions.BadRequest, match=words):
            clients.rest("POST", checks, body)
    clients.rest("POST", checks, {"name": "one"})
    clients.rest("POST", checks, {"name": "two"})
    assert clients.rest("GET", f"{checks}/one")["port"] == 80  # Compute's defaults
    pools = f"{REGION}/targetPools"
    with pytest.raises(exceptions.BadRequest, match="Only legacy"):
        clients.rest("POST", pools, {"name": "p", "healthChecks": ["projects/my-proj/global/healthChecks/one"]})
    with pytest.raises(exceptions.BadRequest, match="only one"):
        clients.rest("POST", pools, {"name": "p", "healthChecks": [f"{checks}/one", f"{checks}/two"]})
    with pytest.raises(exceptions.NotFound):
        clients.rest("POST", pools, {"name": "p", "healthChecks": [f"{checks}/three"]})
    clients.rest("POST", pools, {"name": "p", "healthChecks": [f"{checks}/one"]})
    with pytest.raises(exceptions.BadRequest, match="only one"):
        clients.rest("POST", f"{pools}/p/addHealthCheck", {"healthChecks": [{"healthCheck": f"{checks}/two"}]})
    with pytest.raises(exceptions.BadRequest, match="not a member"):
        clients.rest("POST", f"{pools}/p/getHealth", {"instance": "projects/my-proj/zones/us-central1-a/instances/x"})
