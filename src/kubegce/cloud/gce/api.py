"""Compute API calls for any registered kind: retries, waiting on operations, create/get/update/delete."""

from __future__ import annotations

import functools
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubegce.cloud.executor import retry
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.kinds import kind
from kubegce.cloud.kinds.base import UpdateRequest
from kubegce.cloud.pace import AdaptiveLimiter
from kubegce.cloud.planner import Change
from kubegce.cloud.resources import ResourceKey


class OperationError(Exception):
    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class CollisionError(Exception):
    pass


@dataclass(frozen=True)
class OpState:
    """What a wait needs of an operation, from either form the API client gives."""

    name: str
    scope: str  # "global", "regions/R" or "zones/Z"
    status: str  # PENDING, RUNNING, DONE
    errors: tuple[tuple[str, str], ...]  # (code, message)
    http_status: int


def op_state(op: Any) -> OpState:
    if isinstance(op, dict):
        zone, region = op.get("zone", ""), op.get("region", "")
        status, name = str(op.get("status", "")), str(op.get("name", ""))
        errors = tuple((str(e.get("code", "")), str(e.get("message", "")))
                       for e in (op.get("error") or {}).get("errors", []))  # fmt: skip
        http = int(op.get("httpErrorStatusCode") or 0)
    else:  # google.cloud.compute_v1.Operation
        zone, region, name = op.zone, op.region, op.name
        status = op.status.name if hasattr(op.status, "name") else str(op.status)
        errors = tuple((e.code, e.message) for e in op.error.errors) if op.error else ()
        http = int(op.http_error_status_code or 0)
    scope = f"zones/{zone.rsplit('/', 1)[-1]}" if zone else f"regions/{region.rsplit('/', 1)[-1]}" if region \
        else "global"  # fmt: skip
    return OpState(name, scope, status, errors, http)


