"""`delete cluster NAME --yes` SIGKILLed at several points, as a real process, then rerun: it
converges (no cloud resource left, the state gone), the cluster object is the last state object
to go, and a `create` of the same name gets a NEW CA.

Kill points are exact, not timed:

* in the cloud phase, the emulator (in this process) kills the CLI when its Nth DELETE request
  arrives, before handling it (the call never happened) or after (done, but the CLI never heard);
* in the state phase, the CLI runs with a two-line shim that prints a marker after each store
  delete and pauses 0.2 s; the test kills it after the Nth marker (between two store deletes).

After every kill: whatever is left of the cluster in the store includes its cluster object, so
`delete` still finds it. (tests/unit/test_hardening_state.py simulates the same kill inside the
store; this runs the real CLI.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubegce.emulator.compute import ComputeApi, FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import cluster_key, cluster_prefix
from kubegce.state.store import open_store

pytestmark = pytest.mark.integration
NAME = "kill.example.com"
MARKER = "kubegce-test: store delete done "

# The real CLI, with the store's delete followed by a marker line and a pause (the kill window).
SHIM = f"""
import runpy, sys, time
from kubegce.state import gcs, store

def wrap(cls):
    inner = cls.delete
    def delete(self, key, *, if_generation=None):
        inner(self, key, if_generation=if_generation)
        print({MARKER!r} + key, file=sys.stderr, flush=True)
        time.sleep(0.2)
    cls.delete = delete

wrap(store.FileStateStore)
wrap(gcs.GcsStateStore)
sys.argv[0] = "kubegce"
runpy.run_module("kubegce", run_name="__main__")
"""


class KillingApi(ComputeApi):
    """The emulator's API, killing ``proc`` when the ``at``-th DELETE request of this run arrives."""

    def __init__(self, inner: ComputeApi) -> None:
        super().__init__(inner.state)
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.at, self.after, self.deletes = 0, False, 0

    def arm(self, proc: subprocess.Popen[str] | None, at: int = 0, *, after: bool = False) -> None:
        with self.lock:
            self.proc, self.at, self.after, self.deletes = proc, at, after, 0

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def handle(self, method: str, raw_path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        kill = False
        if method == "DELETE":
            with self.lock:
                self.deletes += 1
                kill = self.at > 0 and self.deletes == self.at
        if kill and not self.after:
            self._kill()  # before the call is handled: it never happened
            return 503, {"error": {"code": 503, "message": "the caller was killed"}}
        answer = super().handle(method, raw_path, body)
        if kill:
            self._kill()  # the call is done; the CLI never hears of it
        return answer


@pytest.fixture
def emu() -> Iterator[tuple[RunningEmulator, KillingApi]]:
    with RunningEmulator(0, FaultConfig(operation_ms=30), boot_seconds=0.3) as e:
        api = KillingApi(e.server.api)
        e.server.api = api
        yield e, api


def env(endpoint: str) -> dict[str, str]:
    return {**os.environ, "KUBEGCE_COMPUTE_ENDPOINT": endpoint}


def kubegce(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True,
                          env=env(endpoint), timeout=180)  # fmt: skip


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def start_delete(endpoint: str) -> tuple[subprocess.Popen[str], list[str], threading.Event, list[int]]:
    """A `delete cluster NAME --yes` through the shim; its stderr lines, collected as they come."""
    proc = subprocess.Popen([sys.executable, "-c", SHIM, "delete", "cluster", NAME, "--yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(endpoint))  # fmt: skip
    lines: list[str] = []
    marks = [0]
    changed = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(MARKER):
                marks[0] += 1
                changed.set()
        changed.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, changed, marks


def owned(emu: RunningEmulator) -> list[tuple[str, ...]]:
    with emu.state.lock:
        return sorted(k for k in emu.state.resources if k[2] != "instances")


def check_left(repo: ClusterRepository) -> list[str]:
    """What a killed delete left of the cluster: nothing, or a set that holds its cluster object."""
    left = repo.store.list(cluster_prefix(NAME))
    assert not left or cluster_key(NAME) in left, f"the cluster object went before {left}"
    return left


def kill_in_cloud_phase(emu: RunningEmulator, api: KillingApi, repo: ClusterRepository, at: int, *,
                        after: bool) -> None:  # fmt: skip
    before = len(owned(emu))
    proc, lines, _, _ = start_delete(emu.endpoint)
    api.arm(proc, at, after=after)
    try:
        proc.wait(timeout=120)
    finally:
        api.arm(None)
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    assert 0 < len(owned(emu)) < before or (not after and at == 1), (before, owned(emu))
    assert cluster_key(NAME) in check_left(repo)  # the cloud is not clean yet: the state is all there


def kill_in_state_phase(emu: RunningEmulator, repo: ClusterRepository, after_marks: int) -> None:
    proc, lines, changed, marks = start_delete(emu.endpoint)
    deadline = time.monotonic() + 120
    while marks[0] < after_marks and proc.poll() is None and time.monotonic() < deadline:
        changed.wait(0.5)
        changed.clear()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and marks[0] == after_marks, "".join(lines)
    assert owned(emu) == []  # the state goes only once the cloud is clean
    assert cluster_key(NAME) in check_left(repo)  # some objects left: the cluster object among them


def converge_and_recreate(emu: RunningEmulator, repo: ClusterRepository, old_ca: bytes) -> None:
    r = ok(kubegce("delete", "cluster", NAME, "--yes", endpoint=emu.endpoint))
    assert "Traceback" not in r.stderr
    assert owned(emu) == [], owned(emu)
    assert repo.store.list(cluster_prefix(NAME)) == []
    r = ok(kubegce("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a",
                   endpoint=emu.endpoint))  # fmt: skip
    assert "removed them, secrets included" not in r.stderr  # nothing was left over to remove
    assert repo.read_secrets(NAME) is None  # no old secrets to adopt
    assert repo.ensure_secrets(NAME).files["ca.crt"] != old_ca


def setup(emu: RunningEmulator, repo: ClusterRepository) -> bytes:
    ok(kubegce("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a,us-central1-b",
               "--node-count", "2", endpoint=emu.endpoint))  # fmt: skip
    ok(kubegce("update", "cluster", NAME, "--yes", endpoint=emu.endpoint))
    assert len(owned(emu)) >= 10
    return repo.ensure_secrets(NAME).files["ca.crt"]  # in gs:// stores `update` wrote them already


def test_killed_delete_converges_file_store(state: str, emu: tuple[RunningEmulator, KillingApi]) -> None:
    e, api = emu
    repo = ClusterRepository(open_store(state))
    old_ca = setup(e, repo)
    start = time.monotonic()
    kill_in_cloud_phase(e, api, repo, 1, after=False)
    kill_in_cloud_phase(e, api, repo, 2, after=True)
    kill_in_cloud_phase(e, api, repo, 1, after=True)
    kill_in_state_phase(e, repo, 1)
    kill_in_state_phase(e, repo, 1)
    converge_and_recreate(e, repo, old_ca)
    assert time.monotonic() - start < 60


def test_killed_delete_converges_gcs_store(store_url: str, emu: tuple[RunningEmulator, KillingApi]) -> None:
    if not store_url.startswith("gs://"):
        pytest.skip("the file:// store has its own test above, with more kill points")
    e, api = emu
    repo = ClusterRepository(open_store(store_url))
    old_ca = setup(e, repo)
    kill_in_cloud_phase(e, api, repo, 2, after=True)
    kill_in_state_phase(e, repo, 2)
    converge_and_recreate(e, repo, old_ca)
