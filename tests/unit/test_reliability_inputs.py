"""Issue 25 items 6 and 9: small input mistakes refused with the fix, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubegce.errors import UserError
from kubegce.state.store import FileStateStore, open_store

CLUSTER = "demo.example.com"


def kubegce(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, input=input,
                          env=env, timeout=120)  # fmt: skip


def create(env: dict[str, str] | None = None) -> None:
    r = kubegce("create", "cluster", CLUSTER, "--project", "my-proj", "--zones", "us-central1-a", env=env)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ item 6: file://host, editor status
@pytest.mark.parametrize("url", ["file://tmp/x", "file://home/me/state", "file://state", "file://"])
def test_a_file_url_with_a_host_is_refused_with_the_fix(url: str) -> None:
    """`file://tmp/x` named the host `tmp` and was read as the relative folder tmp/x."""
    with pytest.raises(UserError, match="three slashes") as exc:
        open_store(url)
    if url != "file://":
        assert f"'file:///{url[7:]}'" in str(exc.value)


def test_absolute_and_home_file_urls_still_open(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/s")
    assert isinstance(store, FileStateStore) and store.root == tmp_path / "s"
    home = open_store("file://~/.kubegce/state")
    assert isinstance(home, FileStateStore) and home.root == Path.home() / ".kubegce/state"


def test_kubegce_state_with_a_host_is_refused_on_the_command_line(tmp_path: Path) -> None:
    r = kubegce("get", "clusters", env={**os.environ, "KUBEGCE_STATE": "file://tmp/x"})
    assert r.returncode == 2 and "'file:///tmp/x'" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not Path("tmp/x").exists()


def test_an_editor_that_fails_exits_1_as_kubectl_does(state: str, tmp_path: Path) -> None:
    create()
    before = sorted((p, p.read_bytes()) for p in Path(state[7:]).rglob("*.obj"))
    r = kubegce("edit", "cluster", CLUSTER, env={**os.environ, "KUBE_EDITOR": "false"})
    assert r.returncode == 1 and "exited with status 1" in r.stderr and "nothing written" in r.stderr, r.stderr
    assert sorted((p, p.read_bytes()) for p in Path(state[7:]).rglob("*.obj")) == before
