"""Choosing how a node receives its bootstrap: the channel rule.

| image                         | additional user data          | channel                                   |
|-------------------------------|-------------------------------|-------------------------------------------|
| guest agent                   | none, or shell parts only     | startup-script (parts run after bootstrap)|
| cloud-init and guest agent    | any non-shell part            | user-data (MIME, bootstrap a shell part)  |
| guest agent, no cloud-init    | non-shell parts + installCI   | startup-script installs cloud-init + MIME |
| guest agent, no cloud-init    | non-shell parts, no installCI | error naming image, part and both fixes   |
| Ignition (Fedora CoreOS)      | any                           | user-data holding Ignition v3             |
| unknown                       | any                           | both, with a warning                      |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubegce.images.catalog import ImageProfile, ResolvedImage
from kubegce.spec.models import BootChannel, BootstrapSpec, UserDataPart

SHELL_TYPES = {"text/x-shellscript"}


class ChannelError(Exception):
    """The spec asks for something the image cannot run."""


def is_shell_part(part: UserDataPart) -> bool:
    if part.type in SHELL_TYPES:
        return True
    return part.type in ("", "text/plain") and part.content.startswith("#!")


@dataclass(frozen=True)
class ChannelDecision:
    """How one instance group's nodes get initialized."""

    channel: BootChannel  # startup-script | user-data | both (never auto)
    user_data_format: str  # "" | "mime" | "ignition"
    install_cloud_init: bool
    shell_parts: tuple[UserDataPart, ...]
    cloud_init_parts: tuple[UserDataPart, ...]
    reason: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def uses_startup_script(self) -> bool:
        return self.channel in (BootChannel.STARTUP_SCRIPT, BootChannel.BOTH)

    @property
    def metadata_channel(self) -> str:
        """The value of the `kubegce-boot-channel` metadata key."""
        if self.install_cloud_init:
            return "startup-script+install-cloud-init"
        return self.channel.value


def _capable(profile: ImageProfile, channel: BootChannel) -> str | None:
    """Why the image cannot run this channel, or None."""
    if channel == BootChannel.STARTUP_SCRIPT and not profile.guest_agent:
        return f"{profile.label} has no guest agent, so startup-script never runs"
    if channel == BootChannel.USER_DATA and not (profile.cloud_init or profile.ignition):
        return f"{profile.label} has no cloud-init, so user-data is never read"
    if channel == BootChannel.BOTH and profile.ignition:
        return f"{profile.label} reads user-data as Ignition and has no guest agent"
    return None


def decide_channel(image: ResolvedImage, spec: BootstrapSpec, *, where: str, force: bool = False) -> ChannelDecision:
    parts = spec.additional_user_data
    shell = tuple(p for p in parts if is_shell_part(p))
    other = tuple(p for p in parts if not is_shell_part(p))
    profile = image.profile
    requested = spec.channel

    if profile is None:
        channel = requested if requested != BootChannel.AUTO else BootChannel.BOTH
        warn = (
            f"{where}: image '{image.ref}' is not in the catalog, so kubegce sends the bootstrap through "
            "both startup-script and user-data (it runs once). Pin it with "
            "spec.bootstrap.channel: startup-script (guest agent) or user-data (cloud-init), "
            "or run `kubegce images probe`."
        )
        fmt = "mime" if channel in (BootChannel.USER_DATA, BootChannel.BOTH) else ""
        return ChannelDecision(
            channel,
            fmt,
            spec.install_cloud_init,
            shell,
            other,
            "image unknown",
            (warn,) if requested == BootChannel.AUTO else (),
        )

    if profile.ignition:
        if other:
            names = ", ".join(p.name for p in other)
            raise ChannelError(
                f"{where}: image '{image.ref}' ({profile.label}) boots with Ignition, which cannot run "
                f"the cloud-config part(s) {names}; turn them into text/x-shellscript parts "
                "(they run after the bootstrap) or choose an image with cloud-init"
            )
        if requested not in (BootChannel.AUTO, BootChannel.USER_DATA) and not force:
            raise ChannelError(
                f"{where}: spec.bootstrap.channel {requested.value}: {_capable(profile, requested)}; "
                "use channel: auto or user-data (or --force to keep it)"
            )
        channel = BootChannel.USER_DATA if requested == BootChannel.AUTO else requested
        return ChannelDecision(channel, "ignition", False, shell, (), "image boots with Ignition")

    if requested != BootChannel.AUTO:
        why = _capable(profile, requested)
        if why and not force:
            raise ChannelError(
                f"{where}: spec.bootstrap.channel {requested.value}: {why}; use channel: auto (or --force to keep it)"
            )
        needs_ci = bool(other) and not profile.cloud_init
        if needs_ci and not spec.install_cloud_init and not force:
            raise _no_cloud_init_error(image, profile, other, where)
        install = needs_ci and spec.install_cloud_init and requested != BootChannel.USER_DATA
        fmt = "mime" if (requested != BootChannel.STARTUP_SCRIPT or other) else ""
        return ChannelDecision(requested, fmt, install, shell, other, "channel pinned in spec")

    if not other:
        if profile.guest_agent:
            return ChannelDecision(BootChannel.STARTUP_SCRIPT, "", False, shell, (), "guest agent runs startup-script")
        return ChannelDecision(BootChannel.USER_DATA, "mime", False, shell, (), "cloud-init only image")
    if profile.cloud_init:
        return ChannelDecision(
            BootChannel.USER_DATA, "mime", False, shell, other,
            "cloud-config parts need cloud-init, which the image has",
        )  # fmt: skip
    if spec.install_cloud_init:
        return ChannelDecision(
            BootChannel.STARTUP_SCRIPT, "mime", True, shell, other,
            "startup-script installs cloud-init for the cloud-config parts",
        )  # fmt: skip
    raise _no_cloud_init_error(image, profile, other, where)


def _no_cloud_init_error(
    image: ResolvedImage, profile: ImageProfile, other: tuple[UserDataPart, ...], where: str
) -> ChannelError:
    names = ", ".join(f"'{p.name}' ({p.type})" for p in other)
    return ChannelError(
        f"{where}: image '{image.ref}' ({profile.label}) has no cloud-init, so additional user data "
        f"part {names} would never run. Fix: set spec.bootstrap.installCloudInit: true (kubegce "
        "installs cloud-init with " + profile.package_manager + " and runs it on the first boot), "
        "or rewrite the part as text/x-shellscript (runs after the bootstrap)."
    )
