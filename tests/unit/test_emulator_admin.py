"""The emulator's admin API (`/_emulator/...`) checks its input like the public API: every bad
request is a 400 (404, 405) in GCE's error shape naming the field, never a 500 or a traceback,
and changes nothing. Table-driven over every endpoint of `kubegce.emulator.admin.ENDPOINTS`."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from kubegce.emulator.admin import ENDPOINTS, MAX_BODY_BYTES
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator, parse_fail_call


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with RunningEmulator(0, FaultConfig(latency_ms=0.0), boot_seconds=1.0) as e:
        yield e


def request(emu: RunningEmulator, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    u = urlparse(emu.endpoint)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        assert resp.getheader("Content-Type", "").startswith("application/json"), raw[:200]
        return resp.status, json.loads(raw)
    finally:
        conn.close()


def snapshot(emu: RunningEmulator) -> dict[str, Any]:
    st = emu.state
    f = st.faults
    return {"faults": (f.latency_ms, f.fail_rate, f.operation_ms, list(f.fail_calls)),
            "boot": (st.boot.outcome, st.boot.boot_seconds), "calls": st.calls.as_dict(),
            "counts": dict(st.calls.counts)}  # fmt: skip


def refused(emu: RunningEmulator, method: str, path: str, body: bytes | None, *, status: int = 400,
            names: str | None = None) -> dict[str, Any]:  # fmt: skip
    before = snapshot(emu)
    code, payload = request(emu, method, path, body)
    assert code == status, (method, path, body, payload)
    error: dict[str, Any] = payload["error"]
    assert error["code"] == status and error["errors"][0]["message"] == error["message"]
    assert "Traceback" not in error["message"] and len(error["message"]) < 600
    if names is not None:
        assert error["errors"][0]["location"] == names, error
        assert names.split("[")[0] in error["message"], error
    assert snapshot(emu) == before, (method, path, body)  # a bad request changes nothing
    return error


ALL = [(e.method, e.path) for e in ENDPOINTS]
WITH_FIELDS = [(e.path, name) for e in ENDPOINTS if e.fields for name in e.fields]


def test_the_table_covers_every_admin_endpoint() -> None:
    assert sorted(ALL) == sorted([
        ("GET", "/_emulator/calls"), ("POST", "/_emulator/calls/reset"), ("GET", "/_emulator/quota"),
        ("GET", "/_emulator/metadata-servers"), ("GET", "/_emulator/faults"), ("POST", "/_emulator/faults"),
        ("GET", "/_emulator/boot"), ("POST", "/_emulator/boot"), ("POST", "/_emulator/preempt"),
        ("GET", "/_emulator/accelerators"), ("POST", "/_emulator/accelerators"), *EXTRA_ENDPOINTS,
    ])  # fmt: skip


# Endpoints that act on a resource: a good request names one (here one that does not exist: 404).
NEEDS_A_RESOURCE: dict[str, bytes] = {"/_emulator/preempt": b'{"zone": "us-central1-a", "instance": "nope"}'}
# Endpoints whose good request needs its required fields.
GOOD_BODIES: dict[str, bytes] = {
    "/_emulator/accelerators": b'{"zone": "us-central1-f", "offered": ["nvidia-tesla-t4"]}'
}
EXTRA_ENDPOINTS: list[tuple[str, str]] = []  # endpoints other tests cover


@pytest.mark.parametrize(("method", "path"), ALL)
def test_every_endpoint_answers_a_good_request(emu: RunningEmulator, method: str, path: str) -> None:
    if path in NEEDS_A_RESOURCE:
        code, payload = request(emu, method, path, NEEDS_A_RESOURCE[path])
        assert code == 404 and payload["error"]["errors"][0]["reason"] == "notFound", payload
        refused(emu, method, path, b"{}")  # its required fields missing: 400
        return
    if path in GOOD_BODIES and method == "POST":
        code, payload = request(emu, method, path, GOOD_BODIES[path])
        assert code == 200 and isinstance(payload, dict), payload
        refused(emu, method, path, b"{}")  # its required fields missing: 400
        return
    code, payload = request(emu, method, path, b"{}" if method == "POST" else None)
    assert code == 200 and isinstance(payload, dict)
    if method == "POST":
        assert request(emu, method, path)[0] == 200  # no body at all is fine too


BAD_BODIES = {
    "not-json": b"latencyMs=5",
    "truncated": b'{"latencyMs": 5',
    "a-list": b"[1, 2]",
    "a-string": b'"faults"',
    "a-number": b"5",
    "null": b"null",
    "not-utf8": b'{"latencyMs": "\xff\xfe"}',
    "nan": b'{"latencyMs": NaN}',
    "deep": b"[" * 30_000 + b"]" * 30_000,
    "deeper": b"[" * 100_000 + b"]" * 100_000,  # over the size bound as well
    "huge-int": b'{"latencyMs": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
@pytest.mark.parametrize(("method", "path"), ALL)
def test_a_body_that_is_not_a_json_object_is_400(emu: RunningEmulator, method: str, path: str, body: bytes) -> None:
    refused(emu, method, path, body)


@pytest.mark.parametrize(("method", "path"), ALL)
def test_unknown_keys_are_400_naming_the_key(emu: RunningEmulator, method: str, path: str) -> None:
    error = refused(emu, method, path, b'{"latencyMsX": 5}', names="latencyMsX")
    assert "Unknown name" in error["message"]


@pytest.mark.parametrize(("method", "path"), ALL)
def test_an_oversized_body_is_400_and_the_server_keeps_serving(emu: RunningEmulator, method: str, path: str) -> None:
    body = b'{"latencyMs": 5, "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    error = refused(emu, method, path, body)
    assert f"at most {MAX_BODY_BYTES}" in error["message"]
    assert request(emu, "GET", "/_emulator/calls")[0] == 200


@pytest.mark.parametrize(("method", "path"), ALL)
def test_a_query_string_is_400_naming_the_parameter(emu: RunningEmulator, method: str, path: str) -> None:
    refused(emu, method, f"{path}?latencyMs=5", None, names="latencyMs")


@pytest.mark.parametrize(("method", "path"), ALL)
def test_a_wrong_method_is_405(emu: RunningEmulator, method: str, path: str) -> None:
    for other in ("GET", "POST", "DELETE", "PATCH", "PUT"):
        if (other, path) not in ALL:
            error = refused(emu, other, path, None, status=405)
            assert method in error["message"]


@pytest.mark.parametrize("path", ["/_emulator/", "/_emulator/nope", "/_emulator/faults/x", "/_emulator/calls/"])
def test_an_unknown_admin_path_is_404(emu: RunningEmulator, path: str) -> None:
    refused(emu, "GET", path, None, status=404)


def test_a_duplicate_key_is_400(emu: RunningEmulator) -> None:
    refused(emu, "POST", "/_emulator/faults", b'{"failRate": 0.5, "failRate": 0}', names="failRate")


WRONG_TYPES: list[Any] = ["5", True, None, [5], {"v": 5}]
NUMBERS = {  # field: (good, out-of-range values)
    ("/_emulator/faults", "latencyMs"): (25, [-1, -0.001, 60_001, 1e308, 10**30]),
    ("/_emulator/faults", "failRate"): (0.25, [-0.1, 1.01, 2, 1e308, 10**30]),
    ("/_emulator/faults", "operationMs"): (100, [-5, 3_600_001, 1e308, 10**30]),
    ("/_emulator/boot", "seconds"): (2, [-1, 3601, 1e308, 10**30]),
}


PREEMPT_FIELDS = [("/_emulator/preempt", f) for f in ("zone", "instance", "downSeconds")]  # test_preempt_fields
ACCELERATOR_FIELDS = [("/_emulator/accelerators", f) for f in ("zone", "offered")]  # test_accelerator_fields
EXTRA_FIELDS: list[tuple[str, str]] = []  # fields other tests cover


def test_every_field_is_in_the_tables() -> None:
    assert sorted(WITH_FIELDS) == sorted([*NUMBERS, ("/_emulator/faults", "failCalls"), ("/_emulator/boot", "outcome"),
                                          *PREEMPT_FIELDS, *ACCELERATOR_FIELDS, *EXTRA_FIELDS])  # fmt: skip


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"offered": []}, "zone"), ({"zone": "us-central1-a"}, "offered"),
        ({"zone": "mars-1-a", "offered": []}, "zone"), ({"zone": "us-central1-a", "offered": "nvidia-tesla-t4"}, "offered"),
        ({"zone": "us-central1-a", "offered": ["nvidia-tesla-k80"]}, "offered[0]"),
        ({"zone": "us-central1-a", "offered": ["nvidia-tesla-t4", 5]}, "offered[1]"),
        ({"zone": "us-central1-a", "offered": ["x"] * 1000}, "offered"),
    ],
)  # fmt: skip
def test_accelerator_fields(emu: RunningEmulator, body: dict[str, Any], names: str) -> None:
    refused(emu, "POST", "/_emulator/accelerators", json.dumps(body).encode(), names=names)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"zone": "us-central1-a"}, "instance"), ({"instance": "x"}, "zone"),
        ({"zone": "us-central1-a", "instance": "X"}, "instance"), ({"zone": "a/b", "instance": "x"}, "zone"),
        ({"zone": "us-central1-a", "instance": "x\n"}, "instance"), ({"zone": "us-central1-a", "instance": 5}, "instance"),
        ({"zone": "us-central1-a", "instance": "x" * 64}, "instance"),
        ({"zone": "us-central1-a", "instance": "x", "downSeconds": -1}, "downSeconds"),
        ({"zone": "us-central1-a", "instance": "x", "downSeconds": 3601}, "downSeconds"),
        ({"zone": "us-central1-a", "instance": "x", "downSeconds": "1"}, "downSeconds"),
    ],
)  # fmt: skip
def test_preempt_fields(emu: RunningEmulator, body: dict[str, Any], names: str) -> None:
    refused(emu, "POST", "/_emulator/preempt", json.dumps(body).encode(), names=names)


@pytest.mark.parametrize(("path", "field"), list(NUMBERS))
def test_numbers_are_checked(emu: RunningEmulator, path: str, field: str) -> None:
    good, bad_values = NUMBERS[(path, field)]
    for bad in [*WRONG_TYPES, *bad_values]:
        refused(emu, "POST", path, json.dumps({field: bad}).encode(), names=field)
    for token in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        refused(emu, "POST", path, b'{"' + field.encode() + b'": ' + token + b"}")
    # one bad field refuses the whole request: the good one next to it is not applied either
    refused(emu, "POST", path, json.dumps({field: good, "nope": 1}).encode(), names="nope")
    code, payload = request(emu, "POST", path, json.dumps({field: good}).encode())
    assert code == 200 and payload[field] == good
    request(emu, "POST", "/_emulator/faults", b'{"latencyMs": 0, "failRate": 0, "operationMs": 0, "failCalls": []}')
    request(emu, "POST", "/_emulator/boot", b'{"outcome": "joined", "seconds": 1}')


@pytest.mark.parametrize(("value", "names"), [
    ("nonsense", "outcome"), ("fail:", "outcome"), ("fail:nosuchstep", "outcome"), ("JOINED", "outcome"),
    ("joined\n", "outcome"), ("", "outcome"), (5, "outcome"), (None, "outcome"), (["joined"], "outcome"),
])  # fmt: skip
def test_boot_outcomes_are_an_enum(emu: RunningEmulator, value: Any, names: str) -> None:
    refused(emu, "POST", "/_emulator/boot", json.dumps({"outcome": value}).encode(), names=names)


def test_a_good_boot_outcome_reaches_new_boots(emu: RunningEmulator) -> None:
    code, payload = request(emu, "POST", "/_emulator/boot", b'{"outcome": "fail:kubeadm_join"}')
    assert code == 200 and payload["outcome"] == "fail:kubeadm_join" == emu.state.boot.outcome
    assert request(emu, "POST", "/_emulator/boot", b'{"outcome": "joined"}')[0] == 200


@pytest.mark.parametrize(("value", "names"), [
    ("instanceTemplates.insert:3", "failCalls"),
    ({"m": 1}, "failCalls"),
    ([["instanceTemplates.insert", 3]], "failCalls[0]"),
    ([["instanceTemplates.insert", 3, 503, 1]], "failCalls[0]"),
    (["instanceTemplates.insert"], "failCalls[0]"),
    ([[5, 3, 503]], "failCalls[0][0]"),
    ([["", 3, 503]], "failCalls[0][0]"),
    ([["no dots", 3, 503]], "failCalls[0][0]"),
    ([["a.b\n", 3, 503]], "failCalls[0][0]"),
    ([["instanceTemplates.insert", 0, 503]], "failCalls[0][1]"),
    ([["instanceTemplates.insert", -3, 503]], "failCalls[0][1]"),
    ([["instanceTemplates.insert", 2.5, 503]], "failCalls[0][1]"),
    ([["instanceTemplates.insert", "3", 503]], "failCalls[0][1]"),
    ([["instanceTemplates.insert", 10**30, 503]], "failCalls[0][1]"),
    ([["instanceTemplates.insert", 3, 200]], "failCalls[0][2]"),
    ([["instanceTemplates.insert", 3, 999]], "failCalls[0][2]"),
    ([["instanceTemplates.insert", 3, True]], "failCalls[0][2]"),
    ([["networks.insert", 1, 503], ["instanceTemplates.insert", 3, 99]], "failCalls[1][2]"),
    ([["networks.insert", 1, 503]] * 101, "failCalls"),
])  # fmt: skip
def test_fail_calls_are_checked(emu: RunningEmulator, value: Any, names: str) -> None:
    emu.state.calls.counts["networks.insert"] = 7  # a good failCalls would clear these counts
    refused(emu, "POST", "/_emulator/faults", json.dumps({"failCalls": value}).encode(), names=names)
    emu.state.calls.counts.clear()


def test_good_fail_calls_apply_and_restart_the_counts(emu: RunningEmulator) -> None:
    emu.state.calls.counts["networks.insert"] = 7
    code, payload = request(emu, "POST", "/_emulator/faults", b'{"failCalls": [["networks.insert", 2, 429]]}')
    assert code == 200 and payload["failCalls"] == [["networks.insert", 2, 429]]
    assert emu.state.faults.fail_calls == [("networks.insert", 2, 429)] and emu.state.calls.counts == {}
    assert request(emu, "POST", "/_emulator/faults", b'{"failCalls": []}')[0] == 200


@pytest.mark.parametrize("text", ["x", "a.b:c", "a.b:3:abc", "a.b:0", "a.b:3:200", "a.b:3:99999999999", "a b:3", ":3"])
def test_the_fail_call_flag_shares_the_checks(text: str) -> None:
    with pytest.raises(ValueError, match="--fail-call"):
        parse_fail_call(text)
    assert parse_fail_call("instanceTemplates.insert:3") == ("instanceTemplates.insert", 3, 503)


# The cluster autoscaler's resize (emulator/autoscaler.py): it acts on a MIG; one that does not exist is 404.
AUTOSCALE_NOPE = b'{"zone": "us-central1-a", "instanceGroupManager": "nope", "size": 1, "min": 0, "max": 2}'
AUTOSCALE_FIELDS = [("/_emulator/autoscale", f) for f in ("zone", "instanceGroupManager", "size", "min", "max")]
NEEDS_A_RESOURCE["/_emulator/autoscale"] = AUTOSCALE_NOPE
EXTRA_ENDPOINTS.append(("POST", "/_emulator/autoscale"))
EXTRA_FIELDS.extend(AUTOSCALE_FIELDS)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"zone": "us-central1-a", "instanceGroupManager": "m", "size": 1, "min": 0}, "max"),
        ({"instanceGroupManager": "m", "size": 1, "min": 0, "max": 2}, "zone"),
        ({"zone": "us-central1-a", "instanceGroupManager": "M", "size": 1, "min": 0, "max": 2}, "instanceGroupManager"),
        ({"zone": "us-central1-a", "instanceGroupManager": "m", "size": -1, "min": 0, "max": 2}, "size"),
        ({"zone": "us-central1-a", "instanceGroupManager": "m", "size": 1.5, "min": 0, "max": 2}, "size"),
        ({"zone": "us-central1-a", "instanceGroupManager": "m", "size": 3, "min": 0, "max": 2}, "size"),
        ({"zone": "us-central1-a", "instanceGroupManager": "m", "size": 1, "min": 3, "max": 2}, "min"),
        ({"zone": "us-central1-a", "instanceGroupManager": "m", "size": 1, "min": 0, "max": 1001}, "max"),
    ],
)  # fmt: skip
def test_autoscale_fields(emu: RunningEmulator, body: dict[str, Any], names: str) -> None:
    refused(emu, "POST", "/_emulator/autoscale", json.dumps(body).encode(), names=names)


# A GPU group's failed driver install (POST /_emulator/gpu-failure): "" clears it.
GOOD_BODIES["/_emulator/gpu-failure"] = b'{"group": "nodes", "cause": ""}'
EXTRA_ENDPOINTS.extend([("GET", "/_emulator/gpu-failure"), ("POST", "/_emulator/gpu-failure")])
EXTRA_FIELDS.extend([("/_emulator/gpu-failure", "group"), ("/_emulator/gpu-failure", "cause")])


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"cause": "gpu-toolkit"}, "group"), ({"group": "nodes"}, "cause"),
        ({"group": "Nodes", "cause": "gpu-toolkit"}, "group"), ({"group": "nodes", "cause": "gpu-bogus"}, "cause"),
        ({"group": "nodes", "cause": 5}, "cause"),
    ],
)  # fmt: skip
def test_gpu_failure_fields(emu: RunningEmulator, body: dict[str, Any], names: str) -> None:
    before = dict(emu.state.boot.gpu_failures)
    refused(emu, "POST", "/_emulator/gpu-failure", json.dumps(body).encode(), names=names)
    assert emu.state.boot.gpu_failures == before
