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

    modules = imported_after(args, {**os.environ, "KUBEGCE_STATE": f"file://{tmp_path}"})
    assert heavy(modules) == set()
    assert "cryptography" not in modules  # keys and certificates are made by the verbs that need them


def test_every_verb_resolves_and_its_help_line_matches() -> None:
    ctx = click.Context(cli)
    for name, (_, _, line) in VERBS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name, name
        assert command.get_short_help_str(limit=200) == line, name


def test_compute_clients_load_only_the_services_kubegce_uses() -> None:
    """No library client or message type is imported until one is used; then only that service."""
    code = (
        "import sys, json\n"
        "from kubegce.cloud.gce.client import ComputeClients\n"
        "c = ComputeClients.create('http://127.0.0.1:9')\n"
        "before = sorted(m for m in sys.modules if m.startswith('google.cloud.compute_v1'))\n"
        "c.instance_group_managers\n"
        "assert c.compute.Operation.Status.DONE == 2104194\n"
        "print(json.dumps([before, sorted(sys.modules)]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = json.loads(r.stdout.splitlines()[-1])
    assert before == []
    services = {m.split(".")[4] for m in after if m.startswith("google.cloud.compute_v1.services.")}
    assert "instance_group_managers" in services and "networks" not in services  # its operations client comes too
    assert services <= {"instance_group_managers", "zone_operations"}


def test_plan_against_the_emulator_imports_no_compute_types(tmp_path: object) -> None:
    """A plan reads through JSON: google-cloud-compute's message types (~0.6 s) are never imported."""
    import os

    from kubegce.emulator.compute import FaultConfig
    from kubegce.emulator.server import RunningEmulator

    env = {**os.environ, "KUBEGCE_STATE": f"file://{tmp_path}"}
    create = ["create", "cluster", "s.example.com", "--project", "my-proj", "--zones", "us-central1-a"]
    subprocess.run([sys.executable, "-m", "kubegce", *create], env=env, check=True, capture_output=True)
    with RunningEmulator(0, FaultConfig()) as emu:
        modules = imported_after(["update", "cluster", "s.example.com", "--endpoint", emu.endpoint], env)
    assert "kubegce.cloud.gce.places" in modules  # it did talk to the API
    assert not {m for m in modules if m.startswith("google.cloud.compute_v1")}


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
