"""The Compute API target: find what a cluster owns, apply a plan, delete a cluster.

Find costs one list call per resource type (aggregated lists for regional and zonal types), so a
plan's read cost does not grow with the number of instance groups. Ownership is the description
marker; a resource whose name collides but is not marked is reported, never changed or deleted.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubegce.cloud.executor import Progress, Task, TaskResult, execute, retry
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.graph import KINDS, ResourceGraph, ResourceKey
from kubegce.cloud.names import cluster_slug, owner_description
from kubegce.cloud.planner import Change, Plan


@dataclass(frozen=True)
class KindApi:
    client: str  # attribute of ComputeClients
    arg: str  # name of the resource argument in get/delete calls
    message: str  # compute_v1 message type
    aggregated_field: str  # field of the scoped list in aggregated results


KIND_API: dict[str, KindApi] = {
    "network": KindApi("networks", "network", "Network", ""),
    "subnetwork": KindApi("subnetworks", "subnetwork", "Subnetwork", "subnetworks"),
    "router": KindApi("routers", "router", "Router", "routers"),
    "firewall": KindApi("firewalls", "firewall", "Firewall", ""),
    "address": KindApi("addresses", "address", "Address", "addresses"),
    "target_pool": KindApi("target_pools", "target_pool", "TargetPool", "target_pools"),
    "forwarding_rule": KindApi("forwarding_rules", "forwarding_rule", "ForwardingRule", "forwarding_rules"),
    "instance_template": KindApi("instance_templates", "instance_template", "InstanceTemplate", ""),
    "instance_group_manager": KindApi(
        "instance_group_managers", "instance_group_manager", "InstanceGroupManager", "instance_group_managers"
    ),
}
LIST_REQUESTS = {
    "network": "ListNetworksRequest",
    "firewall": "ListFirewallsRequest",
    "instance_template": "ListInstanceTemplatesRequest",
    "subnetwork": "AggregatedListSubnetworksRequest",
    "router": "AggregatedListRoutersRequest",
    "address": "AggregatedListAddressesRequest",
    "target_pool": "AggregatedListTargetPoolsRequest",
    "forwarding_rule": "AggregatedListForwardingRulesRequest",
    "instance_group_manager": "AggregatedListInstanceGroupManagersRequest",
}
# A delete of the key kind waits for the deletes of these kinds (they reference it).
DELETE_AFTER: dict[str, tuple[str, ...]] = {
    "network": ("subnetwork", "router", "firewall", "instance_template", "instance_group_manager", "forwarding_rule"),
    "subnetwork": ("router", "instance_template", "instance_group_manager"),
    "instance_template": ("instance_group_manager",),
    "address": ("forwarding_rule",),
    "target_pool": ("forwarding_rule", "instance_group_manager"),
}
PAGE_SIZE = 500


class OperationError(Exception):
    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class CollisionError(Exception):
    pass


@dataclass
class Found:
    owned: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)
    unowned: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)


def _location_of(kind: str, resource: dict[str, Any], scope: str = "") -> str:
    where = KINDS[kind]
    if where == "global":
        return "global"
    url = resource.get("region" if where == "region" else "zone") or scope
    return str(url).rstrip("/").rsplit("/", 1)[-1]


class GceTarget:
    def __init__(self, clients: ComputeClients, project: str, cluster_name: str, *,
                 deadline_s: float = 600.0, rng: random.Random | None = None, backoff_s: float = 0.2) -> None:  # fmt: skip
        self.clients = clients
        self.project = project
        self.cluster_name = cluster_name
        self.marker = owner_description(cluster_name)
        self.deadline_s = deadline_s
        self.backoff_s = backoff_s
        self.rng = rng or random.Random()
        from google.api_core import exceptions as gexc

        self._gexc = gexc

    # ------------------------------------------------------------------ errors
    def is_retryable(self, exc: BaseException) -> bool:
        g = self._gexc
        if isinstance(exc, g.TooManyRequests | g.ServiceUnavailable | g.InternalServerError | g.BadGateway
                      | g.GatewayTimeout | g.DeadlineExceeded):  # fmt: skip
            return True
        if isinstance(exc, g.GoogleAPICallError) and "rateLimitExceeded" in str(exc):
            return True
        if isinstance(exc, OperationError):
            return exc.code in (429, 500, 502, 503, 504)
        import requests

        return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError)

    def _call(self, fn: Callable[[], Any]) -> Any:
        return retry(
            fn, is_retryable=self.is_retryable, deadline_s=self.deadline_s, rng=self.rng, base_s=self.backoff_s
        )

    # ------------------------------------------------------------------ find
    def find(self) -> Found:
        slug = cluster_slug(self.cluster_name)
        name_filter = f'name eq ".*{re.escape(slug[:12])}.*"'
        found = Found()
        c = self.clients.compute
        for kind in KINDS:
            api = KIND_API[kind]
            client = getattr(self.clients, api.client)
            request = getattr(c, LIST_REQUESTS[kind])(project=self.project, filter=name_filter, max_results=PAGE_SIZE)
            message = getattr(c, api.message)
            items: list[tuple[str, Any]] = []
            if api.aggregated_field:
                pager = self._call(functools.partial(client.aggregated_list, request=request))
                for scope, scoped in pager:
                    items.extend((scope, r) for r in getattr(scoped, api.aggregated_field))
            else:
                pager = self._call(functools.partial(client.list, request=request))
                items.extend(("global", r) for r in pager)
            for scope, obj in items:
                data = json.loads(message.to_json(obj))
                key = ResourceKey(kind, _location_of(kind, data, scope), data["name"])
                (found.owned if data.get("description") == self.marker else found.unowned)[key] = data
        return found

    # ------------------------------------------------------------------ operations
    def _wait(self, op: Any, key: ResourceKey) -> None:
        """Wait on the operation with the client for its scope (wait returns after ~2 min on GCE: loop)."""
        done = self.clients.compute.Operation.Status.DONE
        while op.status != done:
            call: Callable[[], Any]
            if op.zone:
                call = functools.partial(
                    self.clients.zone_operations.wait,
                    project=self.project, zone=op.zone.rsplit("/", 1)[-1], operation=op.name,
                )  # fmt: skip
            elif op.region:
                call = functools.partial(
                    self.clients.region_operations.wait,
                    project=self.project, region=op.region.rsplit("/", 1)[-1], operation=op.name,
                )  # fmt: skip
            else:
                call = functools.partial(self.clients.global_operations.wait, project=self.project, operation=op.name)
            op = self._call(call)
        if op.error and op.error.errors:
            first = op.error.errors[0]
            raise OperationError(f"{key}: {first.code}: {first.message}", int(op.http_error_status_code or 0))

    def _location_kwargs(self, key: ResourceKey) -> dict[str, str]:
        where = KINDS[key.kind]
        if where == "region":
            return {"region": key.location}
        if where == "zone":
            return {"zone": key.location}
        return {}

    def _mutate(self, key: ResourceKey, call: Callable[[], Any]) -> None:
        op = self._call(call)
        self._wait(op, key)

    # ------------------------------------------------------------------ create / update / delete
    def create(self, key: ResourceKey, body: dict[str, Any]) -> None:
        api = KIND_API[key.kind]
        client = getattr(self.clients, api.client)
        message = getattr(self.clients.compute, api.message).from_json(json.dumps(body), ignore_unknown_fields=True)
        kwargs = {"project": self.project, **self._location_kwargs(key), f"{api.arg}_resource": message}
        try:
            self._mutate(key, lambda: client.insert_unary(**kwargs, retry=None))
        except self._gexc.Conflict:
            # Exists: ours (an earlier try got through) converges; someone else's is a collision.
            existing = self.get(key)
            if existing is None or existing.get("description") != self.marker:
                raise CollisionError(
                    f"{key} exists and is not owned by cluster {self.cluster_name}; rename or remove it"
                ) from None

    def get(self, key: ResourceKey) -> dict[str, Any] | None:
        api = KIND_API[key.kind]
        client = getattr(self.clients, api.client)
        kwargs = {"project": self.project, **self._location_kwargs(key), api.arg: key.name}
        try:
            obj = self._call(lambda: client.get(**kwargs))
        except self._gexc.NotFound:
            return None
        return dict(json.loads(getattr(self.clients.compute, api.message).to_json(obj)))

    def delete(self, key: ResourceKey) -> None:
        api = KIND_API[key.kind]
        client = getattr(self.clients, api.client)
        kwargs = {"project": self.project, **self._location_kwargs(key), api.arg: key.name}
        try:
            self._mutate(key, lambda: client.delete_unary(**kwargs, retry=None))
        except self._gexc.NotFound:
            return

    def update(self, change: Change) -> None:
        assert change.desired is not None and change.actual is not None
        key = change.key
        body = change.desired.body
        c = self.clients.compute
        loc = {"project": self.project, **self._location_kwargs(key)}
        changed = {f.path.split(".")[0].split("[")[0] for f in change.fields}
        if key.kind == "instance_group_manager":
            migs = self.clients.instance_group_managers
            name = {"instance_group_manager": key.name}
            if "instanceTemplate" in changed:
                req = c.InstanceGroupManagersSetInstanceTemplateRequest(instance_template=body["instanceTemplate"])
                self._mutate(key, lambda: migs.set_instance_template_unary(
                    **loc, **name, instance_group_managers_set_instance_template_request_resource=req, retry=None))  # fmt: skip
            if "targetPools" in changed:
                req2 = c.InstanceGroupManagersSetTargetPoolsRequest(target_pools=body.get("targetPools", []))
                self._mutate(key, lambda: migs.set_target_pools_unary(
                    **loc, **name, instance_group_managers_set_target_pools_request_resource=req2, retry=None))  # fmt: skip
            if "targetSize" in changed:
                self._mutate(key, lambda: migs.resize_unary(**loc, **name, size=int(body["targetSize"]), retry=None))
            return
        api = KIND_API[key.kind]
        client = getattr(self.clients, api.client)
        patch = {k: body[k] for k in changed if k in body}
        if key.kind == "subnetwork":
            patch["fingerprint"] = change.actual.get("fingerprint", "")
        message = getattr(c, api.message).from_json(json.dumps(patch), ignore_unknown_fields=True)
        kwargs = {**loc, api.arg: key.name, f"{api.arg}_resource": message}
        self._mutate(key, lambda: client.patch_unary(**kwargs, retry=None))

    # ------------------------------------------------------------------ plans
    def tasks_for(self, plan: Plan, desired: ResourceGraph) -> list[Task]:
        tasks: list[Task] = []
        changing = {c.key for c in plan.changes if c.action != "delete"}
        for change in plan.changes:
            if change.action == "delete":
                continue
            assert change.desired is not None
            deps: set[Any] = {("apply", d) for d in change.desired.depends_on if d in changing}
            tasks.append(Task(("apply", change.key), _label(change), self._apply_fn(change), deps))
        deletes = [c for c in plan.changes if c.action == "delete"]
        applies = {t.key for t in tasks}
        for change in deletes:
            after = DELETE_AFTER.get(change.key.kind, ())
            deps = {("delete", d.key) for d in deletes if d.key.kind in after} | applies
            tasks.append(Task(("delete", change.key), _label(change), functools.partial(self.delete, change.key), deps))
        return tasks

    def _apply_fn(self, change: Change) -> Callable[[], None]:
        assert change.desired is not None
        body = change.desired.body
        if change.action == "create":
            return lambda: self.create(change.key, body)
        if change.action == "update":
            return lambda: self.update(change)

        def replace() -> None:
            self.delete(change.key)
            self.create(change.key, body)

        return replace

    def apply(self, plan: Plan, desired: ResourceGraph, parallelism: int, progress: Progress | None = None
              ) -> list[TaskResult]:  # fmt: skip
        return execute(self.tasks_for(plan, desired), parallelism, progress)


def _label(change: Change) -> str:
    verb = {"create": "create", "update": "update", "delete": "delete", "replace": "replace"}[change.action]
    return f"{verb} {change.key}"