class GceApi:
    """One project's Compute API, with the retry policy and operation waits every call shares."""

    def __init__(self, clients: ComputeClients, project: str, marker: str, owner: str, *,
                 deadline_s: float = 600.0, rng: random.Random | None = None, backoff_s: float = 0.2) -> None:  # fmt: skip
        self.clients = clients
        self.project = project
        self.marker = marker  # ownership marker in the description of what we create
        self.owner = owner  # the cluster name, for messages
        self.deadline_s = deadline_s
        self.backoff_s = backoff_s
        self.rng = rng or random.Random()
        # every mutating call holds one of its slots; --parallelism N caps it (see set_cap)
        self.limiter = AdaptiveLimiter(rng=self.rng)
        from google.api_core import exceptions as gexc

        self._gexc = gexc
        self._noticed: dict[str, float] = {}
        self._notice_lock = threading.Lock()

    # ------------------------------------------------------------------ errors
    def is_retryable(self, exc: BaseException) -> bool:
        g = self._gexc
        if isinstance(exc, g.TooManyRequests | g.ServiceUnavailable | g.InternalServerError | g.BadGateway
                      | g.GatewayTimeout | g.DeadlineExceeded):  # fmt: skip
            return True
        if self.is_throttle(exc) or (isinstance(exc, g.GoogleAPICallError) and "rateLimitExceeded" in str(exc)):
            return True
        if isinstance(exc, OperationError):
            return exc.code in (429, 500, 502, 503, 504)
        import requests

        return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ConnectionError)

    def is_throttle(self, exc: BaseException) -> bool:
        """Over the project's rate quota: 403 (or 429) with reason rateLimitExceeded."""
        g = self._gexc
        if isinstance(exc, g.TooManyRequests):
            return True
        if isinstance(exc, g.Forbidden):
            reasons = {e.get("reason") for e in exc.errors if isinstance(e, dict)}
            return bool(reasons & {"rateLimitExceeded", "userRateLimitExceeded"}) or "rateLimitExceeded" in str(exc)
        return False

    def set_cap(self, cap: int | None) -> None:
        """A fresh limiter for a run: at most `cap` mutating calls in flight (None: adaptive up to 512)."""
        self.limiter = AdaptiveLimiter(initial=min(64, cap or 64), cap=cap or 512, rng=self.rng)

    def call_mutating(self, fn: Callable[[], Any]) -> Any:
        """A mutating call under the adaptive limiter. Throttling is never a failure: the limiter
        pauses every new call until the quota window has had time to refill, then this calls again
        (no deadline counts that wait); other transient errors follow the retry policy."""
        end = time.monotonic() + self.deadline_s
        until = time.time() + self.deadline_s
        attempt = 0
        while True:
            try:
                return self.limiter.call(fn, self.is_throttle)
            except BaseException as exc:
                if self.is_throttle(exc):
                    continue
                if not self.is_retryable(exc):
                    raise
                self.retry_notice(exc, until)
                attempt += 1
                delay = self.rng.uniform(0, min(10.0, self.backoff_s * (2**attempt)))
                if time.monotonic() + delay > end:
                    raise
                time.sleep(delay)

    def call(self, fn: Callable[[], Any]) -> Any:
        until = time.time() + self.deadline_s

        def retryable(exc: BaseException) -> bool:
            if not self.is_retryable(exc):
                return False
            self.retry_notice(exc, until)
            return True

        return retry(fn, is_retryable=retryable, deadline_s=self.deadline_s, rng=self.rng, base_s=self.backoff_s)

    def retry_notice(self, exc: BaseException, until: float) -> None:
        """Say on stderr what is retried and until when (at most one line per kind of error every 10 s)."""
        what = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}".rstrip(": ")
        kind_ = type(exc).__name__
        now = time.monotonic()
        with self._notice_lock:
            if now - self._noticed.get(kind_, -1e9) < 10.0:
                return
            self._noticed[kind_] = now
        stamp = time.strftime("%H:%M:%S", time.localtime(until))
        print(f"retrying after {what} (Compute API, project {self.project}); giving up at {stamp}",
              file=sys.stderr, flush=True)  # fmt: skip

    # ------------------------------------------------------------------ operations
    def wait(self, op: Any, key: ResourceKey) -> None:
        """Wait on an operation (a JSON dict from an insert, or the library's Operation from another
        call) with one ``operations.wait`` long poll at a time, as JSON; GCE answers a wait after
        about 2 minutes at most, so loop until DONE."""
        current = op_state(op)
        while current.status != "DONE":
            path = f"projects/{self.project}/{current.scope}/operations/{current.name}/wait"
            current = op_state(self.call(functools.partial(self.clients.rest, "POST", path)))
        if current.errors:
            code, message = current.errors[0]
            raise OperationError(f"{key}: {code}: {message}", current.http_status)

    def mutate(self, key: ResourceKey, call: Callable[[], Any]) -> None:
        """Start a change (under the limiter) and wait for its operation (a long poll, no slot held)."""
        self.wait(self.call_mutating(call), key)

    # ------------------------------------------------------------------ create / get / update / delete
    def create(self, key: ResourceKey, body: dict[str, Any]) -> None:
        k = kind(key.kind)
        try:
            self.mutate(key, k.api.insert(self.clients, k.where(self.project, key.location), body))
        except self._gexc.Conflict:
            # Exists: ours (an earlier try got through) converges; someone else's is a collision.
            existing = self.get(key)
            if existing is None or existing.get("description") != self.marker:
                raise CollisionError(
                    f"{key} exists and is not owned by cluster {self.owner}; rename or remove it"
                ) from None

    def get(self, key: ResourceKey) -> dict[str, Any] | None:
        k = kind(key.kind)
        try:
            found: dict[str, Any] = self.call(k.api.get(self.clients, k.where(self.project, key.location), key.name))
        except self._gexc.NotFound:
            return None
        return found  # the JSON get answers the resource as a dict

    def delete(self, key: ResourceKey) -> None:
        k = kind(key.kind)
        try:
            self.mutate(key, k.api.delete(self.clients, k.where(self.project, key.location), key.name))
        except self._gexc.NotFound:
            return

    def update(self, change: Change) -> None:
        assert change.desired is not None and change.actual is not None
        k = kind(change.key.kind)
        if k.update is None:
            raise ValueError(f"{change.key}: {k.name} is changed by replacing it, not in place")
        k.update(self, k, UpdateRequest(change.key, change.desired.body, change.actual, tuple(change.fields)))
