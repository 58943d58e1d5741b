"""The emulator's admin API (``/_emulator/...``), checked like the public API.

Every endpoint is one row of :data:`ENDPOINTS`: its method, the body fields it takes (each with a
check that returns the value to use or raises :class:`AdminError` naming the field) and what it
does. A request is checked whole before anything changes: an unknown path is 404, a wrong method
405, and a query string, a body that is not a JSON object, a duplicate, unknown or mistyped key,
an out-of-range number, an unknown enum value or a body over :data:`MAX_BODY_BYTES` is 400 with
GCE's error shape naming the field (``errors[0].location``), and nothing is changed.

GET  /_emulator/calls            call counts (reads, mutations, per method)
POST /_emulator/calls/reset      zero the counts (no body, or ``{}``)
GET  /_emulator/quota            per-window counts of --write-quota / --read-quota
GET  /_emulator/metadata-servers instance name -> its metadata server's URL (--serve-metadata)
GET  /_emulator/faults           the fault settings
POST /_emulator/faults           {"latencyMs", "failRate", "operationMs", "failCalls": [[METHOD, N, CODE]]}
GET  /_emulator/boot             the simulated boots' settings
POST /_emulator/boot             {"outcome": "joined" | PHASE | "fail:STEP", "seconds": S} (new boots only)
GET  /_emulator/accelerators     zone -> the GPU models it offers, where set (else every model)
POST /_emulator/accelerators     {"zone", "offered": [MODEL]}: what acceleratorTypes serves in the zone
GET  /_emulator/gpu-failure      group -> the GPU cause its new boots' driver install fails with
POST /_emulator/gpu-failure      {"group", "cause": CAUSE | ""}: a GPU group's new boots fail at install_gpu_driver
                                 (install_gpu_toolkit for gpu-toolkit) with that cause ("" clears it)
POST /_emulator/preempt          {"zone", "instance", "downSeconds"}: GCE preempts a Spot VM (emulator/spot.py)
POST /_emulator/autoscale        {"zone", "instanceGroupManager", "size", "min", "max"}: the cluster autoscaler's
                                 resize of a MIG inside its --nodes range (emulator/autoscaler.py)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubegce.boot import protocol
from kubegce.emulator.compute.state import ComputeState

MAX_BODY_BYTES = 64 * 1024
MAX_FAIL_CALLS = 100
METHOD_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}\.[A-Za-z][A-Za-z0-9]{0,63}")


class AdminError(Exception):
    """A request the admin API refuses: HTTP ``code``, the field it names (or "")."""

    def __init__(self, code: int, message: str, field: str = "", reason: str = "invalid") -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.reason = code, message, field, reason

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "domain": "global", "reason": self.reason}
        if self.field:
            error |= {"location": self.field, "locationType": "body" if self.field != "?" else "parameter"}
        return {"error": {"code": self.code, "message": self.message, "errors": [error]}}


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


# ---------------------------------------------------------------------------- value checks
def number(low: float, high: float) -> Callable[[str, Any], float]:
    def check(field: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be a number.", field)
        if not math.isfinite(value) or not low <= value <= high:
            raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be from {low:g} "
                                  f"to {high:g}.", field)  # fmt: skip
        return float(value)

    return check


def integer(low: int, high: int) -> Callable[[str, Any], int]:
    def check(field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be an integer.", field)
        if not low <= value <= high:
            raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be from {low} "
                                  f"to {high}.", field)  # fmt: skip
        return value

    return check


def boot_outcome_problem(outcome: str) -> str | None:
    """Why ``outcome`` is not a simulated boot's outcome (None: it is one). Shared with `--boot-outcome`."""
    steps = (*protocol.STEPS, *protocol.PSEUDO_STEPS)
    kind, _, step = outcome.partition(":")
    if outcome in protocol.PROGRESS_PHASES or (kind == "fail" and step in steps):
        return None
    return f"give one of {', '.join(protocol.PROGRESS_PHASES)} or fail:STEP with STEP one of {', '.join(steps)}"


def outcome(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be a string.", field)
    problem = boot_outcome_problem(value)
    if problem is not None:
        raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. {problem}.", field)
    return value


def fail_calls(field: str, value: Any) -> list[tuple[str, int, int]]:
    if not isinstance(value, list):
        raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be a list of "
                              "[METHOD, N, CODE] lists.", field)  # fmt: skip
    if len(value) > MAX_FAIL_CALLS:
        raise AdminError(400, f"Invalid value for field '{field}': {len(value)} entries; at most {MAX_FAIL_CALLS}.",
                         field)  # fmt: skip
    out = []
    for i, entry in enumerate(value):
        at = f"{field}[{i}]"
        if not isinstance(entry, list) or len(entry) != 3:
            raise AdminError(400, f"Invalid value for field '{at}': {_shown(entry)}. Must be [METHOD, N, CODE], "
                                  'e.g. ["instanceTemplates.insert", 3, 503].', at)  # fmt: skip
        method, nth, code = entry
        if not isinstance(method, str) or not METHOD_NAME_RE.fullmatch(method):
            raise AdminError(400, f"Invalid value for field '{at}[0]': {_shown(method)}. Must be a method name "
                                  "like instanceTemplates.insert.", f"{at}[0]")  # fmt: skip
        out.append((method, integer(1, 10**9)(f"{at}[1]", nth), integer(400, 599)(f"{at}[2]", code)))
    return out


