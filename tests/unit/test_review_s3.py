"""An adversarial pass over editor mode, endpoint options and the JSON API path: each test failed
before its fix (hostile editors, option placement, API answers a proxy or a broken server gives)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_edit_editor import CLUSTER, edit, env, objects

__all__ = ["env"]  # the fixture, used by name

SCRIPT = "#!/bin/sh\necho one\n# a comment the script needs\nexit 0\n"


def kubegce(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_editor_keeps_comment_lines_inside_a_script(env: dict[str, str]) -> None:
    """Lines starting with '#' inside a multi-line string are content, not comments to drop."""
    r = kubegce(env, "edit", "ig", CLUSTER, "nodes", "--set",
                f"spec.bootstrap.additionalUserData=[{{name: extra.sh, content: {json.dumps(SCRIPT)}}}]")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = edit(env, [{"replace": ["maxSize: 2", "maxSize: 3"]}], "instancegroup", CLUSTER, "nodes")
    assert r.returncode == 0 and "updated" in r.stderr, r.stderr
    groups = json.loads(kubegce(env, "get", "ig", CLUSTER, "-o", "json").stdout)
    nodes = next(g for g in groups if g["metadata"]["name"] == "nodes")
    assert nodes["spec"]["maxSize"] == 3
    assert nodes["spec"]["bootstrap"]["additionalUserData"][0]["content"] == SCRIPT


def test_editor_block_scalar_keeps_its_shebang(env: dict[str, str]) -> None:
    block = "    additionalUserData:\n    - name: a.sh\n      content: |\n        #!/bin/sh\n        exit 0\n"
    r = edit(env, [{"replace": ["    additionalUserData: []\n", block]}], "instancegroup", CLUSTER, "nodes")
    assert r.returncode == 0, r.stderr
    groups = json.loads(kubegce(env, "get", "ig", CLUSTER, "-o", "json").stdout)
    nodes = next(g for g in groups if g["metadata"]["name"] == "nodes")
    assert nodes["spec"]["bootstrap"]["additionalUserData"][0]["content"] == "#!/bin/sh\nexit 0\n"


HOSTILE_EDITORS = {
    "deletes the file": "import os, sys; os.remove(sys.argv[-1])",
    "leaves a directory": "import os, sys; os.remove(sys.argv[-1]); os.mkdir(sys.argv[-1])",
    "writes 3 MiB": "import sys; open(sys.argv[-1], 'w').write('a: ' + 'x' * (3 << 20))",
}


@pytest.mark.parametrize("script", HOSTILE_EDITORS.values(), ids=HOSTILE_EDITORS.keys())
def test_hostile_editor_cancels_without_a_traceback(env: dict[str, str], tmp_path: Path, script: str) -> None:
    editor = tmp_path / "hostile.py"
    editor.write_text(script)
    before = objects(env)
    r = subprocess.run([sys.executable, "-m", "kubegce", "edit", "cluster", CLUSTER], capture_output=True,
                       text=True, env={**env, "KUBE_EDITOR": f"{sys.executable} {editor}"}, timeout=120)  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr
    assert "cancelled, nothing written" in r.stderr
    assert r.returncode == 0
    assert objects(env) == before
