"""images probe against the emulator: a custom image the catalog cannot place is booted briefly,
its init programs are recorded in the user catalog, and the probe instance is always deleted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator

pytestmark = pytest.mark.integration


def add_custom_image(emu: RunningEmulator, name: str, labels: dict[str, str]) -> None:
    status, _ = emu.server.api.handle("POST", "/compute/v1/projects/my-proj/global/images",
                                      {"name": name, "labels": labels})  # fmt: skip
    assert status == 200


def leftovers(emu: RunningEmulator) -> list[str]:
    with emu.state.lock:
        return [
            k[3] for k in emu.state.resources if k[2] in ("instanceGroupManagers", "instanceTemplates", "instances")
        ]


def test_probe_records_a_custom_image(state: str, tmp_path: Path) -> None:
    catalog = tmp_path / "images.yaml"
    env = {**os.environ, "KUBEGCE_USER_CATALOG": str(catalog)}
    with RunningEmulator(0, FaultConfig(), boot_seconds=0.4) as emu:
        add_custom_image(emu, "golden-web-v3", {"kubegce-emulator-cloud-init": "true"})
        before = subprocess.run([sys.executable, "-m", "kubegce", "images", "resolve", "my-proj/golden-web-v3",
                                 "-o", "json"], capture_output=True, text=True, env=env)  # fmt: skip
        assert json.loads(before.stdout)["channel"] == "both"
        r = subprocess.run([sys.executable, "-m", "kubegce", "images", "probe", "my-proj/golden-web-v3", "--project",
                            "my-proj", "--zone", "us-central1-a", "--endpoint", emu.endpoint, "--poll", "0.2",
                            "-o", "json"], capture_output=True, text=True, env=env)  # fmt: skip
        assert r.returncode == 0, r.stderr
        entry = json.loads(r.stdout)
        assert entry["cloud_init"] is True and entry["guest_agent"] is False
        assert leftovers(emu) == []
        after = subprocess.run([sys.executable, "-m", "kubegce", "images", "resolve", "my-proj/golden-web-v3",
                                "-o", "json"], capture_output=True, text=True, env=env)  # fmt: skip
        assert json.loads(after.stdout)["channel"] == "user-data"


def test_probe_instance_is_deleted_on_ctrl_c() -> None:
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.diagnose.probe import probe_image
    from kubegce.images.catalog import Catalog

    def interrupt(message: str) -> None:
        if message.startswith("probe reported"):
            raise KeyboardInterrupt

    with RunningEmulator(0, FaultConfig(), boot_seconds=0.4) as emu:
        add_custom_image(emu, "golden-db", {"kubegce-emulator-guest-agent": "true"})
        image = Catalog.load().resolve("my-proj/golden-db")
        with pytest.raises(KeyboardInterrupt):
            probe_image(ComputeClients.create(emu.endpoint), "my-proj", "us-central1-a", image, poll_s=0.1,
                        log=interrupt)  # fmt: skip
        assert leftovers(emu) == []