GCE_NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


def gce_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not GCE_NAME_RE.fullmatch(value):
        raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be a GCE name "
                              "([a-z][-a-z0-9]*, at most 63 characters).", field)  # fmt: skip
    return value


# ---------------------------------------------------------------------------- endpoints
Fields = dict[str, Callable[[str, Any], Any]]
Action = Callable[[ComputeState, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    action: Action
    fields: Fields | None = None  # None: no body at all (an empty object is fine too)


def _calls(st: ComputeState, _: dict[str, Any]) -> dict[str, Any]:
    with st.lock:
        return st.calls.as_dict()


def _reset(st: ComputeState, _: dict[str, Any]) -> dict[str, Any]:
    with st.lock:
        st.calls.reset()
    return {}


def _quota(st: ComputeState, _: dict[str, Any]) -> dict[str, Any]:
    return st.quota_report()


def _metadata_servers(st: ComputeState, _: dict[str, Any]) -> dict[str, Any]:
    with st.lock:
        return {link.rsplit("/", 1)[-1]: srv.url for link, srv in st.metadata_servers.items()}


def _faults(st: ComputeState, _: dict[str, Any] | None = None) -> dict[str, Any]:
    f = st.faults
    return {"latencyMs": f.latency_ms, "failRate": f.fail_rate, "operationMs": f.operation_ms,
            "failCalls": [list(c) for c in f.fail_calls]}  # fmt: skip


def _set_faults(st: ComputeState, values: dict[str, Any]) -> dict[str, Any]:
    with st.lock:
        f = st.faults
        f.latency_ms = values.get("latencyMs", f.latency_ms)
        f.fail_rate = values.get("failRate", f.fail_rate)
        f.operation_ms = values.get("operationMs", f.operation_ms)
        if "failCalls" in values:
            f.fail_calls = values["failCalls"]
            st.calls.counts.clear()  # a failCall's Nth counts from here
        return _faults(st)


def _boot(st: ComputeState, _: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"outcome": st.boot.outcome, "seconds": st.boot.boot_seconds}


def _set_boot(st: ComputeState, values: dict[str, Any]) -> dict[str, Any]:
    with st.lock:
        st.boot.outcome = values.get("outcome", st.boot.outcome)
        st.boot.boot_seconds = values.get("seconds", st.boot.boot_seconds)
        return _boot(st)


def gpu_models(field: str, value: Any) -> list[str]:
    from kubegce.spec.gce_accelerators import ALL_MODELS

    if not isinstance(value, list) or len(value) > len(ALL_MODELS):
        raise AdminError(400, f"Invalid value for field '{field}': must be a list of GPU models.", field)
    for i, m in enumerate(value):
        if m not in ALL_MODELS:
            raise AdminError(400, f"Invalid value for field '{field}[{i}]': {_shown(m)}. Must be one of "
                                  f"{', '.join(sorted(ALL_MODELS))}.", f"{field}[{i}]")  # fmt: skip
    return sorted(set(value))


def _accelerators(st: ComputeState, _: dict[str, Any] | None = None) -> dict[str, Any]:
    with st.lock:
        return {z: list(m) for z, m in sorted(st.accelerators.items())}


def _set_accelerators(st: ComputeState, values: dict[str, Any]) -> dict[str, Any]:
    from kubegce.spec.gce_zones import ZONES

    if "zone" not in values or "offered" not in values:
        missing = "zone" if "zone" not in values else "offered"
        raise AdminError(400, f"Required field '{missing}' not specified.", missing, "required")
    if values["zone"] not in ZONES:
        raise AdminError(400, f"Invalid value for field 'zone': {_shown(values['zone'])}. Unknown zone.", "zone")
    with st.lock:
        st.accelerators[values["zone"]] = values["offered"]
    return _accelerators(st)


def gpu_cause(field: str, value: Any) -> str:
    if not isinstance(value, str) or (value and value not in protocol.GPU_CAUSES):
        raise AdminError(400, f"Invalid value for field '{field}': {_shown(value)}. Must be one of "
                              f"{', '.join(protocol.GPU_CAUSES)}, or \"\" to clear it.", field)  # fmt: skip
    return value


def _gpu_failures(st: ComputeState, _: dict[str, Any] | None = None) -> dict[str, Any]:
    with st.lock:
        return dict(sorted(st.boot.gpu_failures.items()))


def _set_gpu_failure(st: ComputeState, values: dict[str, Any]) -> dict[str, Any]:
    if "group" not in values or "cause" not in values:
        missing = "group" if "group" not in values else "cause"
        raise AdminError(400, f"Required field '{missing}' not specified.", missing, "required")
    with st.lock:
        if values["cause"]:
            st.boot.gpu_failures[values["group"]] = values["cause"]
        else:
            st.boot.gpu_failures.pop(values["group"], None)
    return _gpu_failures(st)


def _preempt(st: ComputeState, values: dict[str, Any]) -> dict[str, Any]:
    from kubegce.emulator.spot import PreemptError, preempt

    if "zone" not in values or "instance" not in values:
        missing = "zone" if "zone" not in values else "instance"
        raise AdminError(400, f"Required field '{missing}' not specified.", missing, "required")
    try:
        return preempt(st, values["zone"], values["instance"], values.get("downSeconds", 0.0))
    except PreemptError as err:
        raise AdminError(err.code, err.message, err.field, "notFound" if err.code == 404 else "invalid") from None


def _autoscale(st: ComputeState, values: dict[str, Any]) -> dict[str, Any]:
    from kubegce.emulator.autoscaler import AutoscaleError, autoscale

    for name in ("zone", "instanceGroupManager", "size", "min", "max"):
        if name not in values:
            raise AdminError(400, f"Required field '{name}' not specified.", name, "required")
    try:
        return autoscale(st, values["zone"], values["instanceGroupManager"], values["size"], values["min"],
                         values["max"])  # fmt: skip
    except AutoscaleError as err:
        raise AdminError(err.code, err.message, err.field, "notFound" if err.code == 404 else "invalid") from None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/_emulator/calls", _calls),
    Endpoint("POST", "/_emulator/calls/reset", _reset),
    Endpoint("GET", "/_emulator/quota", _quota),
    Endpoint("GET", "/_emulator/metadata-servers", _metadata_servers),
    Endpoint("GET", "/_emulator/faults", _faults),
    Endpoint("POST", "/_emulator/faults", _set_faults, {
        "latencyMs": number(0, 60_000), "failRate": number(0, 1), "operationMs": number(0, 3_600_000),
        "failCalls": fail_calls,
    }),
    Endpoint("GET", "/_emulator/boot", _boot),
    Endpoint("POST", "/_emulator/boot", _set_boot, {"outcome": outcome, "seconds": number(0, 3600)}),
    Endpoint("GET", "/_emulator/accelerators", _accelerators),
    Endpoint("POST", "/_emulator/accelerators", _set_accelerators, {"zone": gce_name, "offered": gpu_models}),
    Endpoint("GET", "/_emulator/gpu-failure", _gpu_failures),
    Endpoint("POST", "/_emulator/gpu-failure", _set_gpu_failure, {"group": gce_name, "cause": gpu_cause}),
    Endpoint("POST", "/_emulator/preempt", _preempt,
             {"zone": gce_name, "instance": gce_name, "downSeconds": number(0, 3600)}),
    Endpoint("POST", "/_emulator/autoscale", _autoscale,
             {"zone": gce_name, "instanceGroupManager": gce_name, "size": integer(0, 1000), "min": integer(0, 1000),
              "max": integer(0, 1000)}),
)  # fmt: skip


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise AdminError(400, f"Invalid JSON payload received. Duplicate field '{key}'.", key)
        out[key] = value
    return out


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object ({} for none); AdminError for anything else."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except AdminError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not JSON"
        raise AdminError(400, f"Invalid JSON payload received: the body is {reason}; send a JSON object.", "?",
                         "parseError") from None  # fmt: skip
    if not isinstance(data, dict):
        raise AdminError(400, f"Invalid JSON payload received: a {type(data).__name__}; send a JSON object.", "?",
                         "parseError")  # fmt: skip
    return data


def handle(st: ComputeState, method: str, raw_path: str, raw_body: bytes) -> tuple[int, dict[str, Any]]:
    """One admin request -> (status, JSON). Checks everything before it changes anything."""
    path, _, query = raw_path.partition("?")
    try:
        matching = [e for e in ENDPOINTS if e.path == path]
        if not matching:
            known = ", ".join(sorted({e.path for e in ENDPOINTS}))
            raise AdminError(404, f"unknown admin path {_shown(path)}; known: {known}", reason="notFound")
        endpoint = next((e for e in matching if e.method == method), None)
        if endpoint is None:
            allowed = ", ".join(e.method for e in matching)
            raise AdminError(405, f"{method} is not allowed on {path}; use {allowed}", reason="methodNotAllowed")
        if query:
            name = query.split("=", 1)[0].split("&", 1)[0]
            raise AdminError(400, f"Invalid parameter {_shown(name)}: {path} takes no query parameters.", name)
        body = parse_body(raw_body)
        fields = endpoint.fields or {}
        unknown = sorted(k for k in body if k not in fields)
        if unknown:
            known_fields = ", ".join(fields) if fields else "none (send no body)"
            raise AdminError(400, f"Invalid JSON payload received. Unknown name {_shown(unknown[0])}: "
                                  f"{path} takes {known_fields}.", unknown[0])  # fmt: skip
        values = {k: fields[k](k, v) for k, v in body.items()}
        return 200, endpoint.action(st, values)  # an action checks its own state before it changes it
    except AdminError as err:
        return err.code, err.body()
