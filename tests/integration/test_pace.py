"""Apply at the cloud's pace: quotas, long-polled operations and the emulator's strict shapes,
with the real google-cloud-compute client against the emulator."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from kubegce import service
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.target import GceTarget
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.spec.models import InstanceGroup, InstanceGroupSpec, ObjectMeta, Role
from tests.conftest import make_bundle

pytestmark = pytest.mark.integration
CATALOG = Catalog.load()


def http(emu: RunningEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.endpoint + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_quota_throttles_but_never_fails(paced_emulator: Callable[..., RunningEmulator]) -> None:
    bundle = make_bundle()
    zones = bundle.cluster.spec.zones
    for i in range(20 - len(bundle.instance_groups)):
        bundle.instance_groups.append(InstanceGroup(metadata=ObjectMeta(name=f"pool-{i}"), spec=InstanceGroupSpec(
            role=Role.NODE, min_size=1, max_size=1, zones=zones, image="rocky-linux-cloud/rocky-linux-9")))  # fmt: skip
    emu = paced_emulator(latency_ms=5, op_ms=20, write_quota="20/2s")
    target = GceTarget(ComputeClients.create(emu.endpoint), "my-proj", "demo.example.com", rng=random.Random(1))
    cp = service.plan(bundle, CATALOG, target=target)
    results = service.apply(target, cp)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert target.api.limiter.stats.throttled > 0
    status, report = http(emu, "GET", "/_emulator/quota")
    assert status == 200 and report["write"]["windows"] == emu.quota_windows()
    windows = report["write"]["windows"]
    assert sum(w["admitted"] for w in windows) == len(cp.graph)
    # A client that does not know N cannot avoid the refusals of the calls it already had on
    # the wire when the window ran out; after it heard the refusal it sends one probe per pause.
    # Pauses last at least half the limiter's base pause (0.5 s): at most 4 probes in a 2 s window.
    on_wire = target.api.limiter.stats.peak_in_flight
    probes = 4
    for w in windows:
        attempted = w["admitted"] + w["refused"]
        assert attempted <= 20 + w["inFlightAtStart"] + on_wire + probes, w
        assert w["refusedAfterNotice"] <= on_wire + probes, w


def test_discovery_document_rejects_what_gce_would(emulator: RunningEmulator) -> None:
    base = "/compute/v1/projects/my-proj/global"
    assert http(emulator, "POST", f"{base}/networks", {"name": "net", "autoCreateSubnetworks": False})[0] == 200
    status, err = http(emulator, "POST", f"{base}/firewalls",
                       {"name": "fw", "network": "projects/my-proj/global/networks/net",
                        "allowed": [{"IPProtocol": "tcp"}], "fingerprint": "abc"})  # fmt: skip
    assert status == 400 and "fingerprint: unknown field" in err["error"]["message"]
    status, err = http(emulator, "POST", f"{base}/firewalls",
                       {"name": "fw", "network": "projects/my-proj/global/networks/net",
                        "allowed": [{"IPProtocol": "tcp", "ports": 22}]})  # fmt: skip
    assert status == 400 and "allowed[0].ports" in err["error"]["message"]
    status, err = http(emulator, "GET", f"{base}/firewalls?colour=blue")
    assert status == 400 and "colour" in err["error"]["message"]
    status, _ = http(emulator, "POST", f"{base}/firewalls",
                     {"name": "fw", "network": "projects/my-proj/global/networks/net",
                      "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]})  # fmt: skip
    assert status == 200
    status, page = http(emulator, "GET", f"{base}/firewalls")
    assert status == 200 and "fingerprint" not in page["items"][0]  # Firewall has no fingerprint field


def test_wait_long_polls_until_done() -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=300)) as emu:
        status, op = http(emu, "POST", "/compute/v1/projects/p/global/networks", {"name": "n"})
        assert status == 200 and op["status"] == "RUNNING"
        start = time.monotonic()
        status, done = http(emu, "POST", f"/compute/v1/projects/p/global/operations/{op['name']}/wait")
        assert status == 200 and done["status"] == "DONE"
        assert 0.1 < time.monotonic() - start < 2.0  # returned once the operation was done, not at once
