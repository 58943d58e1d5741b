"""Issue 11 section 6: verbs load lazily; `kubegce --help` and offline verbs import no cloud client."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from kubegce.cli.main import VERBS, cli

CLOUD = ("google.cloud", "googleapiclient", "kubernetes", "google.api_core")


def imported_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    code = (
        "import sys, json\n"
        f"sys.argv = ['kubegce', *{args!r}]\n"
        "from kubegce.cli.main import cli\n"
        "try:\n"
        "    cli.main(standalone_mode=False)\n"
        "except BaseException:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(r.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules for h in CLOUD if m == h or m.startswith(h + ".")}


def test_help_imports_no_cloud_client_and_no_verb() -> None:
    modules = imported_after(["--help"])
    assert heavy(modules) == set()
    assert not {m for m in modules if m.startswith(("kubegce.service", "kubegce.spec", "kubegce.cloud"))}


@pytest.mark.parametrize("args", [["get", "clusters"], ["version"], ["images", "list"], ["create", "--help"]])
def test_offline_verbs_import_no_cloud_client(args: list[str], tmp_path: object) -> None:
    import os

    assert heavy(imported_after(args, {**os.environ, "KUBEGCE_STATE": f"file://{tmp_path}"})) == set()


def test_every_verb_resolves_and_its_help_line_matches() -> None:
    ctx = click.Context(cli)
    for name, (_, _, line) in VERBS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name, name
        assert command.get_short_help_str(limit=200) == line, name
