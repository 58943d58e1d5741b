"""The image catalog and image resolution.

A reference (``project/family``, ``project/image``, a selfLink, ``family/NAME``) resolves to a
:class:`ResolvedImage`: the ``sourceImage`` to boot and the :class:`ImageProfile` that says which
init programs the image has. An image the catalog cannot place is ``unknown`` (profile None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

import yaml

from kubegce.errors import UserError

DEFAULT_CNI_BIN_DIR = "/opt/cni/bin"


@dataclass(frozen=True)
class ImageProfile:
    project: str
    os: str
    version: str
    families: tuple[str, ...]
    image_prefixes: tuple[str, ...]
    licenses: tuple[str, ...]
    cloud_init: bool
    guest_agent: bool
    ignition: bool
    package_manager: str
    read_only_root: bool
    bin_dir: str = "/usr/local/bin"
    # where CNI plugins go: the pod network's DaemonSet installs its own plugins into
    # /opt/cni/bin by hostPath, so only an image whose /opt is read-only (COS) uses another dir
    cni_bin_dir: str = DEFAULT_CNI_BIN_DIR
    volatile_etc: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.os} {self.version}"


@dataclass(frozen=True)
class ImageInfo:
    """What the Compute API says of an image resource."""

    project: str
    name: str
    family: str = ""
    licenses: tuple[str, ...] = ()


class ImageReader(Protocol):
    def get_image(self, project: str, name: str) -> ImageInfo | None: ...

    def get_from_family(self, project: str, family: str) -> ImageInfo | None: ...


@dataclass(frozen=True)
class ResolvedImage:
    ref: str
    project: str
    family: str | None
    name: str | None
    profile: ImageProfile | None
    how: str
    evidence: tuple[str, ...] = field(default=())

    @property
    def source_image(self) -> str:
        if self.name:
            return f"projects/{self.project}/global/images/{self.name}"
        return f"projects/{self.project}/global/images/family/{self.family}"

    @property
    def known(self) -> bool:
        return self.profile is not None


_SELF_LINK = re.compile(
    r"^(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta|alpha)/)?"
    r"projects/(?P<project>[^/]+)/global/images/(?:family/(?P<family>[^/]+)|(?P<name>[^/]+))$"
)
_SHORT = re.compile(r"^(?P<project>[a-z][-a-z0-9.:]*)/(?:family/)?(?P<rest>[a-z][-a-z0-9]*)$")
_FAMILY_ONLY = re.compile(r"^family/(?P<family>[a-z][-a-z0-9]*)$")


class Catalog:
    def __init__(self, profiles: list[ImageProfile]) -> None:
        self.profiles = profiles
        self._by_family = {(p.project, f): p for p in profiles for f in p.families}

    @classmethod
    def load(cls, extra: Path | None = None) -> Catalog:
        text = resources.files("kubegce.images").joinpath("catalog.yaml").read_text()
        entries = list(yaml.safe_load(text)["entries"])
        if extra is not None and extra.exists():
            entries = list(yaml.safe_load(extra.read_text()).get("entries", [])) + entries
        profiles = []
        for e in entries:
            for key in ("families", "image_prefixes", "licenses"):
                e[key] = tuple(e.get(key, ()))
            profiles.append(ImageProfile(**e))
        return cls(profiles)

    @property
    def projects(self) -> set[str]:
        return {p.project for p in self.profiles}

    def by_family(self, project: str, family: str) -> ImageProfile | None:
        return self._by_family.get((project, family))

    def by_image_name(self, project: str, name: str) -> ImageProfile | None:
        matches = [
            (len(prefix), p)
            for p in self.profiles
            if p.project == project
            for prefix in p.image_prefixes
            if name.startswith(prefix)
        ]
        return max(matches, key=lambda m: m[0])[1] if matches else None

    def by_license(self, licenses: tuple[str, ...]) -> ImageProfile | None:
        for lic in licenses:
            m = re.search(r"projects/([^/]+)/global/licenses/([^/]+)$", lic)
            project, name = (m.group(1), m.group(2)) if m else (None, lic.rsplit("/", 1)[-1])
            for p in self.profiles:
                if name in p.licenses and (project is None or project == p.project):
                    return p
        return None

    def find_family_anywhere(self, family: str) -> ImageProfile | None:
        return next((p for p in self.profiles if family in p.families), None)

    def resolve(self, ref: str, reader: ImageReader | None = None) -> ResolvedImage:
        ref = ref.strip()
        project: str | None = None
        family: str | None = None
        name: str | None = None
        if m := _SELF_LINK.match(ref):
            project, family, name = m.group("project"), m.group("family"), m.group("name")
        elif m := _FAMILY_ONLY.match(ref):
            family = m.group("family")
        elif m := _SHORT.match(ref):
            project, rest = m.group("project"), m.group("rest")
            if "/family/" in ref or self.by_family(project, rest):
                family = rest
            else:
                name = rest
        elif re.match(r"^[a-z][-a-z0-9]*$", ref):
            family = ref
        else:
            raise UserError(
                f"image '{ref}' is not an image reference; write PROJECT/FAMILY "
                "(rocky-linux-cloud/rocky-linux-9), PROJECT/IMAGE or a selfLink"
            )
        if project is None:
            assert family is not None
            profile = self.find_family_anywhere(family)
            if profile is None:
                raise UserError(
                    f"image '{ref}': family '{family}' is not in the catalog, so its project is unknown; "
                    "write PROJECT/FAMILY"
                )
            return ResolvedImage(ref, profile.project, family, None, profile, "catalog family")
        if family:
            profile = self.by_family(project, family)
            if profile:
                return ResolvedImage(ref, project, family, None, profile, "catalog family")
        if name:
            profile = self.by_image_name(project, name)
            if profile:
                return ResolvedImage(ref, project, None, name, profile, "catalog image name")
        if reader is not None:
            info = reader.get_image(project, name) if name else None
            if info is None:
                info = reader.get_from_family(project, family or name or "")
            if info is not None:
                profile = self.by_license(info.licenses)
                how = "image licenses"
                if profile is None and info.family:
                    profile = self.by_family(info.project, info.family) or self.find_family_anywhere(info.family)
                    how = "image family"
                if profile is not None:
                    evidence = tuple(info.licenses) + ((f"family={info.family}",) if info.family else ())
                    return ResolvedImage(ref, project, family, name, profile, how, evidence)
        return ResolvedImage(ref, project, family, name, None, "unknown")
