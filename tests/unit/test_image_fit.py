"""Issue 11 section 4 and issue 21: arm64/x86 mismatches are refused; a name in a known public
project that no family or naming rule places is a warning offline (the API decides online)."""

from __future__ import annotations

import pytest

from kubegce.boot.plans import choose_channels
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle


def test_arch_mismatch_refused_with_the_fix() -> None:
    with pytest.raises(SpecError) as info:
        choose_channels(make_bundle(image="debian-cloud/debian-12-arm64"), Catalog.load())
    assert "is an arm64 image but machine type" in str(info.value) and "spec.image" in str(info.value)


@pytest.mark.parametrize(("image", "message"), [
    ("ubuntu-os-cloud/ubunt-2404-lts", "did you mean"),
    ("rhel-cloud/rhel-server-9", "did you mean 'rhel-9'"),
])  # fmt: skip
def test_unplaced_name_is_a_warning_offline(image: str, message: str) -> None:
    _, warnings = choose_channels(make_bundle(image=image), Catalog.load())
    assert any(message in w and "spec.image" in w and "matches none of its naming rules" in w for w in warnings)


def test_supported_families_are_listed() -> None:
    _, warnings = choose_channels(make_bundle(image="rhel-cloud/rhel-server-9"), Catalog.load())
    assert any("supported families: rhel-10, rhel-10-arm64, rhel-9, rhel-9-arm64, rhel-8" in w for w in warnings)


def test_older_release_is_placed_by_its_name_with_a_warning() -> None:
    groups, warnings = choose_channels(make_bundle(image="rhel-cloud/rhel-7"), Catalog.load())
    assert all(g.image.profile is not None and g.image.profile.label == "rhel 7" for g in groups)
    assert any("rhel 7 is older than any version the image catalog lists" in w for w in warnings)


def test_x86_image_on_arm_machine_and_force() -> None:
    bundle = make_bundle(image="debian-cloud/debian-12", node_size="t2a-standard-2")
    with pytest.raises(SpecError, match="x86_64 image but machine type 't2a-standard-2' is arm64"):
        choose_channels(bundle, Catalog.load())
    _, warnings = choose_channels(bundle, Catalog.load(), force=True)
    assert any("kept: --force" in w for w in warnings)


@pytest.mark.parametrize("image", ["debian-cloud/debian-12", "my-proj/golden-rhel-9",
                                   "ubuntu-os-cloud/ubuntu-2404-lts-amd64"])  # fmt: skip
def test_fitting_images_pass(image: str) -> None:
    choose_channels(make_bundle(image=image), Catalog.load())


def test_arm_image_on_arm_machine_passes() -> None:
    choose_channels(make_bundle(image="debian-cloud/debian-12-arm64", node_size="t2a-standard-2",
                                control_plane_size="t2a-standard-4"), Catalog.load())  # fmt: skip
