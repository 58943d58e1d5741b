"""A GPU node group applied against the emulator (issue 24, first part): the template and its
instances carry the GPUs and TERMINATE maintenance, checked by the emulator's GCE rules."""

from __future__ import annotations

import pytest

from kubegce import service
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from kubegce.spec.models import GuestAccelerator, ProvisioningModel, Role
from tests.conftest import make_bundle
from tests.integration.test_pace import http

pytestmark = pytest.mark.integration


def test_a_spot_t4_group_applies() -> None:
    bundle = make_bundle()
    nodes = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    nodes.spec.machine_type = "n1-standard-8"
    nodes.spec.guest_accelerators = [GuestAccelerator(type="nvidia-tesla-t4", count=2)]
    nodes.spec.provisioning_model = ProvisioningModel.SPOT
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.2) as emu:
        target = service.connect(emu.endpoint, "my-proj", bundle.cluster.name)
        assert all(r.ok for r in service.apply(target, service.plan(bundle, Catalog.load(), target=target)))
        with emu.state.lock:
            gpu = [r for k, r in emu.state.resources.items() if k[2] == "instances" and k[3].startswith("nodes")]
        assert gpu
        for r in gpu:
            zone = r["zone"].rsplit("/", 1)[-1]
            assert [(a["acceleratorType"].rsplit("/zones/", 1)[-1], a["acceleratorCount"])
                    for a in r["guestAccelerators"]] == [(f"{zone}/acceleratorTypes/nvidia-tesla-t4", 2)]  # fmt: skip
            assert r["scheduling"]["onHostMaintenance"] == "TERMINATE"


def test_a_zone_without_the_gpu_is_refused_before_anything_is_created() -> None:
    bundle = make_bundle()
    nodes = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    nodes.spec.machine_type = "n1-standard-8"
    nodes.spec.guest_accelerators = [GuestAccelerator(type="nvidia-tesla-v100", count=1)]
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.2) as emu:
        zone = bundle.cluster.spec.zones[-1]
        code, _ = http(emu, "POST", "/_emulator/accelerators", {"zone": zone, "offered": ["nvidia-tesla-t4"]})
        assert code == 200
        target = service.connect(emu.endpoint, "my-proj", bundle.cluster.name)
        with pytest.raises(SpecError) as err:
            service.plan(bundle, Catalog.load(), target=target)
        text = str(err.value)
        assert f"spec.guestAccelerators[0].type: 'nvidia-tesla-v100' is not offered in zone {zone}" in text, text
        assert bundle.cluster.spec.zones[0] not in text  # the other zone offers it
        with emu.state.lock:
            assert not emu.state.resources  # nothing created
        # a built-in GPU type is missing where its GPU is: the machine type is refused in that zone
        nodes.spec.machine_type, nodes.spec.guest_accelerators = "g2-standard-8", []
        with pytest.raises(SpecError) as err:
            service.plan(bundle, Catalog.load(), target=target)
        assert f"spec.machineType: 'g2-standard-8' is not offered in zone {zone}" in str(err.value)
