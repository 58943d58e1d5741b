"""Request handling independent of the HTTP server: (method, path, query, body) -> (status, json).

Routes a path to its collection's handler (`handlers.HANDLERS`) and does what every collection
shares: call counting and fault injection, list pages and aggregated lists, insert, delete, patch
and operations."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubegce.emulator import discovery
from kubegce.emulator.compute import places
from kubegce.emulator.compute.errors import ApiError, injected_fault, not_found, rate_limited
from kubegce.emulator.compute.handlers import HANDLERS, ROUTES, Handler
from kubegce.emulator.compute.migs import MigReconciler
from kubegce.emulator.compute.state import BASE, ComputeState, fingerprint
from kubegce.emulator.filters import FilterError, compile_filter

NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
MUTATING_VERBS = {"POST", "DELETE", "PATCH", "PUT"}


def paging(query: dict[str, str]) -> tuple[int, int]:
    """pageToken and maxResults of a list call; a malformed one is a 400, as GCE answers."""
    token, size = query.get("pageToken") or "0", query.get("maxResults") or "500"
    if not token.isdigit() or len(token) > 12:
        raise ApiError(400, "invalid", f"Invalid value for pageToken: {token[:40]!r}")
    if not size.isdigit() or len(size) > 12:
        raise ApiError(
            400, "invalid", f"Invalid value for field 'maxResults': {size[:40]!r}. Must be a non-negative integer."
        )
    return int(token), min(int(size), 500)


PLACES = ("machineTypes", "acceleratorTypes")  # read-only zone data served from places.py


class ComputeApi:
    def __init__(self, state: ComputeState) -> None:
        self.state = state

    # ------------------------------------------------------------------ entry
    def handle(self, method: str, raw_path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        st = self.state
        m = re.fullmatch(r"/compute/v1/projects/([^/\s]+)/(.*)", path)
        if not m:
            if st.faults.latency_ms > 0:
                time.sleep(st.faults.latency_ms / 1000.0)
            return 404, ApiError(404, "notFound", f"unknown path {path}").body()
        project, rest = m.group(1), m.group(2)
        method_name = self._method_name(method, rest)
        mutating = method in MUTATING_VERBS and not method_name.endswith((".wait", ".listManagedInstances"))
        quota = st.write_quota if mutating else st.read_quota
        admitted = quota.admit() if quota is not None else True
        try:
            if st.faults.latency_ms > 0:
                time.sleep(st.faults.latency_ms / 1000.0)
            if not admitted:
                with st.lock:
                    st.calls.record(method_name, mutating=mutating)
                    st.calls.throttled += 1
                return 403, rate_limited(mutating).body()
            return self._handle(method, path, project, rest, method_name, mutating, query, body)
        finally:
            if quota is not None:
                quota.done() if admitted else quota.refusal_sent()

    def _handle(self, method: str, path: str, project: str, rest: str, method_name: str, mutating: bool,
                query: dict[str, str], body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:  # fmt: skip
        st = self.state
        with st.lock:
            n = st.calls.record(method_name, mutating=mutating)
            injected = self._injected_failure(method_name, n)
            if injected is not None:
                st.calls.failures_injected += 1
        if injected is not None:
            return injected.code, injected.body()
        described = discovery.find_method(method, path) if st.faults.strict else None
        try:
            if described is not None:
                check_shape(described, query, body)
            if method_name.endswith(".wait"):
                answer = self._wait(project, rest)  # without holding the lock
            else:
                with st.lock:
                    if st.repairs:
                        MigReconciler(st).repair_due()  # preempted Spot VMs whose capacity is back
                    answer = self._dispatch(method, project, rest, query, body or {})
        except ApiError as err:
            return err.code, err.body()
        if described is not None and described.response:
            answer = discovery.prune(described.response, answer)
        return 200, answer

    def _method_name(self, method: str, rest: str) -> str:
        segs = rest.split("/")
        if segs[0] == "aggregated":
            return f"{segs[1]}.aggregatedList"
        if segs[0] == "zones" and method == "GET" and (len(segs) <= 2 or segs[2] in PLACES):
            if len(segs) > 2:
                return f"{segs[2]}.{'get' if len(segs) > 3 else 'list'}"
            return "zones.get" if len(segs) == 2 else "zones.list"
        segs = segs[1:] if segs[0] == "global" else segs[2:]
        if not segs:
            return "unknown"
        collection = segs[0]
        if collection == "operations" and len(segs) == 1 and method == "GET":
            return f"{'zone' if rest.startswith('zones/') else 'region' if rest.startswith('regions/') else 'global'}Operations.list"
        if len(segs) == 1:
            return f"{collection}.{'list' if method == 'GET' else 'insert'}"
        if collection == "images" and segs[1] == "family":
            return "images.getFromFamily"
        if len(segs) == 2:
            return f"{collection}.{ {'GET': 'get', 'DELETE': 'delete', 'PATCH': 'patch', 'PUT': 'update'}.get(method, method) }"
        return f"{collection}.{segs[2]}"

    def _injected_failure(self, method_name: str, n: int) -> ApiError | None:
        f = self.state.faults
        for name, nth, code in f.fail_calls:
            if name == method_name and nth == n:
                return injected_fault(code)
        if f.fail_rate > 0 and not method_name.startswith("operations") and self.state.rng.random() < f.fail_rate:
            return injected_fault(self.state.rng.choice([429, 503]))
        return None

    # ------------------------------------------------------------------ dispatch
    def _wait(self, project: str, rest: str) -> dict[str, Any]:
        segs = rest.split("/")
        scope_path = "global" if segs[0] == "global" else f"{segs[0]}/{segs[1]}"
        return self.state.wait_operation(project, scope_path, segs[-2])

    def _dispatch(
        self, method: str, project: str, rest: str, query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        segs = rest.split("/")
        if segs[0] == "aggregated":
            return self._aggregated(project, segs[1], query)
        if segs[0] == "zones" and method == "GET" and (len(segs) <= 2 or segs[2] in PLACES):
            return self._places(project, segs, query)
        if segs[0] == "global":
            scope_path, segs = "global", segs[1:]
        elif segs[0] in ("regions", "zones") and len(segs) >= 3:
            scope_path, segs = f"{segs[0]}/{segs[1]}", segs[2:]
        else:
            raise ApiError(404, "notFound", f"unknown path {rest}")
        collection = segs[0]
        if collection == "operations":
            if len(segs) == 2 and method == "GET":
                op = self.state.operations.get((project, scope_path, segs[1]))
                if op is None:
                    raise not_found(f"projects/{project}/{scope_path}/operations/{segs[1]}")
                return self.state.view_operation(op)
            if len(segs) == 1 and method == "GET":  # zoneOperations.list (GCE's and the system's, e.g. preemptions)
                ops = [self.state.view_operation(o) for (p, sp, _), o in sorted(self.state.operations.items())
                       if p == project and sp == scope_path]  # fmt: skip
                return self._page(ops, query, kind="compute#operationList",
                                  link=f"{BASE}projects/{project}/{scope_path}/operations")  # fmt: skip
            raise ApiError(400, "invalid", "unsupported operations call")
        handler = ROUTES.get((collection, scope_path.split("/")[0]))
        if handler is None and not any(path == collection for path, _ in ROUTES):
            raise ApiError(404, "notFound", f"collection {collection} is not emulated")
        if handler is None:
            raise ApiError(404, "notFound", f"{collection} are not {scope_path.split('/')[0]} resources")
        if len(segs) == 1:
            if method == "GET":
                return self._list(handler, project, scope_path, query)
            if method == "POST":
                return self._insert(handler, project, scope_path, body)
        elif len(segs) == 2:
            name = segs[1]
            if method == "GET":
                return handler.get(self.state, project, scope_path, name)
            if method == "DELETE":
                return self._delete(handler, project, scope_path, name)
            if method == "PATCH":
                return self._patch(handler, project, scope_path, name, body)
        elif len(segs) == 3:
            return handler.verb(self.state, method, project, scope_path, segs[1], segs[2], body, query)
        raise ApiError(400, "invalid", f"unsupported call {method} {rest}")

    def _places(self, project: str, segs: list[str], query: dict[str, str]) -> dict[str, Any]:
        """zones.list, zones.get and machineTypes.get: read-only data (see places.py)."""
        if len(segs) == 1:
            items = [places.zone_view(project, z) for z in places.zone_names()]
            return self._page(items, query, kind="compute#zoneList", link=f"{BASE}projects/{project}/zones")
        if len(segs) == 2:
            return places.get_zone(project, segs[1])
        if len(segs) == 4 and segs[2] == "machineTypes":
            return places.get_machine_type(project, segs[1], segs[3], self.state.accelerators)
        if len(segs) == 4:
            return places.get_accelerator_type(project, segs[1], segs[3], self.state.accelerators)
        if len(segs) == 3 and segs[2] == "acceleratorTypes":
            places.get_zone(project, segs[1])
            items = [places.accelerator_view(project, segs[1], n)
                     for n in places.offered_accelerators(segs[1], self.state.accelerators)]  # fmt: skip
            return self._page(items, query, kind="compute#acceleratorTypeList",
                              link=f"{BASE}projects/{project}/zones/{segs[1]}/acceleratorTypes")  # fmt: skip
        raise ApiError(400, "invalid", f"unsupported call GET zones/{'/'.join(segs[1:])}")

    # ------------------------------------------------------------------ lists
    def _list(self, handler: Handler, project: str, scope_path: str, query: dict[str, str]) -> dict[str, Any]:
        items = [
            handler.view(self.state, project, scope_path, r)
            for (p, s, c, _), r in sorted(self.state.resources.items())
            if p == project and s == scope_path and c == handler.path
        ]
        return self._page(items, query, kind=handler.kind + "List",
                          link=f"{BASE}projects/{project}/{scope_path}/{handler.path}")  # fmt: skip

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], *, kind: str, link: str) -> dict[str, Any]:
        try:
            match = compile_filter(query.get("filter"))
        except FilterError as exc:
            raise ApiError(400, "invalid", str(exc)) from None
        items = [i for i in items if match(i)]
        start, max_results = paging(query)
        page = items[start : start + max_results]
        out: dict[str, Any] = {"kind": kind, "id": link, "items": page, "selfLink": link}
        if start + max_results < len(items):
            out["nextPageToken"] = str(start + max_results)
        return out

    def _aggregated(self, project: str, collection: str, query: dict[str, str]) -> dict[str, Any]:
        handler = HANDLERS.get(collection)
        if handler is None or (
            handler.scope == "global" and not discovery.has_method(f"compute.{collection}.aggregatedList")
        ):
            raise ApiError(400, "invalid", f"no aggregated list for {collection}")
        # zonal and regional variants of a collection (instanceGroupManagers) share one aggregated list
        try:
            match = compile_filter(query.get("filter"))
        except FilterError as exc:
            raise ApiError(400, "invalid", str(exc)) from None
        grouped: dict[str, list[dict[str, Any]]] = {}
        for (p, s, c, _), r in sorted(self.state.resources.items()):
            scoped = ROUTES.get((c, s.split("/")[0]))
            if p == project and c == collection and scoped is not None:
                view = scoped.view(self.state, project, s, r)
                if match(view):
                    grouped.setdefault(s, []).append(view)
        # pages run over scopes; a page holds whole scopes up to maxResults items
        scopes = sorted(grouped)
        start, max_results = paging(query)
        items: dict[str, Any] = {}
        count = 0
        i = start
        while i < len(scopes) and (count == 0 or count + len(grouped[scopes[i]]) <= max_results):
            items[scopes[i]] = {collection: grouped[scopes[i]]}
            count += len(grouped[scopes[i]])
            i += 1
        link = f"{BASE}projects/{project}/aggregated/{collection}"
        out: dict[str, Any] = {"kind": handler.kind + "AggregatedList", "id": link, "items": items,
                               "selfLink": link}  # fmt: skip
        if i < len(scopes):
            out["nextPageToken"] = str(i)
        return out

    # ------------------------------------------------------------------ insert / delete / patch
    def _insert(self, handler: Handler, project: str, scope_path: str, body: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        name = body.get("name", "")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise ApiError(400, "invalid", f"Invalid value for field 'resource.name': '{name}'. Must be a match of "
                                            "regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
        key = (project, scope_path, handler.path, name)
        if key in st.resources:
            raise ApiError(
                409,
                "alreadyExists",
                f"The resource 'projects/{project}/{scope_path}/{handler.path}/{name}' already exists",
            )
        res = json.loads(json.dumps(body))
        handler.validate(st, project, scope_path, res)
        st.stamp(project, scope_path, handler.path, res, kind=handler.kind, labelled=handler.labelled)
        st.resources[key] = res
        handler.after_insert(st, project, scope_path, res)
        return st.new_operation(project, scope_path, "insert", res["selfLink"], res["id"])

    def _delete(self, handler: Handler, project: str, scope_path: str, name: str) -> dict[str, Any]:
        st = self.state
        res = st.get(project, scope_path, handler.path, name)
        handler.before_delete(st, res)
        del st.resources[(project, scope_path, handler.path, name)]
        return st.new_operation(project, scope_path, "delete", res["selfLink"], res["id"])

    def _patch(self, handler: Handler, project: str, scope_path: str, name: str, body: dict[str, Any]
               ) -> dict[str, Any]:  # fmt: skip
        res = self.state.get(project, scope_path, handler.path, name)
        if handler.patchable is None:
            raise ApiError(400, "invalid", f"{handler.collection} cannot be patched in the emulator")
        handler.check_patch(res, body)
        for k, v in body.items():
            if k in handler.patchable:
                res[k] = v
        res["fingerprint"] = fingerprint({k: v for k, v in res.items() if k != "fingerprint"})
        return self.state.new_operation(project, scope_path, "patch", res["selfLink"], res["id"])


def check_shape(method: discovery.Method, query: dict[str, str], body: dict[str, Any] | None) -> None:
    """Answer 400 as GCE does for a body field or query parameter the discovery document does not know."""
    problems = discovery.check_query(method, query)
    if method.request and body is not None:
        problems += discovery.check_body(method.request, body)
    if problems:
        first = problems[0]
        raise ApiError(400, "invalid", f"Invalid JSON payload received ({method.id}): {first}"
                       + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))  # fmt: skip
