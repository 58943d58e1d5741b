"""Emulator behaviour the real client relies on: filters, pages, errors, operations."""

from __future__ import annotations

from kubegce.emulator.compute import ComputeApi, ComputeState, FaultConfig
from kubegce.emulator.filters import compile_filter


def test_filters() -> None:
    obj = {"name": "a-demo-example-com", "description": "kubegce: x", "labels": {"team": "web"}}
    assert compile_filter('name = "a-*"')(obj)
    assert not compile_filter('name != "a-*"')(obj)
    assert compile_filter('name eq ".*demo.*"')(obj)
    assert compile_filter('(name eq ".*demo.*") (labels.team = "web")')(obj)
    assert compile_filter('name eq ".*demo.*" AND labels.team = web')(obj)
    assert not compile_filter('labels.team = "db"')(obj)


def api(**faults: object) -> ComputeApi:
    return ComputeApi(ComputeState(FaultConfig(**faults)))  # type: ignore[arg-type]


def test_insert_list_pages_and_errors() -> None:
    a = api()
    for i in range(5):
        status, op = a.handle("POST", "/compute/v1/projects/p/global/networks", {"name": f"net-{i}"})
        assert status == 200 and op["status"] == "DONE" and op["id"].isdigit()
    status, page = a.handle("GET", "/compute/v1/projects/p/global/networks?maxResults=2", None)
    assert [n["name"] for n in page["items"]] == ["net-0", "net-1"] and page["nextPageToken"] == "2"
    status, page = a.handle("GET", "/compute/v1/projects/p/global/networks?maxResults=2&pageToken=4", None)
    assert [n["name"] for n in page["items"]] == ["net-4"] and "nextPageToken" not in page
    status, err = a.handle("POST", "/compute/v1/projects/p/global/networks", {"name": "net-0"})
    assert status == 409 and err["error"]["errors"][0]["reason"] == "alreadyExists"
    status, err = a.handle("GET", "/compute/v1/projects/p/global/networks/nope", None)
    assert status == 404
    status, err = a.handle("POST", "/compute/v1/projects/p/global/networks", {"name": "Bad_Name"})
    assert status == 400


def test_operations_progress_and_injected_faults() -> None:
    a = api(operation_ms=200)
    _, op = a.handle("POST", "/compute/v1/projects/p/global/networks", {"name": "n"})
    assert op["status"] == "RUNNING"
    _, done = a.handle("POST", f"/compute/v1/projects/p/global/operations/{op['name']}/wait", None)
    assert done["status"] == "DONE"
    b = api(fail_calls=[("networks.insert", 2, 503)])
    assert b.handle("POST", "/compute/v1/projects/p/global/networks", {"name": "a"})[0] == 200
    status, err = b.handle("POST", "/compute/v1/projects/p/global/networks", {"name": "b"})
    assert status == 503 and err["error"]["errors"][0]["reason"] == "backendError"
    assert b.state.calls.failures_injected == 1
