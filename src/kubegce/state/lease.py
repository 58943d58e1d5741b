"""One lease per cluster in the state store: applies (`update cluster --yes`) and rolls
(`rolling-update cluster --yes`) of a cluster run one at a time.

The lease is an object (``CLUSTER/lease.json``) written with the store's conditional writes, so
two runs that race for it cannot both win: the one whose write lands holds it; the other is told
who holds it, since when, and until when (:class:`LeaseHeld`, exit 3). The holder renews it every
third of its lifetime from a background thread; a run that is killed stops renewing, and its lease
is free once it has expired (default five minutes), or at once with ``--break-lease``. A run whose
renewal finds the lease taken (broken by another run) stops at its next step.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from kubegce.errors import ConflictError
from kubegce.state.base import StateStore
from kubegce.state.layout import lease_key

DEFAULT_TTL_S = 300.0


class LeaseHeld(ConflictError):
    """Another run holds the cluster's lease."""


class LeaseLost(ConflictError):
    """This run's lease was broken by another run while it worked."""


@dataclass(frozen=True)
class Lease:
    holder: str
    operation: str
    acquired: float
    expires: float
    generation: int = 0

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires

    def describe(self) -> str:
        left = max(0, int(self.expires - time.time()))
        return f"{self.operation} by {self.holder} since {_stamp(self.acquired)} (expires in {left}s)"


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def holder_id() -> str:
    """Who this run is, as a person reads it: user@host pid N."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def read_lease(store: StateStore, cluster: str) -> Lease | None:
    """The cluster's lease, or None; a damaged object counts as expired (it can be taken)."""
    current = store.read(lease_key(cluster))
    if current is None:
        return None
    try:
        raw = json.loads(current.data)
        return Lease(str(raw["holder"])[:200], str(raw["operation"])[:40], float(raw["acquired"]),
                     float(raw["expires"]), current.generation)  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return Lease("(unreadable lease object)", "unknown", 0.0, 0.0, current.generation)


def _body(holder: str, operation: str, acquired: float, expires: float) -> bytes:
    return json.dumps({"holder": holder, "operation": operation, "acquired": acquired, "expires": expires}).encode()


def acquire(store: StateStore, cluster: str, operation: str, *, ttl_s: float = DEFAULT_TTL_S,
            break_lease: bool = False, holder: str | None = None) -> Lease:  # fmt: skip
    """Take the lease, or raise :class:`LeaseHeld` naming who holds it."""
    me = holder or holder_id()
    now = time.time()
    current = read_lease(store, cluster)
    if current is not None and not current.expired and not break_lease:
        raise LeaseHeld(
            f"cluster {cluster}: {current.describe()} holds its lease; wait for that run to finish, or, if it "
            "was killed, until the lease expires, or pass --break-lease"
        )
    try:
        generation = store.write(lease_key(cluster), _body(me, operation, now, now + ttl_s),
                                 if_generation=current.generation if current is not None else 0)  # fmt: skip
    except ConflictError:
        taken = read_lease(store, cluster)
        who = taken.describe() if taken is not None else "another run"
        raise LeaseHeld(f"cluster {cluster}: {who} took its lease just now; wait for that run to finish") from None
    return Lease(me, operation, now, now + ttl_s, generation)


def release(store: StateStore, cluster: str, lease: Lease) -> None:
    """Give the lease back (only if it is still ours: a broken lease is the new holder's)."""
    with suppress(ConflictError):
        store.delete(lease_key(cluster), if_generation=lease.generation)


class _Renewer:
    def __init__(self, store: StateStore, cluster: str, lease: Lease, ttl_s: float) -> None:
        self.store, self.cluster, self.lease, self.ttl_s = store, cluster, lease, ttl_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{cluster}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            expires = time.time() + self.ttl_s
            try:
                generation = self.store.write(
                    lease_key(self.cluster),
                    _body(self.lease.holder, self.lease.operation, self.lease.acquired, expires),
                    if_generation=self.lease.generation,
                )
            except ConflictError:
                self.lost = True
                return
            except Exception:  # a store hiccup: try again at the next tick, the lease has time left
                continue
            self.lease = Lease(self.lease.holder, self.lease.operation, self.lease.acquired, expires, generation)

    def start(self) -> _Renewer:
        self._thread.start()
        return self

    def stop(self) -> Lease:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.lease


@contextmanager
def cluster_lease(store: StateStore, cluster: str, operation: str, *, ttl_s: float = DEFAULT_TTL_S,
                  break_lease: bool = False, log: Callable[[str], None] | None = None,
                  ) -> Iterator[Callable[[], None]]:  # fmt: skip
    """Hold the cluster's lease for the ``with`` block; yields a check to call between steps
    (it raises :class:`LeaseLost` once another run has broken the lease)."""
    previous = read_lease(store, cluster) if break_lease else None
    lease = acquire(store, cluster, operation, ttl_s=ttl_s, break_lease=break_lease)
    if previous is not None and log is not None:
        log(f"broke the lease of {previous.describe()}")
    renewer = _Renewer(store, cluster, lease, ttl_s).start()

    def check() -> None:
        if renewer.lost:
            raise LeaseLost(f"cluster {cluster}: another run broke this run's lease; stopped (re-run to converge)")

    try:
        yield check
    finally:
        release(store, cluster, renewer.stop())
