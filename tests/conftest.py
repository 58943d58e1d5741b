from __future__ import annotations

import os
import shutil
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
