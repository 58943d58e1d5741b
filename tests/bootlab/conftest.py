from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator

import pytest

from kubegce.errors import UserError
from kubegce.state.store import open_store


@pytest.fixture(scope="session", autouse=True)
def lab_ready() -> None:
    """Skip with the reason where this machine cannot run the lab; in CI that is a failure."""
    from kubegce.lab.run import check_can_run

    try:
        check_can_run()
        if shutil.which("mmdebstrap") is None:
            raise UserError("mmdebstrap is not installed; run scripts/install-test-tools.sh")
    except UserError as exc:
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture
def store(fake_gcs: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh bucket on fake-gcs-server, as a kubegce state store (the clients pointed at it)."""
    bucket = f"lab-backups-{os.getpid()}-{time.monotonic_ns() % 100000}"
    req = urllib.request.Request(f"{fake_gcs}/storage/v1/b?project=lab", data=json.dumps({"name": bucket}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    urllib.request.urlopen(req, timeout=10).read()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs)
    yield open_store(f"gs://{bucket}/team")
