"""Per-image GPU profiles: how the NVIDIA driver and the container toolkit go onto a kind of image
(catalog.yaml ``gpu_profiles`` and ``gpu_toolkit``; docs/gpus.md). Data only: boot/gpu.py renders a
profile into a node's config and lib/gpu.sh runs it, with no per-distribution branches of its own.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import yaml

from kubegce.errors import UserError


class _Image(Protocol):  # catalog.ImageProfile (which imports this module)
    @property
    def gpu(self) -> str: ...


GPU_METHODS = ("cos-extensions", "apt", "dnf-nvidia", "none")
PINS = ("exact", "branch", "none")
TOOLKITS = ("packages", "cdi")
MODULE_KINDS = ("open", "proprietary")
# What a profile's package names, repository lines and patterns may hold: they reach the node as
# shell words (quoted) and package-manager arguments; the whole string must match.
PACKAGE_WORD = re.compile(r"[A-Za-z0-9@{}+*=_.:/-]+")
REPO_LINE = re.compile(r"\+[a-z-]+|https://[A-Za-z0-9@{}._/-]+(?: [A-Za-z0-9@{}._/-]+)*")
PATH_RE = re.compile(r"/(?:[A-Za-z0-9_][A-Za-z0-9._-]*/?)*")


@dataclass(frozen=True)
class GpuProfile:
    """How the NVIDIA driver goes onto a kind of image."""

    name: str
    method: str  # cos-extensions | apt | dnf-nvidia | none
    secure_boot: bool  # its modules are signed by a key the image trusts
    pin: str  # exact | branch | none: what spec.gpu.driverVersion can choose
    driver: dict[str, tuple[str, ...]]  # module kind -> packages (or cos-extensions arguments)
    headers: tuple[str, ...]
    repos: tuple[str, ...]
    lock: str
    toolkit: str  # packages | cdi
    driver_root: str
    source: str
    verified: str
    reason: str = ""  # method none: why kubegce refuses GPU groups on the image
    release_branch: tuple[tuple[str, str], ...] = ()  # pin none: (image version, the branch it ships)

    def branch_of(self, version: str) -> str | None:
        """The branch the image's release ships (pin none), or None when unknown."""
        return dict(self.release_branch).get(version)

    @property
    def supported(self) -> bool:
        return self.method != "none"

    @property
    def pinned(self) -> bool:
        return self.pin != "none"


@dataclass(frozen=True)
class GpuToolkit:
    """The NVIDIA container toolkit's packages and repositories (catalog.yaml ``gpu_toolkit``)."""

    packages: tuple[str, ...]
    apt_source: str
    apt_key: str
    dnf_repo: str
    runtime: str  # the nvidia runtime binary containerd runs


def _words(at: str, value: Any, pattern: re.Pattern[str] = PACKAGE_WORD) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and pattern.fullmatch(v) for v in value):
        raise UserError(f"the built-in catalog: {at}: a list of package words")
    return tuple(value)


def _profile(name: str, v: dict[str, Any]) -> GpuProfile:
    at = f"gpu_profiles.{name}"
    driver = v.get("driver") or {}
    if set(driver) != set(MODULE_KINDS):
        raise UserError(f"the built-in catalog: {at}.driver: give {' and '.join(MODULE_KINDS)}")
    profile = GpuProfile(
        str(name), str(v["method"]), bool(v["secure_boot"]), str(v["pin"]),
        {k: _words(f"{at}.driver.{k}", driver[k]) for k in MODULE_KINDS}, _words(f"{at}.headers", v["headers"]),
        _words(f"{at}.repos", v["repos"], REPO_LINE), str(v["lock"]), str(v["toolkit"]), str(v["driver_root"]),
        str(v["source"]), str(v["verified"]), str(v.get("reason", "")),
        tuple((str(k), str(b)) for k, b in (v.get("release_branch") or {}).items()),
    )  # fmt: skip
    if profile.method not in GPU_METHODS or (profile.method == "none") != bool(profile.reason):
        raise UserError(f"the built-in catalog: {at}: a method of {GPU_METHODS}, and a reason "
                        "exactly when the method is none")  # fmt: skip
    if profile.pin not in PINS or profile.toolkit not in TOOLKITS or not PATH_RE.fullmatch(profile.driver_root):
        raise UserError(
            f"the built-in catalog: {at}: pin one of {PINS}, toolkit one of {TOOLKITS}, an absolute driver_root"
        )
    if not all(re.fullmatch(r"[1-9][0-9]{2}", b) for _, b in profile.release_branch):
        raise UserError(f"the built-in catalog: {at}.release_branch: image version -> a driver branch (535)")
    if profile.lock and not PACKAGE_WORD.fullmatch(profile.lock):
        raise UserError(f"the built-in catalog: {at}.lock: a package pattern")
    if profile.supported and not all(profile.driver.values()):
        raise UserError(f"the built-in catalog: {at}.driver: packages for both kinds of module")
    return profile


@functools.cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(resources.files("kubegce.images").joinpath("catalog.yaml").read_text())
    return data


@functools.cache
def gpu_profiles() -> dict[str, GpuProfile]:
    """The GPU profiles of the built-in catalog, checked: a known method, the fields each needs."""
    return {str(name): _profile(str(name), v) for name, v in _data()["gpu_profiles"].items()}


@functools.cache
def gpu_toolkit() -> GpuToolkit:
    t = _data()["gpu_toolkit"]
    return GpuToolkit(_words("gpu_toolkit.packages", t["packages"]), str(t["apt"]["source"]), str(t["apt"]["key"]),
                      str(t["dnf"]["repo"]), str(t["runtime"]))  # fmt: skip


def gpu_profile(profile: _Image | None) -> GpuProfile | None:
    """The image's GPU profile; None for an image the catalog cannot place."""
    return gpu_profiles()[profile.gpu] if profile is not None else None
