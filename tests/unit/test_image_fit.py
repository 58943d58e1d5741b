"""Issue 11 section 4: unknown families in known public projects and arm64/x86 mismatches are refused."""

from __future__ import annotations

import pytest

from kubegce.boot.plans import choose_channels
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from tests.conftest import make_bundle


@pytest.mark.parametrize(("image", "message"), [
    ("ubuntu-os-cloud/ubuntu-2604-lts", "did you mean"),
    ("rhel-cloud/rhel-7", "did you mean 'rhel-9' or 'rhel-8'"),
    ("debian-cloud/debian-12-arm64", "is an arm64 image but machine type"),
])  # fmt: skip
def test_refused_with_the_fix(image: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        choose_channels(make_bundle(image=image), Catalog.load())
    assert message in str(info.value) and "spec.image" in str(info.value)


def test_supported_families_are_listed() -> None:
    with pytest.raises(SpecError, match=r"supported: rhel-10, rhel-9, rhel-9-arm64, rhel-8"):
        choose_channels(make_bundle(image="rhel-cloud/rhel-7"), Catalog.load())


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
