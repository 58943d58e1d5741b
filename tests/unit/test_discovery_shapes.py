"""The emulator's shape checks come from Google's own Compute v1 discovery document."""

from __future__ import annotations

import pytest

from kubegce.emulator import discovery


@pytest.mark.parametrize(
    ("verb", "path", "method_id", "request_schema"),
    [
        ("POST", "/compute/v1/projects/p/global/firewalls", "compute.firewalls.insert", "Firewall"),
        ("PATCH", "/compute/v1/projects/p/global/firewalls/f", "compute.firewalls.patch", "Firewall"),
        ("POST", "/compute/v1/projects/p/zones/z/instanceGroupManagers/m/resize",
         "compute.instanceGroupManagers.resize", None),
        ("POST", "/compute/v1/projects/p/regions/r/addresses/a/setLabels", "compute.addresses.setLabels",
         "RegionSetLabelsRequest"),
        ("GET", "/compute/v1/projects/p/aggregated/instanceGroupManagers",
         "compute.instanceGroupManagers.aggregatedList", None),
        ("POST", "/compute/v1/projects/p/zones/z/operations/o/wait", "compute.zoneOperations.wait", None),
    ],
)  # fmt: skip
def test_methods_are_found_by_path(verb: str, path: str, method_id: str, request_schema: str | None) -> None:
    m = discovery.find_method(verb, path)
    assert m is not None
    assert (m.id, m.request) == (method_id, request_schema)


def test_unknown_path_has_no_method() -> None:
    assert discovery.find_method("POST", "/compute/v1/projects/p/global/nonsense") is None
    assert discovery.find_method("DELETE", "/compute/v1/projects/p/global/firewalls") is None


def test_a_valid_body_passes() -> None:
    body = {
        "name": "fw",
        "network": "projects/p/global/networks/n",
        "allowed": [{"IPProtocol": "tcp", "ports": ["22", "443"]}],
        "sourceRanges": ["0.0.0.0/0"],
        "priority": 1000,
        "disabled": False,
    }
    assert discovery.check_body("Firewall", body) == []


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"name": "fw", "fingerprint": "abc"}, "fingerprint", "unknown field"),
        ({"name": 5}, "name", "expected a string"),
        ({"allowed": {"IPProtocol": "tcp"}}, "allowed", "expected an array"),
        ({"allowed": [{"IPProtocol": "tcp", "port": ["1"]}]}, "allowed[0].port", "unknown field"),
        ({"priority": "high"}, "priority", "expected an integer"),
        ({"disabled": "no"}, "disabled", "expected a boolean"),
        ({"direction": "SIDEWAYS"}, "direction", "not one of"),
    ],
)
def test_bad_bodies_name_the_field(body: dict[str, object], path: str, words: str) -> None:
    errors = discovery.check_body("Firewall", body)
    assert [e.path for e in errors] == [path]
    assert words in errors[0].message


def test_maps_take_their_value_schema() -> None:
    assert discovery.check_body("Address", {"name": "a", "labels": {"k": "v"}}) == []
    errors = discovery.check_body("Address", {"name": "a", "labels": {"k": 1}})
    assert [e.path for e in errors] == ["labels.k"]


def test_int64_accepts_numbers_and_numeric_strings() -> None:
    assert discovery.check_body("InstanceGroupManager", {"name": "m", "targetSize": 3}) == []
    assert discovery.check_body("Instance", {"name": "i", "id": "123"}) == []
    assert discovery.check_body("Instance", {"name": "i", "id": "12x"})


def test_deep_nesting_is_refused_not_recursed() -> None:
    body: dict[str, object] = {}
    cur = body
    for _ in range(200):
        nxt: dict[str, object] = {}
        cur["labels"] = nxt
        cur = nxt
    assert discovery.check_body("Firewall", body)


def test_prune_drops_what_the_schema_lacks() -> None:
    answer = {"name": "fw", "fingerprint": "x", "allowed": [{"IPProtocol": "tcp", "extra": 1}]}
    assert discovery.prune("Firewall", answer) == {"name": "fw", "allowed": [{"IPProtocol": "tcp"}]}


def test_unknown_query_parameters() -> None:
    m = discovery.find_method("GET", "/compute/v1/projects/p/global/firewalls")
    assert m is not None
    assert discovery.check_query(m, {"maxResults": "5", "filter": "x"}) == []
    assert [e.path for e in discovery.check_query(m, {"maxResult": "5"})] == ["maxResult"]


def test_every_paged_list_takes_return_partial_success() -> None:
    """gcloud sends returnPartialSuccess on every aggregatedList; the live API takes it on paged lists."""
    paged = [m for m in discovery.methods() if "pageToken" in m.query]
    assert len(paged) > 100
    for m in paged:
        assert discovery.check_query(m, {"returnPartialSuccess": "true", "maxResults": "500"}) == [], m.id
    agg = discovery.find_method("GET", "/compute/v1/projects/p/aggregated/instances")
    assert agg is not None
    assert [e.path for e in discovery.check_query(agg, {"returnPartialSuccess": "yes"})] == ["returnPartialSuccess"]
    get = discovery.find_method("GET", "/compute/v1/projects/p/global/firewalls/fw")
    assert get is not None
    assert [e.path for e in discovery.check_query(get, {"returnPartialSuccess": "true"})] == ["returnPartialSuccess"]
