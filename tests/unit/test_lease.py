"""Issue 25 item 4: applies and rolls of one cluster are serialized through a lease in the state
store (file:// here; the same conditional writes as gs://, see tests/integration/test_state_store.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kubegce.errors import ConflictError
from kubegce.state import lease as leases
from kubegce.state.layout import lease_key
from kubegce.state.store import open_store

CLUSTER = "demo.example.com"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    return open_store(f"file://{tmp_path}/state")


def test_a_second_run_is_refused_naming_the_holder(store) -> None:  # type: ignore[no-untyped-def]
    held = leases.acquire(store, CLUSTER, "rolling-update", holder="alice@laptop pid 7")
    with pytest.raises(leases.LeaseHeld) as exc:
        leases.acquire(store, CLUSTER, "update")
    message = str(exc.value)
    assert "rolling-update by alice@laptop pid 7" in message and "--break-lease" in message
    assert isinstance(exc.value, ConflictError) and exc.value.exit_code == 3
    leases.release(store, CLUSTER, held)
    assert store.read(lease_key(CLUSTER)) is None
    leases.release(store, CLUSTER, leases.acquire(store, CLUSTER, "update"))  # free again


def test_an_expired_lease_of_a_killed_run_is_taken_and_break_lease_takes_a_live_one(store) -> None:  # type: ignore[no-untyped-def]
    leases.acquire(store, CLUSTER, "update", ttl_s=0.05, holder="killed")  # never released: the run died
    time.sleep(0.1)
    mine = leases.acquire(store, CLUSTER, "rolling-update")
    assert leases.read_lease(store, CLUSTER) == mine
    other = leases.acquire(store, CLUSTER, "update", break_lease=True, holder="operator")
    assert leases.read_lease(store, CLUSTER).holder == "operator"  # type: ignore[union-attr]
    leases.release(store, CLUSTER, mine)  # the broken holder's release leaves the new lease alone
    assert leases.read_lease(store, CLUSTER) == other


def test_the_holder_renews_and_a_broken_lease_stops_it(store) -> None:  # type: ignore[no-untyped-def]
    with leases.cluster_lease(store, CLUSTER, "rolling-update", ttl_s=0.3) as check:
        time.sleep(0.7)  # longer than the lease lives: renewed meanwhile
        current = leases.read_lease(store, CLUSTER)
        assert current is not None and not current.expired
        check()
        leases.acquire(store, CLUSTER, "update", break_lease=True, holder="operator")
        time.sleep(0.3)
        with pytest.raises(leases.LeaseLost):
            check()
    assert leases.read_lease(store, CLUSTER).holder == "operator"  # type: ignore[union-attr]


def test_of_racing_runs_exactly_one_wins(store) -> None:  # type: ignore[no-untyped-def]
    for round_ in range(5):
        wins: list[str] = []
        barrier = threading.Barrier(6)

        def race(i: int, barrier: threading.Barrier = barrier, wins: list[str] = wins) -> None:
            barrier.wait()
            try:
                leases.acquire(store, CLUSTER, "update", holder=f"run {i}")
                wins.append(f"run {i}")
            except leases.LeaseHeld:
                pass

        threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, (round_, wins)
        current = leases.read_lease(store, CLUSTER)
        assert current is not None and current.holder == wins[0]
        leases.release(store, CLUSTER, current)


def test_a_damaged_lease_object_can_be_taken(store) -> None:  # type: ignore[no-untyped-def]
    store.write(lease_key(CLUSTER), b"{not json", if_generation=0)
    assert leases.read_lease(store, CLUSTER).expired  # type: ignore[union-attr]
    leases.acquire(store, CLUSTER, "update")
