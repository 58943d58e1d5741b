"""The README's set-up commands create and reuse a project virtual environment and never install
into the system Python (issue: a new user's first hour, item 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _usable(python: Path) -> bool:
    if not python.exists():
        return False
    probe = "import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
    return subprocess.run([str(python), "-c", probe], capture_output=True, check=False).returncode == 0


def test_scripts_never_call_pip_outside_the_venv() -> None:
    for name in ("demo.sh", "test.sh"):
        text = (ROOT / "scripts" / name).read_text()
        assert "source scripts/venv.sh" in text, name
        assert "python3 -m pip" not in text and "pip install" not in text, name
    venv_sh = (ROOT / "scripts" / "venv.sh").read_text()
    # pip runs only after the venv is activated, as the venv's python
    assert venv_sh.index("bin/activate") < venv_sh.index("python -m pip install")
    assert "/.venv/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.integration
@pytest.mark.skipif(not _usable(SYSTEM_PYTHON), reason="no system Python 3.11+ with venv here")
def test_demo_script_works_with_an_externally_managed_python(tmp_path: Path) -> None:
    """demo.sh with the distribution's own (PEP 668) Python: builds .venv, runs kubegce from it,
    and leaves the system Python without kubegce."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(".venv", ".tools", ".lab-cache", ".git", "*.egg-info",
                                                               "__pycache__", ".mypy_cache", ".ruff_cache"))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "KUBEGCE_VENV")}
    env["KUBEGCE_PYTHON"] = str(SYSTEM_PYTHON)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if sys.prefix not in p)
    run = subprocess.run(["bash", "scripts/demo.sh", "--help"], cwd=clone, env=env, capture_output=True, text=True,
                         timeout=900, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "emulator" in run.stdout.lower() or "demo" in run.stdout.lower()
    venv_python = clone / ".venv" / "bin" / "python"
    assert venv_python.exists()
    where = subprocess.run([str(venv_python), "-c", "import kubegce; print(kubegce.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert where.startswith(str(clone / "src")), where
    # the system Python did not get kubegce (nor an editable finder pointing into the clone)
    leak = subprocess.run([str(SYSTEM_PYTHON), "-c", "import kubegce"], capture_output=True, check=False,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert leak.returncode != 0
    # a second run reuses the venv: no reinstall (the stamp is current)
    again = subprocess.run(["bash", "scripts/demo.sh", "--help"], cwd=clone, env=env, capture_output=True, text=True,
                           timeout=300, check=False)  # fmt: skip
    assert again.returncode == 0
    assert (clone / ".venv" / ".kubegce-installed").read_text().count("\n") == 1
