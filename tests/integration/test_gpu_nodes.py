"""GPU nodes against the emulator (issue 24): a GPU group's simulated boot installs its driver (the
gpu guest attribute), its nodes register with the GPU labels and taint and advertise nvidia.com/gpu
once the control plane applied the device plugin; `get instances` shows the driver's phase. A
failed driver install injected through the admin API stops the boot as lib/gpu.sh would: `validate
cluster` names the instance, `diagnose` gives the cause code."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kubegce import service
from kubegce.boot import protocol
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.spec.models import GPU_ACCELERATOR_LABEL, GPU_PRESENT_LABEL
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import FileStateStore
from tests.integration.test_pace import http
from tests.integration.test_spot import kubegce
from tests.unit.test_gpu_groups import gpu_bundle

pytestmark = pytest.mark.integration
CATALOG = Catalog.load()


def gpu_cluster(emu: RunningEmulator, state: str) -> str:
    bundle = gpu_bundle()
    repo = ClusterRepository(FileStateStore(Path(state.removeprefix("file://"))))
    repo.create(bundle)
    name = bundle.cluster.name
    target = service.connect(emu.endpoint, "my-proj", name)
    assert all(r.ok for r in service.apply(target, service.plan(repo.get(name).bundle, CATALOG, target=target)))
    return name


def gpu_instances(emu: RunningEmulator) -> list[str]:
    with emu.state.lock:
        return sorted(k[3] for k in emu.state.resources if k[2] == "instances" and k[3].startswith("nodes"))


def failed(emu: RunningEmulator, instance: str) -> bool:
    from kubegce.emulator.compute.handlers import booted_image

    with emu.state.lock:
        inst = next(r for k, r in emu.state.resources.items() if k[2] == "instances" and k[3] == instance)
        try:
            got = emu.state.boot.guest_attributes(inst, booted_image(emu.state, inst), "kubegce/")
        except Exception:  # noqa: BLE001 (not booted yet: no attributes)
            return False
    return {"key": "phase", "namespace": "kubegce", "value": "failed"} in got["queryValue"]["items"]


def instances(name: str, emu: RunningEmulator) -> dict[str, dict[str, Any]]:
    r = kubegce("get", "instances", name, "-o", "json", endpoint=emu.endpoint)
    assert r.returncode == 0, r.stderr
    return {i["instance"]: i for i in json.loads(r.stdout)}


def test_a_gpu_group_boots_its_driver_and_its_nodes_offer_gpus(state: str, tmp_path: Path) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4, kube=True) as emu:
        assert emu.cluster is not None
        kubeconfig = str(emu.cluster.write_kubeconfig(tmp_path / "kubeconfig"))
        name = gpu_cluster(emu, state)
        r = kubegce("validate", "cluster", name, "--wait", "30s", "--interval", "0.2", "--kubeconfig", kubeconfig,
                    endpoint=emu.endpoint)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        nodes = gpu_instances(emu)
        assert len(nodes) == 2
        deadline = time.monotonic() + 10  # the device plugin's resources follow the control plane's join
        while time.monotonic() < deadline:
            snap = emu.cluster.kube.snapshot()
            if all(snap.nodes[n].allocatable.get("nvidia.com/gpu") == "1" for n in nodes):
                break
            time.sleep(0.05)
        for n in nodes:
            node = snap.nodes[n]
            assert node.allocatable == {"nvidia.com/gpu": "1"}, node
            assert node.labels[GPU_PRESENT_LABEL] == "true" and node.labels[GPU_ACCELERATOR_LABEL] == "nvidia-tesla-t4"
            assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in node.taints
        cp = next(n for n in snap.nodes if n.startswith("control-plane"))
        assert not snap.nodes[cp].allocatable and GPU_PRESENT_LABEL not in snap.nodes[cp].labels

        shown = instances(name, emu)
        assert all(shown[n]["gpu"] == "ready 580.95.05" for n in nodes), shown
        assert "gpu" not in shown[cp]
        table = kubegce("get", "instances", name, endpoint=emu.endpoint).stdout.splitlines()
        assert table[0].split()[7:9] == ["PHASE", "GPU"] and all(
            "ready 580.95.05" in ln for ln in table if "nodes-" in ln
        )
        yaml_out = kubegce("get", "instances", name, "-o", "yaml", endpoint=emu.endpoint).stdout
        assert "gpu: ready 580.95.05" in yaml_out


def test_a_failed_driver_install_is_named_by_validate_and_diagnose(state: str) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4, kube=True) as emu:
        code, body = http(emu, "POST", "/_emulator/gpu-failure", {"group": "nodes", "cause": "gpu-secure-boot"})
        assert code == 200, body
        name = gpu_cluster(emu, state)
        nodes = gpu_instances(emu)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(failed(emu, n) for n in nodes):
            time.sleep(0.05)
        r = kubegce("validate", "cluster", name, "-o", "json", endpoint=emu.endpoint)
        assert r.returncode != 0
        problems = json.loads(r.stdout)["problems"]
        assert all(any(n in p and "gpu-secure-boot" in p for p in problems) for n in nodes), problems

        shown = instances(name, emu)
        assert all(shown[n]["gpu"] == "gpu-secure-boot" and shown[n]["phase"] == "failed" for n in nodes), shown
        assert shown[nodes[0]]["error"].startswith("install_gpu_driver: gpu-secure-boot: ")

        zone = shown[nodes[0]]["zone"]
        r = kubegce("diagnose", "instance", nodes[0], "--project", "my-proj", "--zone", zone, "-o", "json",
                    endpoint=emu.endpoint)  # fmt: skip
        assert r.stdout, r.stderr
        d = json.loads(r.stdout)
        assert d["cause"] == protocol.GPU_SECURE_BOOT and d["step"] == "install_gpu_driver", d
        assert "--no-shielded-secure-boot" in d["fix"]
        assert emu.cluster is not None
        assert not set(nodes) & set(emu.cluster.kube.snapshot().nodes)  # never joined
