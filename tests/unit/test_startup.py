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


def test_compute_clients_load_only_the_services_kubegce_uses() -> None:
    """compute_v1's package __init__ imports ~100 clients; kubegce loads the ~20 it uses, by the piece."""
    code = (
        "import sys, json\n"
        "from kubegce.cloud.gce.client import ComputeClients\n"
        "c = ComputeClients.create('http://127.0.0.1:9')\n"
        "assert c.compute.Operation.Status.DONE == 2104194\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(r.stdout.splitlines()[-1]))
    services = {m.split(".")[4] for m in modules if m.startswith("google.cloud.compute_v1.services.")}
    assert {"networks", "instance_group_managers", "zone_operations", "zones"} <= services
    assert "accelerator_types" not in services and len(services) < 30, sorted(services)


def test_lazy_compute_serves_the_library_s_own_classes() -> None:
    import importlib

    from kubegce.cloud.gce.lib import LazyCompute

    lazy = LazyCompute("google.cloud.compute_v1")
    networks = importlib.import_module("google.cloud.compute_v1.services.networks")
    assert lazy.NetworksClient is networks.NetworksClient
    assert lazy.RegionInstanceGroupManagersClient.__name__ == "RegionInstanceGroupManagersClient"
    assert lazy.Network is importlib.import_module("google.cloud.compute_v1.types.compute").Network
    for missing in ("NoSuchThingClient", "NoSuchMessage"):
        with pytest.raises(AttributeError):
            getattr(lazy, missing)
