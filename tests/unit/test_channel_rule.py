"""The channel table, row by row, for every catalog family."""

from __future__ import annotations

import pytest

from kubegce.boot.channel import ChannelError, decide_channel
from kubegce.images.catalog import Catalog, ImageProfile, ResolvedImage
from kubegce.spec.models import BootChannel, BootstrapSpec, UserDataPart

CATALOG = Catalog.load()
FAMILIES = [(p, f) for p in CATALOG.profiles for f in p.families]
SHELL = UserDataPart(name="a.sh", type="text/x-shellscript", content="#!/bin/sh\necho a\n")
CLOUD = UserDataPart(name="b.cfg", type="text/cloud-config", content="#cloud-config\nruncmd: [[touch, /x]]\n")


def resolved(profile: ImageProfile, family: str) -> ResolvedImage:
    image = CATALOG.resolve(f"{profile.project}/{family}")
    assert image.profile == profile
    return image


def ids(item: tuple[ImageProfile, str]) -> str:
    return f"{item[0].project}/{item[1]}"


@pytest.mark.parametrize("item", FAMILIES, ids=ids)
def test_no_parts_or_shell_parts(item: tuple[ImageProfile, str]) -> None:
    profile, family = item
    for parts in ([], [SHELL]):
        plan = decide_channel(resolved(profile, family), BootstrapSpec(additional_user_data=parts), where="ig")
        if profile.ignition:
            assert (plan.channel, plan.user_data_format) == (BootChannel.USER_DATA, "ignition")
        else:
            assert profile.guest_agent
            assert plan.channel == BootChannel.STARTUP_SCRIPT
            assert plan.user_data_format == ""  # shell parts never travel as raw MIME
        assert plan.shell_parts == tuple(parts)


@pytest.mark.parametrize("item", FAMILIES, ids=ids)
def test_cloud_config_parts(item: tuple[ImageProfile, str]) -> None:
    profile, family = item
    image = resolved(profile, family)
    spec = BootstrapSpec(additional_user_data=[SHELL, CLOUD])
    if profile.ignition:
        with pytest.raises(ChannelError, match="Ignition"):
            decide_channel(image, spec, where="ig")
        return
    if profile.cloud_init:
        plan = decide_channel(image, spec, where="ig")
        assert (plan.channel, plan.user_data_format, plan.install_cloud_init) == (BootChannel.USER_DATA, "mime", False)
        return
    with pytest.raises(ChannelError) as err:
        decide_channel(image, spec, where="ig")
    text = str(err.value)
    assert profile.label in text and "'b.cfg'" in text
    assert "installCloudInit: true" in text and "text/x-shellscript" in text
    plan = decide_channel(image, spec.model_copy(update={"install_cloud_init": True}), where="ig")
    assert (plan.channel, plan.user_data_format, plan.install_cloud_init) == (BootChannel.STARTUP_SCRIPT, "mime", True)
    assert plan.metadata_channel == "startup-script+install-cloud-init"


@pytest.mark.parametrize("item", FAMILIES, ids=ids)
def test_explicit_channel_the_image_cannot_run(item: tuple[ImageProfile, str]) -> None:
    profile, family = item
    image = resolved(profile, family)
    for channel in (BootChannel.STARTUP_SCRIPT, BootChannel.USER_DATA, BootChannel.BOTH):
        spec = BootstrapSpec(channel=channel)
        runnable = {
            BootChannel.STARTUP_SCRIPT: profile.guest_agent,
            BootChannel.USER_DATA: profile.cloud_init or profile.ignition,
            BootChannel.BOTH: profile.guest_agent and not profile.ignition,
        }[channel]
        if runnable:
            assert decide_channel(image, spec, where="ig").channel == channel
        else:
            with pytest.raises(ChannelError, match="--force"):
                decide_channel(image, spec, where="ig")
            assert decide_channel(image, spec, where="ig", force=True).channel == channel


def test_unknown_image_gets_both_with_a_pinning_hint() -> None:
    image = CATALOG.resolve("my-proj/my-golden-image")
    assert image.profile is None
    plan = decide_channel(image, BootstrapSpec(), where="ig")
    assert plan.channel == BootChannel.BOTH and plan.user_data_format == "mime"
    assert "spec.bootstrap.channel" in plan.warnings[0]
    pinned = decide_channel(image, BootstrapSpec(channel=BootChannel.STARTUP_SCRIPT), where="ig")
    assert pinned.channel == BootChannel.STARTUP_SCRIPT and not pinned.warnings


def test_every_catalog_family_resolves_in_every_form() -> None:
    for profile, family in FAMILIES:
        for ref in (f"{profile.project}/{family}", f"projects/{profile.project}/global/images/family/{family}",
                    f"https://www.googleapis.com/compute/v1/projects/{profile.project}/global/images/family/{family}",
                    f"family/{family}"):  # fmt: skip
            assert CATALOG.resolve(ref).profile == profile, ref
        name = f"{profile.image_prefixes[0]}v20250101"
        assert CATALOG.resolve(f"{profile.project}/{name}").profile == profile


def test_custom_image_is_placed_by_license_through_a_reader() -> None:
    from kubegce.images.catalog import ImageInfo

    class Reader:
        def get_image(self, project: str, name: str) -> ImageInfo | None:
            return ImageInfo(
                project,
                name,
                "",
                ("https://www.googleapis.com/compute/v1/projects/rhel-cloud/global/licenses/rhel-9-server",),
            )  # noqa: E501

        def get_from_family(self, project: str, family: str) -> ImageInfo | None:
            return None

    image = CATALOG.resolve("my-proj/golden-rhel", Reader())
    assert image.profile is not None and image.profile.os == "rhel" and image.how == "image licenses"
    plan = decide_channel(image, BootstrapSpec(), where="ig")
    assert plan.channel == BootChannel.STARTUP_SCRIPT
