"""Issue 11 section 2: a wrong, closed or silent endpoint fails fast, with one message and no traceback.

Every verb that talks to a cloud runs against a closed port and against a port that accepts and
never answers (a socket server here that accepts and sleeps); each must end within DEADLINE_S.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegce.errors import UserError
from kubegce.net import EndpointUnreachable, check_endpoint, guard_session

DEADLINE_S = 30.0
CLUSTER = "demo.example.com"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for c in held:
        c.close()
    server.close()


def run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=DEADLINE_S + 30)  # fmt: skip
    return r, time.monotonic() - start


@pytest.fixture(scope="module")
def file_state(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"file://{tmp_path_factory.mktemp('state')}"
    r = subprocess.run([sys.executable, "-m", "kubegce", "--state", url, "create", "cluster", CLUSTER,
                        "--project", "my-proj", "--zones", "us-central1-a"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return url


COMPUTE_VERBS = [
    ["update", "cluster", CLUSTER, "--yes"],
    ["update", "cluster", CLUSTER, "--target", "gce"],
    ["get", "instances", CLUSTER],
    ["validate", "cluster", CLUSTER],
    ["delete", "cluster", CLUSTER, "--yes"],
    ["rolling-update", "cluster", CLUSTER],
    ["rolling-update", "cluster", CLUSTER, "--yes", "--cloudonly"],
    ["diagnose", "instance", "node-1", "--zone", "us-central1-a", "--project", "my-proj"],
    ["images", "probe", "debian-cloud/debian-12", "--project", "my-proj", "--zone", "us-central1-a"],
]


@pytest.mark.parametrize("args", COMPUTE_VERBS, ids=lambda a: " ".join(a[:2]) + (" " + a[-1] if "--" in a[-1] else ""))
@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_compute_verbs_fail_fast(args: list[str], kind: str, file_state: str, silent_port: int) -> None:
    port = closed_port() if kind == "closed" else silent_port
    endpoint = f"http://127.0.0.1:{port}"
    r, took = run(args, {"KUBEGCE_STATE": file_state, "KUBEGCE_COMPUTE_ENDPOINT": endpoint,
                         "KUBEGCE_READ_TIMEOUT": "2"})  # fmt: skip
    assert took < DEADLINE_S, (took, r.stderr)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert f"127.0.0.1:{port}" in r.stderr
    if kind == "closed":
        assert "connection refused" in r.stderr and f"kubegce emulator --port {port}" in r.stderr
    else:
        assert "did not answer" in r.stderr and "KUBEGCE_READ_TIMEOUT" in r.stderr


STORE_VERBS = [
    ["get", "clusters"],
    ["create", "cluster", CLUSTER, "--project", "my-proj", "--zones", "us-central1-a"],
    ["rotate", "token", CLUSTER],
    ["export", "kubeconfig", CLUSTER],
]


@pytest.mark.parametrize("args", STORE_VERBS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_store_verbs_fail_fast(args: list[str], kind: str, silent_port: int, tmp_path: Path) -> None:
    port = closed_port() if kind == "closed" else silent_port
    r, took = run(args, {"KUBEGCE_STATE": "gs://bucket/prefix", "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
                         "KUBEGCE_READ_TIMEOUT": "2"})  # fmt: skip
    assert took < DEADLINE_S, (took, r.stderr)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "Cloud Storage" in r.stderr and f"127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize("bad", ["127.0.0.1:18790", "ftp://127.0.0.1:1", "http://", "http://host:99999",
                                 "http://host:80 junk", "http://ho st"])  # fmt: skip
def test_endpoint_is_checked_before_use(bad: str) -> None:
    with pytest.raises(UserError, match="KUBEGCE_COMPUTE_ENDPOINT"):
        check_endpoint(bad, "KUBEGCE_COMPUTE_ENDPOINT")


def test_endpoint_without_scheme_says_how(file_state: str) -> None:
    r, took = run(["get", "instances", CLUSTER], {"KUBEGCE_STATE": file_state,
                                                  "KUBEGCE_COMPUTE_ENDPOINT": "127.0.0.1:18790"})  # fmt: skip
    assert r.returncode == 2 and "http://127.0.0.1:18790" in r.stderr and "Traceback" not in r.stderr
    assert took < DEADLINE_S


@pytest.mark.parametrize("good", ["http://127.0.0.1:8080", "https://compute.googleapis.com", "http://localhost:1/x/",
                                  "http://[::1]:8080"])  # fmt: skip
def test_good_endpoints(good: str) -> None:
    assert check_endpoint(good, "x") == good.rstrip("/")


def test_refused_is_tried_a_few_times_quickly() -> None:
    import requests

    session = requests.Session()
    pauses: list[float] = []
    port = closed_port()
    guard_session(session, f"http://127.0.0.1:{port}", "Compute API", sleep=pauses.append)
    with pytest.raises(EndpointUnreachable, match="connection refused"):
        session.get(f"http://127.0.0.1:{port}/x")
    assert len(pauses) == 2 and sum(pauses) < 3


def test_transient_errors_are_retried_with_a_line_saying_until_when(capsys: pytest.CaptureFixture[str]) -> None:
    from typing import Any, cast

    from google.api_core import exceptions

    from kubegce.cloud.gce.api import GceApi

    api = GceApi(cast(Any, None), "my-proj", "marker", "demo", deadline_s=30, backoff_s=0.001)
    busy = exceptions.ServiceUnavailable("busy")  # type: ignore[no-untyped-call]
    throttled = exceptions.TooManyRequests("rateLimitExceeded")  # type: ignore[no-untyped-call]
    calls = iter([busy, throttled, None])

    def fn() -> str:
        exc = next(calls)
        if exc is not None:
            raise exc
        return "ok"

    assert api.call(fn) == "ok"
    err = capsys.readouterr().err
    assert "retrying after ServiceUnavailable" in err and "giving up at" in err and "TooManyRequests" in err
