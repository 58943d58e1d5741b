"""Zones and machine types checked against the Compute API before a plan (issue 11 section 4)."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace
from typing import Any

import pytest

from kubegce.cloud.gce.places import place_problems
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from tests.integration.test_cli_apply import kubegce

pytestmark = pytest.mark.integration


def test_machine_type_gce_does_not_offer_is_refused_before_anything_is_created(state: str) -> None:
    with RunningEmulator(0, FaultConfig()) as emu:
        r = kubegce("create", "cluster", "places.example.com", "--project", "my-proj", "--zones", "us-central1-a",
                    "--node-size", "n2-standard-6", endpoint=emu.endpoint)  # fmt: skip
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr  # well formed: offline ok
        r = kubegce("update", "cluster", "places.example.com", "--yes", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess)
        assert r.returncode == 2, r.stderr
        assert "spec.machineType: 'n2-standard-6' is not offered in zone us-central1-a" in r.stderr
        assert "Traceback" not in r.stderr
        with emu.state.lock:
            assert emu.state.resources == {}
        r = kubegce("edit", "instancegroup", "places.example.com", "nodes", "--set", "spec.machineType=n2-standard-8",
                    endpoint=emu.endpoint)  # fmt: skip
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr
        r = kubegce("update", "cluster", "places.example.com", endpoint=emu.endpoint)
        assert isinstance(r, subprocess.CompletedProcess) and r.returncode == 0, r.stderr


class _FakeApi:
    """zones.list answers a project that has only us-central1-a and -b; every machine type exists."""

    project = "my-proj"

    def __init__(self) -> None:
        self.calls: list[str] = []
        zones = [{"name": z} for z in ("us-central1-a", "us-central1-b")]
        self.clients = SimpleNamespace(
            rest_pages=lambda path, params: self._note("zones.list", [{"items": zones}]),
            rest=lambda method, path: self._note("machineTypes.get", {"name": path.rsplit("/", 1)[-1]}),
            not_found=LookupError,
        )

    def _note(self, name: str, value: Any) -> Any:
        self.calls.append(name)
        return value

    def call(self, fn: Any) -> Any:
        return fn()


def test_zone_the_project_does_not_have_is_refused_naming_its_zones() -> None:
    opts = CreateClusterOptions(name="z.example.com", project="my-proj", zones=["us-central1-a", "us-central1-f"])
    api = _FakeApi()
    problems = place_problems(api, bundle_from_options(opts))  # type: ignore[arg-type]
    assert problems == [
        "spec.zones: 'us-central1-f' is not a zone of project my-proj (zones.list); nearest known: "
        "us-central1-a, us-central1-b"
    ]
    # one zones.list, and one machineTypes.get per distinct (type, zone): not one per group
    assert api.calls.count("zones.list") == 1 and api.calls.count("machineTypes.get") <= 2
