"""GPU node groups, first part (issue 24): spec.guestAccelerators validated against GCE's table, the
template's guestAccelerators and TERMINATE maintenance (Compute body and Terraform), and the
emulator refusing a template GCE refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.model import build_graph, scheduling
from kubegce.cloud.terraform.render import write_terraform
from kubegce.emulator.compute.errors import ApiError
from kubegce.emulator.compute.handlers import check_accelerators
from kubegce.images.catalog import Catalog
from kubegce.spec.models import ClusterBundle, GuestAccelerator, InstanceGroup, ProvisioningModel, Role
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle


def gpu_bundle(machine_type: str = "n1-standard-8", accelerators: list[GuestAccelerator] | None = None
               ) -> ClusterBundle:  # fmt: skip
    bundle = make_bundle()
    nodes = next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)
    nodes.spec.machine_type = machine_type
    nodes.spec.guest_accelerators = [GuestAccelerator(type="nvidia-tesla-t4", count=1)] if accelerators is None \
        else accelerators  # fmt: skip
    return bundle


def nodes_of(bundle: ClusterBundle) -> InstanceGroup:
    return next(g for g in bundle.instance_groups if g.spec.role == Role.NODE)


def templates(bundle: ClusterBundle) -> dict[str, dict[str, Any]]:
    graph = build_graph(render_cluster_boot(bundle, Catalog.load()))
    return {r.name: r.body["properties"] for r in graph.resources.values() if r.kind == "instance_template"}


def test_an_n1_group_with_t4s_renders_guest_accelerators_and_terminate() -> None:
    b = gpu_bundle()
    assert validate_bundle(b) == []
    props = {n: p for n, p in templates(b).items() if n.startswith("nodes")}
    assert props
    for p in props.values():
        assert p["guestAccelerators"] == [{"acceleratorType": "nvidia-tesla-t4", "acceleratorCount": 1}]
        assert p["scheduling"] == {"automaticRestart": True, "onHostMaintenance": "TERMINATE"}
        check_accelerators(p)  # the emulator's GCE rules accept it
    cp = [p for n, p in templates(b).items() if n.startswith("control")]
    assert all("guestAccelerators" not in p and p["scheduling"]["onHostMaintenance"] == "MIGRATE" for p in cp)


def test_built_in_gpu_types_terminate_on_maintenance_and_attach_nothing() -> None:
    b = gpu_bundle("g2-standard-8", accelerators=[])
    assert validate_bundle(b) == []
    assert scheduling(nodes_of(b)) == {"automaticRestart": True, "onHostMaintenance": "TERMINATE"}
    for n, p in templates(b).items():
        if n.startswith("nodes"):
            assert "guestAccelerators" not in p
            check_accelerators(p)


def test_spot_and_gpus_together() -> None:
    b = gpu_bundle()
    nodes_of(b).spec.provisioning_model = ProvisioningModel.SPOT
    assert validate_bundle(b) == []
    assert scheduling(nodes_of(b))["onHostMaintenance"] == "TERMINATE"


def test_terraform_guest_accelerator(tmp_path: Path) -> None:
    write_terraform(build_graph(render_cluster_boot(gpu_bundle(), Catalog.load())), "us-central1", tmp_path)
    doc = json.loads((tmp_path / "kubernetes.tf.json").read_text())
    tpls = doc["resource"]["google_compute_instance_template"]
    gpu = [t for n, t in tpls.items() if n.startswith("nodes")]
    assert gpu and all(t["guest_accelerator"] == [{"type": "nvidia-tesla-t4", "count": 1}] for t in gpu)
    assert all(t["scheduling"][0]["on_host_maintenance"] == "TERMINATE" for t in gpu)
    assert all("guest_accelerator" not in t for n, t in tpls.items() if n.startswith("control"))


@pytest.mark.parametrize(
    ("machine_type", "accelerators", "message"),
    [
        ("n1-standard-8", [GuestAccelerator(type="nvidia-tesla-t4", count=3)], "not a count GCE offers"),
        ("n1-standard-16", [GuestAccelerator(type="nvidia-tesla-v100", count=1)], "at most 12 vCPUs"),
        ("e2-standard-8", [GuestAccelerator(type="nvidia-tesla-t4", count=1)], "N1 machine types only"),
        ("n1-standard-8", [GuestAccelerator(type="nvidia-l4", count=1)], "comes with the g2 machine types"),
        ("a2-highgpu-1g", [GuestAccelerator(type="nvidia-tesla-t4", count=1)], "comes with 1 nvidia-tesla-a100"),
        ("n1-standard-8", [GuestAccelerator(type="NVIDIA T4\n${x}", count=1)], "is not a GPU model name"),
        ("n1-standard-8", [GuestAccelerator(type="nvidia-tesla-t4", count=0)], "must be 1 to 16"),
        ("n1-standard-8", [GuestAccelerator(type="nvidia-tesla-t4"), GuestAccelerator(type="nvidia-tesla-p4")],
         "one GPU model per instance"),
    ],
)  # fmt: skip
def test_bad_accelerators_name_the_field(machine_type: str, accelerators: list[GuestAccelerator], message: str
                                         ) -> None:  # fmt: skip
    found = validate_bundle(gpu_bundle(machine_type, accelerators))
    assert any("spec.guestAccelerators" in p and message in p for p in found), found
    assert not any("\n" in p for p in found)  # hostile values are shown escaped


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"machineType": "n1-standard-8", "guestAccelerators": [{"acceleratorType": "nvidia-tesla-t4",
          "acceleratorCount": 1}], "scheduling": {"onHostMaintenance": "MIGRATE"}}, "scheduling.onHostMaintenance"),
        ({"machineType": "g2-standard-8", "scheduling": {}}, "scheduling.onHostMaintenance"),
        ({"machineType": "e2-standard-8", "guestAccelerators": [{"acceleratorType": "nvidia-tesla-t4",
          "acceleratorCount": 1}], "scheduling": {"onHostMaintenance": "TERMINATE"}}, "guestAccelerators[0]"),
    ],
)  # fmt: skip
def test_the_emulator_refuses_gpu_templates_gce_refuses(props: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as err:
        check_accelerators(props)
    assert f"resource.properties.{field}" in str(err.value.body())


def test_every_catalog_image_has_a_gpu_profile() -> None:
    from kubegce.images.gpu_profiles import GPU_METHODS, gpu_profile, gpu_profiles

    catalog = Catalog.load()
    for p in catalog.profiles:
        g = gpu_profile(p)
        assert g is not None and g.method in GPU_METHODS, p.label
        assert g.supported == (p.os not in ("fedora-coreos", "sles", "opensuse-leap")), p.label
        if p.os == "cos":
            assert g.method == "cos-extensions" and g.secure_boot
        if p.package_manager == "dnf":
            assert g.method == "dnf-nvidia"
    assert all(bool(g.reason) == (not g.supported) for g in gpu_profiles().values())


@pytest.mark.parametrize(
    ("image", "refused"),
    [
        ("fedora-coreos-cloud/fedora-coreos-stable", True), ("suse-cloud/sles-15", True),
        ("ubuntu-os-cloud/ubuntu-2404-lts-amd64", False), ("cos-cloud/cos-stable", False),
        ("rocky-linux-cloud/rocky-linux-9", False), ("debian-cloud/debian-12", False),
    ],
)  # fmt: skip
def test_gpu_groups_on_images_without_a_driver_path_are_refused(image: str, refused: bool) -> None:
    from kubegce.boot.plans import choose_channels
    from kubegce.errors import SpecError

    b = gpu_bundle()
    nodes_of(b).spec.image = image
    if refused:
        with pytest.raises(SpecError) as err:
            choose_channels(b, Catalog.load())
        assert "instancegroup nodes spec.image:" in str(err.value) and "takes no GPUs here" in str(err.value)
    else:
        choose_channels(b, Catalog.load())


def test_a_gpu_group_on_an_image_the_catalog_cannot_place_is_warned() -> None:
    from kubegce.boot.plans import choose_channels

    b = gpu_bundle()
    nodes_of(b).spec.image = "my-proj/golden-linux"
    _, warnings = choose_channels(b, Catalog.load(), force=True)
    assert any("how its NVIDIA driver goes in is unknown" in w for w in warnings), warnings


def test_a_user_catalog_names_a_known_gpu_profile(tmp_path: Path) -> None:
    from kubegce.errors import UserError

    extra = tmp_path / "images.yaml"
    extra.write_text("entries:\n  - {project: my-proj, os: rhel, version: '9', families: [golden], image_prefixes: "
                     "[golden-], licenses: [], cloud_init: false, guest_agent: true, ignition: false, "
                     "package_manager: dnf, read_only_root: false, gpu: bogus}\n")  # fmt: skip
    with pytest.raises(UserError) as err:
        Catalog.load(extra)
    assert "gpu must be one of" in str(err.value)
