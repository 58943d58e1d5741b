"""Issue 11 section 3: `kubegce edit cluster NAME` / `edit instancegroup NAME GROUP` without --set
open $KUBE_EDITOR / $EDITOR / vi, validate on save, reopen with the errors as comments, and write
nothing when unchanged or cancelled. The editor is a fake script driven by a steps file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLUSTER = "demo.example.com"

FAKE_EDITOR = """
import json, sys
from pathlib import Path
steps_file = Path(sys.argv[1]); target = Path(sys.argv[2])
steps = json.loads(steps_file.read_text())
step = steps.pop(0)
steps_file.write_text(json.dumps(steps))
with open(str(steps_file) + ".seen", "a") as f:
    f.write(target.read_text() + "\\n=====\\n")
if "exit" in step:
    sys.exit(step["exit"])
if "write" in step:
    target.write_text(step["write"])
if "replace" in step:
    old, new = step["replace"]
    text = target.read_text()
    assert old in text, (old, text)
    target.write_text(text.replace(old, new))
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    state = f"file://{tmp_path / 'state'}"
    editor = tmp_path / "editor.py"
    editor.write_text(FAKE_EDITOR)
    e = {**os.environ, "KUBEGCE_STATE": state, "EDITOR": "false", "KUBE_EDITOR": f"{sys.executable} {editor} "
         f"{tmp_path / 'steps.json'}"}  # fmt: skip
    r = subprocess.run([sys.executable, "-m", "kubegce", "create", "cluster", CLUSTER, "--project", "my-proj",
                        "--zones", "us-central1-a"], capture_output=True, text=True, env=e)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return e


def edit(env: dict[str, str], steps: list[dict[str, object]], *args: str) -> subprocess.CompletedProcess[str]:
    Path(env["KUBE_EDITOR"].split()[-1]).write_text(json.dumps(steps))
    return subprocess.run([sys.executable, "-m", "kubegce", "edit", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def objects(env: dict[str, str]) -> dict[str, bytes]:
    root = Path(env["KUBEGCE_STATE"][len("file://") :])
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*.obj"))}


def test_edit_cluster_in_editor_saves_a_valid_change(env: dict[str, str]) -> None:
    r = edit(env, [{"replace": ["kubernetesVersion: 1.36.4", "kubernetesVersion: 1.37.0"]}], "cluster", CLUSTER)
    assert r.returncode == 0, r.stderr
    assert f"cluster {CLUSTER} updated" in r.stderr and f"kubegce update cluster {CLUSTER}" in r.stderr
    got = subprocess.run([sys.executable, "-m", "kubegce", "get", "cluster", CLUSTER, "-o", "yaml"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert "kubernetesVersion: 1.37.0" in got.stdout


def test_invalid_edit_reopens_with_the_errors_as_comments(env: dict[str, str]) -> None:
    r = edit(env, [{"replace": ["minSize: 2\n  maxSize: 2", "minSize: 5\n  maxSize: 1"]},
                   {"replace": ["minSize: 5", "minSize: 1"]}], "instancegroup", CLUSTER, "nodes")  # fmt: skip
    assert r.returncode == 0, r.stderr
    seen = Path(env["KUBE_EDITOR"].split()[-1] + ".seen").read_text().split("=====")
    assert "# The edit was not saved:" in seen[1] and "spec.maxSize" in seen[1]
    assert "maxSize: 1" in seen[1]  # the user's text is kept
    assert "updated" in r.stderr


@pytest.mark.parametrize(("steps", "message"), [
    ([{}], "no change"),
    ([{"write": ""}], "emptied"),
    ([{"write": "# only a comment\n"}], "emptied"),
    ([{"exit": 1}], "exited with status 1"),
    ([{"replace": ["project: my-proj", "project: X"]}, {}], "not fixed"),
])  # fmt: skip
def test_unchanged_or_cancelled_writes_nothing(env: dict[str, str], steps: list[dict[str, object]],
                                               message: str) -> None:  # fmt: skip
    before = objects(env)
    r = edit(env, steps, "cluster", CLUSTER)
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.returncode in ((1,) if message.startswith("exited") else (0, 2))  # a failed editor: 1, as kubectl
    assert objects(env) == before


def test_editor_order_kube_editor_then_editor(env: dict[str, str]) -> None:
    env = {**env, "KUBE_EDITOR": ""}
    r = subprocess.run([sys.executable, "-m", "kubegce", "edit", "cluster", CLUSTER], capture_output=True, text=True,
                       env=env)  # fmt: skip  # EDITOR=false exits 1
    assert "exited with status 1" in r.stderr
    env["EDITOR"] = "/nonexistent/editor"
    r = subprocess.run([sys.executable, "-m", "kubegce", "edit", "cluster", CLUSTER], capture_output=True, text=True,
                       env=env)  # fmt: skip
    assert r.returncode == 2 and "cannot run the editor" in r.stderr and "Traceback" not in r.stderr
