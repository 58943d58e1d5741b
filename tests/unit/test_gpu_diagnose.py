"""GPU nodes (issue 24) outside the node: `kubegce diagnose` names each GPU driver cause from a console
log (tests/fixtures/serial/gpu-*.log) or the gpu guest attribute, with its fix; `get instances`
shows the driver's phase; the emulator's admin API injects a failed driver install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.cloud.gce.instances import INSTANCE_COLUMNS, InstanceView, instance_table
from kubegce.diagnose.analyze import CAUSES, Context, analyze, gpu_cause
from kubegce.emulator import admin
from kubegce.emulator.bootsim import BootSimulator, parse_settings, reported_version
from kubegce.emulator.compute.state import ComputeState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "serial"
PREFIX = "Dec 07 10:00:00 nodes-1 google_metadata_script_runner[720]: startup-script: "
# what each cause's fix must say (the brief's concrete fixes)
FIX_WORDS = {
    protocol.GPU_NO_DEVICE: ("gcloud compute instances describe", "guestAccelerators", "capacity"),
    protocol.GPU_SECURE_BOOT: ("--no-shielded-secure-boot", "Ubuntu, COS", "spec.image=ubuntu-os-cloud/"),
    protocol.GPU_KERNEL_HEADERS: ("newer image of the family", "spec.image=PROJECT/FAMILY"),
    protocol.GPU_DRIVER_INSTALL: ("egress", "spec.gpu.driverVersion=580", "cos-extensions list"),
    protocol.GPU_DRIVER_LOAD: ("dmesg", "Pascal and Volta", "spec.gpu.driverVersion"),
    protocol.GPU_TOOLKIT: ("nvidia.github.io", "nvidia-container-toolkit"),
}


def failed_log(cause: str, step: str = "install_gpu_driver", why: str = "details") -> str:
    lines = [protocol.phase_line(protocol.STARTED, 0), protocol.step_line("prepare_host"),
             protocol.phase_line(protocol.PREPARED, 2), protocol.step_line("install_gpu_driver"),
             "kubegce-boot: gpu: 1 NVIDIA device(s); driver method=apt version=580 modules=open",
             protocol.phase_line(protocol.FAILED, 9, step=step, error=f"{cause}: {why}")]  # fmt: skip
    return "".join(PREFIX + ln + "\n" for ln in lines) + PREFIX.split(" startup-script:")[0] + " exit status 1\n"


def test_every_gpu_cause_is_a_cause() -> None:
    assert set(protocol.GPU_CAUSES) <= set(CAUSES)


@pytest.mark.parametrize("cause", protocol.GPU_CAUSES)
def test_each_gpu_cause_from_its_fixtures(cause: str) -> None:
    names = sorted(p.stem for p in FIXTURES.glob(f"{cause}-*.log"))
    assert len(names) == 2, names  # two boot lab runs per cause (tests/bootlab/scenarios.py GPU_SCENARIOS)
    for channel in names:
        log = (FIXTURES / f"{channel}.log").read_text()
        meta = json.loads((FIXTURES / f"{channel}.json").read_text())
        ctx = Context(metadata=meta["metadata"], guest_attributes=meta["guest_attributes"], instance="nodes-1",
                      zone="us-central1-a", cluster="demo.example.com", group="nodes")  # fmt: skip
        d = analyze(log, ctx)
        assert d.cause == cause, (channel, d.cause, d.explanation)
        assert d.phase == protocol.FAILED and d.step in protocol.GPU_STEPS and d.error.startswith(cause + ":")
        assert all(w in d.fix for w in FIX_WORDS[cause]), (cause, d.fix)
        assert "nodes-1" in d.fix or "demo.example.com" in d.fix
        assert d.evidence[-1].text.endswith(d.error)  # the failed phase line


@pytest.mark.parametrize("cause", protocol.GPU_CAUSES)
def test_each_gpu_cause_from_a_bare_log(cause: str) -> None:
    step = "install_gpu_toolkit" if cause == protocol.GPU_TOOLKIT else "install_gpu_driver"
    d = analyze(failed_log(cause, step))
    assert d.cause == cause and d.step == step
    assert any("gpu: 1 NVIDIA device(s)" in e.text for e in d.evidence)


def test_a_toolkit_download_failure_is_the_gpu_cause_not_download_failed() -> None:
    d = analyze((FIXTURES / "gpu-toolkit-cloud-init.log").read_text())
    assert d.cause == protocol.GPU_TOOLKIT


def test_the_gpu_attribute_names_the_cause_when_the_error_does_not() -> None:
    log = failed_log("exit 1 at line 12", why="false").replace("exit 1 at line 12: false", "exit 1 at line 12")
    attrs = {"phase": "failed", "error": "install_gpu_driver: exit 1", "gpu": "gpu-driver-load: nvidia-smi ..."}
    assert analyze(log, Context(guest_attributes=attrs)).cause == protocol.GPU_DRIVER_LOAD
    assert analyze(log).cause == "bootstrap-failed"  # the log alone says no more


def test_a_joined_node_whose_gpu_attribute_shows_a_cause_is_not_ok() -> None:
    lines = [protocol.phase_line(protocol.STARTED, 0), protocol.phase_line(protocol.JOINED, 40),
             protocol.done_line(41, "0" * 64)]  # fmt: skip
    log = "".join(PREFIX + ln + "\n" for ln in lines)
    assert analyze(log, Context(guest_attributes={"phase": "joined", "gpu": "ready 580.95.05"})).cause == "ok"
    d = analyze(log, Context(guest_attributes={"phase": "joined", "gpu": "gpu-driver-load: nvidia-smi failed"}))
    assert d.cause == protocol.GPU_DRIVER_LOAD and d.phase == protocol.JOINED and "joined" in d.explanation


def test_gpu_cause_reads_both_error_shapes() -> None:
    assert gpu_cause("gpu-secure-boot: secure boot is on") == protocol.GPU_SECURE_BOOT
    assert gpu_cause("install_gpu_driver: gpu-no-device: none") == protocol.GPU_NO_DEVICE
    assert gpu_cause("ready 580.95.05") is None and gpu_cause("exit 1 at line 3: false") is None
    assert gpu_cause("gpu-bogus: x") is None


def view(attrs: dict[str, str]) -> InstanceView:
    return InstanceView("nodes-1", "us-central1-a", "nodes", "ubuntu-os-cloud/ubuntu-2404-lts-amd64", "RUNNING",
                        "startup-script", attributes=attrs)  # fmt: skip


def test_get_instances_shows_the_gpu_phase_only_where_reported() -> None:
    plain = view({"phase": "joined"})
    columns, rows = instance_table([plain])
    assert columns == INSTANCE_COLUMNS and rows == [plain.row()] and "gpu" not in plain.as_dict()
    ready = view({"phase": "joined", "gpu": "ready 580.95.05"})
    failed = view({"phase": "failed", "gpu": "gpu-secure-boot: secure boot is on, ..."})
    columns, rows = instance_table([plain, ready, failed])
    at = columns.index("GPU")
    assert columns[at - 1] == "PHASE" and [r[at] for r in rows] == ["-", "ready 580.95.05", "gpu-secure-boot"]
    assert ready.as_dict()["gpu"] == "ready 580.95.05" and failed.as_dict()["gpu"] == "gpu-secure-boot"


def test_the_admin_api_checks_a_gpu_failure() -> None:
    st = ComputeState()
    body = json.dumps({"group": "nodes", "cause": "gpu-secure-boot"}).encode()
    assert admin.handle(st, "POST", "/_emulator/gpu-failure", body) == (200, {"nodes": "gpu-secure-boot"})
    code, err = admin.handle(st, "POST", "/_emulator/gpu-failure", b'{"group": "nodes", "cause": "gpu-bogus"}')
    assert code == 400 and err["error"]["errors"][0]["location"] == "cause"
    code, err = admin.handle(st, "POST", "/_emulator/gpu-failure", b'{"cause": "gpu-toolkit"}')
    assert code == 400 and err["error"]["errors"][0]["location"] == "group"
    assert admin.handle(st, "POST", "/_emulator/gpu-failure", b'{"group": "nodes", "cause": ""}') == (200, {})
    assert admin.handle(st, "GET", "/_emulator/gpu-failure", b"") == (200, {})


def test_the_simulated_driver_version() -> None:
    assert reported_version("580") == "580.95.05" and reported_version("") == "580.95.05"
    assert reported_version("570.124.06") == "570.124.06"
    settings = parse_settings("KUBEGCE_GPU=1\nKUBEGCE_GPU_DRIVER_PACKAGES=('nvidia-open-580*' x)\nKUBEGCE_X=''\n")
    assert settings == {"KUBEGCE_GPU": "1", "KUBEGCE_GPU_DRIVER_PACKAGES": "nvidia-open-580* x", "KUBEGCE_X": ""}
    assert BootSimulator().gpu_failure_of({"metadata": {"items": [{"key": "kubegce-instance-group",
                                                                    "value": "nodes"}]}}) == ""  # fmt: skip
