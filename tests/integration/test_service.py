"""The cluster service through the CLI, against the emulator: `update` plans once per run, and a
custom image read through the Compute API gets one answer (warnings and plan rows agree)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result

from kubegce.boot import plans
from kubegce.cli.main import cli
from kubegce.emulator.server import RunningEmulator
from kubegce.service import cluster

pytestmark = pytest.mark.integration

RHEL_9_LICENSE = "https://compute.googleapis.com/compute/v1/projects/rhel-cloud/global/licenses/rhel-9-server"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def create(image: str) -> None:
    r = run("create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
            "us-central1-a,us-central1-b", "--image", image, "--node-count", "2")  # fmt: skip
    assert r.exit_code == 0, r.stderr


@pytest.fixture
def boot_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time the service renders the cluster's boot (resolves images, renders metadata)."""
    calls: list[str] = []

    def counted(bundle: Any, *args: Any, **kwargs: Any) -> plans.ClusterBoot:
        calls.append(bundle.cluster.name)
        return plans.render_cluster_boot(bundle, *args, **kwargs)

    monkeypatch.setattr(cluster, "render_cluster_boot", counted)
    return calls


def test_update_plans_once_per_run(state: str, emulator: RunningEmulator, boot_renders: list[str]) -> None:
    create("rocky-linux-cloud/rocky-linux-9")
    assert boot_renders == []  # create checks the spec without rendering anything
    for args in ([], ["--yes"], ["--target", "dryrun"]):
        boot_renders.clear()
        r = run("update", "cluster", "demo.example.com", "--endpoint", emulator.endpoint, *args)
        assert r.exit_code == 0, r.stderr
        assert boot_renders == ["demo.example.com"], args
    boot_renders.clear()
    r = run("edit", "instancegroup", "demo.example.com", "nodes", "--set", "spec.maxSize=4")
    assert r.exit_code == 0, r.stderr
    assert boot_renders == []


def test_custom_image_gets_one_answer(state: str, emulator: RunningEmulator, boot_renders: list[str]) -> None:
    status, _ = emulator.server.api.handle("POST", "/compute/v1/projects/my-proj/global/images",
                                           {"name": "golden-rhel-9", "licenses": [RHEL_9_LICENSE]})  # fmt: skip
    assert status == 200
    create("my-proj/golden-rhel-9")
    r = run("update", "cluster", "demo.example.com", "--endpoint", emulator.endpoint)
    assert r.exit_code == 0, r.stderr
    assert "not in the catalog" not in r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if "my-proj/golden-rhel-9" in line]
    assert len(rows) == 2 and all(row[2:5] == ["rhel", "9", "startup-script"] for row in rows), r.stdout
    assert boot_renders == ["demo.example.com"]
    # offline the image cannot be read: the warning and the rows say the same thing (both channels)
    r = run("update", "cluster", "demo.example.com", "--target", "dryrun")
    assert r.exit_code == 0, r.stderr
    assert "not in the catalog" in r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if "my-proj/golden-rhel-9" in line]
    assert len(rows) == 2 and all(row[2:4] == ["unknown", "both"] for row in rows), r.stdout
