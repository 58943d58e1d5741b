"""The image catalog and image resolution.

A reference (``project/family``, ``project/image``, a selfLink, ``family/NAME``) resolves to a
:class:`ResolvedImage`: the ``sourceImage`` to boot and the :class:`ImageProfile` that says which
init programs the image has. An image the catalog cannot place is ``unknown`` (profile None).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from kubegce.errors import UserError
from kubegce.images.gpu_profiles import gpu_profiles
from kubegce.spec import yamlio

DEFAULT_CNI_BIN_DIR = "/opt/cni/bin"
# A path a catalog entry puts on the node: absolute, only safe characters, no `..` segment. Such
# paths reach shell and sed programs on the node; the whole string must match.
NODE_PATH = re.compile(r"/(?:[A-Za-z0-9_][A-Za-z0-9._-]*/?)*")
NODE_PATH_FIELDS = ("bin_dir", "cni_bin_dir")

# An image URL or selfLink: projects/P/global/images/NAME or .../images/family/FAMILY, optionally
# behind the Compute API base. The one pattern for image URLs (catalog, emulator, diagnose).
# Every pattern here is matched against the whole string (fullmatch, or search with `\Z`): `$`
# would also match before a trailing newline, and such a value reaches URLs and the node.
_SEGMENT = r"[^/\s]+"
IMAGE_URL = re.compile(
    r"(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta|alpha)/)?"
    rf"projects/(?P<project>{_SEGMENT})/global/images/(?:family/(?P<family>{_SEGMENT})|(?P<name>{_SEGMENT}))"
)
IMAGE_URL_TAIL = re.compile(
    rf"(?:\A|/)projects/(?P<project>{_SEGMENT})/global/images/(?:family/(?P<family>{_SEGMENT})|(?P<name>{_SEGMENT}))\Z"
)
LICENSE_URL_TAIL = re.compile(rf"projects/({_SEGMENT})/global/licenses/({_SEGMENT})\Z")
# Catalog entry fields that name Compute resources (they go into image URLs and family lookups).
PROJECT_RE = re.compile(r"[a-z][-a-z0-9.:]{0,99}")
RESOURCE_NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
IMAGE_PREFIX_RE = re.compile(r"[a-z][-a-z0-9]{0,62}")
LICENSE_RE = re.compile(
    rf"(?:(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta|alpha)/)?projects/{PROJECT_RE.pattern}"
    rf"/global/licenses/)?{RESOURCE_NAME_RE.pattern}"
)


def parse_image_url(url: str) -> tuple[str, str | None, str | None] | None:
    """(project, family, name) of an image URL ending in projects/P/global/images/..., or None."""
    m = IMAGE_URL_TAIL.search(url)
    return (m.group("project"), m.group("family"), m.group("name")) if m else None


@dataclass(frozen=True)
class PackageManager:
    """What the bootstrap installs with a package manager, and the command that shows it is there."""

    name: str
    tool: str
    host_packages: tuple[str, ...]


@functools.cache
def package_managers() -> dict[str, PackageManager]:
    """The package managers of the built-in catalog (catalog.yaml ``package_managers``)."""
    data = yaml.safe_load(resources.files("kubegce.images").joinpath("catalog.yaml").read_text())
    return {
        name: PackageManager(name, str(v["tool"]), tuple(str(p) for p in v["host_packages"]))
        for name, v in data["package_managers"].items()
    }


def package_manager(name: str) -> PackageManager:
    return package_managers()[name]


def package_manager_of_tools(tools: list[str] | tuple[str, ...]) -> str:
    """The package manager whose command is among ``tools`` (what an image probe saw), or none."""
    return next((pm.name for pm in package_managers().values() if pm.tool and pm.tool in tools), "none")


@dataclass(frozen=True)
class InitPrograms:
    """Which of the programs that read instance metadata at boot an image runs."""

    guest_agent: bool  # Google's guest environment: runs startup-script
    cloud_init: bool  # reads user-data
    ignition: bool  # reads user-data, first boot only


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
    gpu: str = "none"  # its GPU profile (catalog.yaml gpu_profiles): how the NVIDIA driver goes in
    note: str = ""
    # how the entry was checked on the catalog's `checked` date: search | inferred | earlier, then
    # optionally `:` or `;` and what exactly
    verified: str = ""

    @property
    def label(self) -> str:
        return f"{self.os} {self.version}"

    @property
    def init_programs(self) -> InitPrograms:
        return InitPrograms(guest_agent=self.guest_agent, cloud_init=self.cloud_init, ignition=self.ignition)

    @property
    def cos_file_system(self) -> bool:
        """COS's disk: a read-only root and an /etc rebuilt on every boot."""
        return self.read_only_root and self.volatile_etc


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
    # what resolution wants the user to know (a version placed by its name only); not a refusal
    warnings: tuple[str, ...] = field(default=())

    @property
    def source_image(self) -> str:
        if self.name:
            return f"projects/{self.project}/global/images/{self.name}"
        return f"projects/{self.project}/global/images/family/{self.family}"

    @property
    def known(self) -> bool:
        return self.profile is not None


NOT_FOUND = "not found"  # ResolvedImage.how: the Compute API answered 404 for the image and the family
_SHORT = re.compile(r"(?P<project>[a-z][-a-z0-9.:]*)/(?:family/)?(?P<rest>[a-z][-a-z0-9]*)")
_FAMILY_ONLY = re.compile(r"family/(?P<family>[a-z][-a-z0-9]*)")
_BARE_FAMILY = re.compile(r"[a-z][-a-z0-9]*")


def _user_profiles(path: Path) -> list[ImageProfile]:
    source = f"image catalog {path}"
    try:  # read with the spec files' bounds (size, encoding, depth, aliases): the file is a user's
        docs = yamlio.load_all(yamlio.read_text_file(path, source), source)
    except UserError as exc:
        raise UserError(f"{exc}; cannot be read as YAML: fix or remove the file") from None
    if len(docs) > 1:
        raise UserError(f"{source}: holds {len(docs)} YAML documents; write one mapping with an `entries:` list")
    data = docs[0] if docs else None
    if data is None:
        return []
    entries = data.get("entries", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UserError(f"image catalog {path}: write a mapping with an `entries:` list (see images/catalog.yaml)")
    return [_profile(e, f"image catalog {path}", i) for i, e in enumerate(entries)]


def _profile(entry: Any, where: str, index: int) -> ImageProfile:
    """One catalog entry as an ImageProfile, checked: known fields, the required ones, node paths."""
    at = f"{where}: entry {index + 1}"
    if not isinstance(entry, dict):
        raise UserError(f"{at}: write a mapping of fields (project, os, families, ...)")
    known = {f.name for f in fields(ImageProfile)}
    unknown = sorted(str(k) for k in entry if k not in known)
    if unknown:
        raise UserError(f"{at}: unknown field(s) {', '.join(unknown)[:200]}; known: {', '.join(sorted(known))}")
    e = dict(entry)
    for key in ("families", "image_prefixes", "licenses"):
        value = e.get(key, ())
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{at}: {key} must be a list of strings")
        e[key] = tuple(value)
    missing = [m for m in _REQUIRED if m not in e]
    if missing:
        raise UserError(f"{at}: missing field(s) {', '.join(missing)}")
    _check_names(at, e)
    pm = e.get("package_manager")
    if pm not in package_managers():
        raise UserError(f"{at}: package_manager must be one of {', '.join(package_managers())}")
    if e.get("gpu", "none") not in gpu_profiles():
        raise UserError(f"{at}: gpu must be one of {', '.join(gpu_profiles())}")
    for key in NODE_PATH_FIELDS:
        value = e.get(key)
        if value is not None and not (isinstance(value, str) and NODE_PATH.fullmatch(value) and len(value) <= 200):
            raise UserError(
                f"{at}: {key} must be an absolute path of letters, digits and . _ - / (like /opt/cni/bin); "
                f"got {str(value)[:80]!r}"
            )
    try:
        return ImageProfile(**e)
    except TypeError as exc:
        raise UserError(f"{at}: {exc}") from None


_NAME_FIELDS = (
    ("project", PROJECT_RE, "a project id like rocky-linux-cloud"),
    ("families", RESOURCE_NAME_RE, "image family names like rocky-linux-9"),
    ("image_prefixes", IMAGE_PREFIX_RE, "image name prefixes like rocky-linux-9-"),
    ("licenses", LICENSE_RE, "license names like rhel-9-server, or their projects/P/global/licenses/NAME URLs"),
)


def _check_names(at: str, entry: dict[str, Any]) -> None:
    """The entry's Compute names, each matched as a whole string (no trailing newline)."""
    for key, pattern, what in _NAME_FIELDS:
        value = entry.get(key)
        if value is None:
            continue
        values = [value] if key == "project" else list(value)
        for i, v in enumerate(values):
            if not (isinstance(v, str) and pattern.fullmatch(v)):
                where = key if key == "project" else f"{key}[{i}]"
                raise UserError(f"{at}: {where} must be {what}; got {str(v)[:80]!r}")


_REQUIRED = ("project", "os", "version", "cloud_init", "guest_agent", "ignition", "package_manager", "read_only_root")
VERIFIED = ("search", "inferred", "earlier", "")

_VERSION_KEY = re.compile(r"\d+(?:\.\d+)*")


def version_key(version: str) -> tuple[int, ...] | None:
    """A numeric version (26.04, 10, 125) as a tuple to compare; None for a stream (stable)."""
    return tuple(int(x) for x in version.split(".")) if _VERSION_KEY.fullmatch(version) else None


@dataclass(frozen=True)
class NamingRule:
    """How a public project names a family and its dated images (catalog.yaml ``naming``)."""

    project: str
    os: str
    version: str  # a template over the patterns' named groups, or a fixed stream name
    family: re.Pattern[str] | None
    image: re.Pattern[str] | None
    newest: str = ""

    def version_of(self, text: str, kind: str) -> str | None:
        """The version ``text`` (a family or an image name, by ``kind``) means, or None."""
        pattern = self.family if kind == "family" else self.image
        m = pattern.fullmatch(text) if pattern is not None else None
        return self.version.format(**m.groupdict()) if m else None


_RULE_FIELDS = {"project", "os", "version", "family", "image", "newest"}


def _rule(entry: Any, index: int, profiles: list[ImageProfile]) -> NamingRule:
    """One naming rule of the built-in catalog, checked (its patterns compile, entries exist)."""
    at = f"the built-in catalog: naming rule {index + 1}"
    if not isinstance(entry, dict) or set(entry) - _RULE_FIELDS or not {"project", "os", "version"} <= set(entry):
        raise UserError(f"{at}: write a mapping of {', '.join(sorted(_RULE_FIELDS))} (project, os, version required)")
    patterns: dict[str, re.Pattern[str] | None] = {}
    for key in ("family", "image"):
        try:
            patterns[key] = re.compile(str(entry[key])) if entry.get(key) else None
        except re.error as exc:
            raise UserError(f"{at}: {key} is not a pattern: {exc}") from None
    project, os_id = str(entry["project"]), str(entry["os"])
    if not any(p.project == project and p.os == os_id for p in profiles):
        raise UserError(f"{at}: no entry of project {project} with os {os_id}")
    return NamingRule(project, os_id, str(entry["version"]), patterns["family"], patterns["image"],
                      str(entry.get("newest", "")))  # fmt: skip


@dataclass(frozen=True)
class Placed:
    """A name placed by a naming rule: the profile, and the warning when its version is assumed."""

    profile: ImageProfile
    warning: str = ""


@functools.cache
def _built_in() -> tuple[tuple[ImageProfile, ...], tuple[NamingRule, ...], str]:
    data = yaml.safe_load(resources.files("kubegce.images").joinpath("catalog.yaml").read_text())
    profiles = [_profile(e, "the built-in catalog", i) for i, e in enumerate(data["entries"])]
    rules = tuple(_rule(r, i, profiles) for i, r in enumerate(data.get("naming") or ()))
    return tuple(profiles), rules, str(data.get("checked", ""))


class Catalog:
    def __init__(self, profiles: list[ImageProfile], rules: tuple[NamingRule, ...] = (), checked: str = "") -> None:
        self.profiles = profiles
        self.rules = rules
        self.checked = checked  # the date the built-in entries and rules were checked
        self._by_family = {(p.project, f): p for p in profiles for f in p.families}

    @classmethod
    def load(cls, extra: Path | None = None) -> Catalog:
        """The built-in catalog, after the entries of a user catalog file ``extra`` (if it exists);
        every entry is checked, so a bad user catalog gets a message naming the entry and field."""
        built_in, rules, checked = _built_in()
        profiles = list(built_in)
        for p in profiles:
            if p.verified.split(";")[0].split(":")[0] not in VERIFIED:
                raise UserError(
                    f"the built-in catalog: {p.project} {p.label}: verified must start with one of {VERIFIED}"
                )
        if extra is not None and extra.exists():
            profiles = _user_profiles(extra) + profiles
        return cls(profiles, rules, checked)

    def by_family(self, project: str, family: str) -> ImageProfile | None:
        return self._by_family.get((project, family))

    def place_by_rule(self, project: str, text: str, kind: str) -> Placed | None:
        """``text`` (a family or an image name, by ``kind``) placed by its project's naming rule:
        the entry of that OS and version, or for a version no entry lists the nearest older entry's
        profile with that version (the oldest entry's if none is older), and a warning when the
        version is newer or older than any the catalog has seen. None when no rule matches."""
        for rule in self.rules:
            if rule.project != project or (version := rule.version_of(text, kind)) is None:
                continue
            same = [p for p in self.profiles if p.project == project and p.os == rule.os]
            exact = next((p for p in same if p.version == version), None)
            if exact is not None:
                return Placed(exact)
            numbered = sorted((k, p) for p in same if (k := version_key(p.version)) is not None)
            key = version_key(version)
            older = [p for k, p in numbered if key is not None and k <= key]
            template = older[-1] if older else (numbered[0][1] if numbered else same[0])
            seen = [(k, p.version) for k, p in numbered]
            seen += [(k, rule.newest) for k in [version_key(rule.newest)] if k is not None]
            warning = ""
            label = f"{rule.os} {version}"
            when = f", checked {self.checked}" if self.checked else ""
            if key is not None and seen and key > max(seen)[0]:
                warning = (f"{label} is newer than any version the image catalog has seen (newest {max(seen)[1]}{when}); "
                           f"placed by its name with the profile of {template.label}")  # fmt: skip
            elif key is not None and numbered and key < numbered[0][0]:
                warning = (f"{label} is older than any version the image catalog lists (oldest {numbered[0][1].version}"
                           f"{when}); placed by its name with the profile of {template.label}")  # fmt: skip
            return Placed(replace(template, version=version), warning)
        return None

    def by_image_name(self, project: str, name: str) -> ImageProfile | None:
        """The profile of a dated image name: by its project's naming rule, else by a prefix."""
        placed = self.place_by_rule(project, name, "image")
        if placed is not None:
            return placed.profile
        return self._by_prefix(project, name)

    def _by_prefix(self, project: str, name: str) -> ImageProfile | None:
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
            m = LICENSE_URL_TAIL.search(lic)
            project, name = (m.group(1), m.group(2)) if m else (None, lic.rsplit("/", 1)[-1])
            for p in self.profiles:
                if name in p.licenses and (project is None or project == p.project):
                    return p
        return None

    def find_family_anywhere(self, family: str) -> ImageProfile | None:
        return next((p for p in self.profiles if family in p.families), None)

    def known_project(self, project: str) -> bool:
        """A public project the catalog knows (an entry or a naming rule names it)."""
        return any(p.project == project for p in self.profiles) or any(r.project == project for r in self.rules)

    def _place(self, ref: str, project: str, family: str | None, name: str | None) -> ResolvedImage | None:
        """Offline placement: catalog family, naming rule (family or image), image-name prefix."""
        if family:
            if profile := self.by_family(project, family):
                return ResolvedImage(ref, project, family, None, profile, "catalog family")
            if placed := self.place_by_rule(project, family, "family"):
                warnings = (f"{ref!r}: {placed.warning}",) if placed.warning else ()
                return ResolvedImage(ref, project, family, None, placed.profile, "naming rule", (), warnings)
        if name:
            if placed := self.place_by_rule(project, name, "image"):
                warnings = (f"{ref!r}: {placed.warning}",) if placed.warning else ()
                return ResolvedImage(ref, project, None, name, placed.profile, "naming rule", (), warnings)
            if profile := self._by_prefix(project, name):
                return ResolvedImage(ref, project, None, name, profile, "catalog image name")
        return None

    def resolve(self, ref: str, reader: ImageReader | None = None) -> ResolvedImage:
        ref = ref.strip(" ")  # a newline or tab in a reference is refused below, not trimmed
        project: str | None = None
        family: str | None = None
        name: str | None = None
        if m := IMAGE_URL.fullmatch(ref):
            project, family, name = m.group("project"), m.group("family"), m.group("name")
        elif m := _FAMILY_ONLY.fullmatch(ref):
            family = m.group("family")
        elif m := _SHORT.fullmatch(ref):
            project, rest = m.group("project"), m.group("rest")
            if "/family/" in ref or self.by_family(project, rest) or self._is_family_name(project, rest):
                family = rest
            else:
                name = rest
        elif _BARE_FAMILY.fullmatch(ref):
            family = ref
        else:
            raise UserError(
                f"image {ref[:80]!r} is not an image reference; write PROJECT/FAMILY "
                "(rocky-linux-cloud/rocky-linux-9), PROJECT/IMAGE or a selfLink"
            )
        if project is None:
            assert family is not None
            profile = self.find_family_anywhere(family)
            if profile is not None:
                return ResolvedImage(ref, profile.project, family, None, profile, "catalog family")
            ruled = next((r.project for r in self.rules if r.version_of(family, "family") is not None), None)
            placed = self._place(ref, ruled, family, None) if ruled else None
            if placed is None:
                raise UserError(
                    f"image '{ref}': family '{family}' is not in the catalog, so its project is unknown; "
                    "write PROJECT/FAMILY"
                )
            return placed
        if placed := self._place(ref, project, family, name):
            return placed
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
            elif self.known_project(project):
                # a public project's name no rule places, and the API has no such image or family
                return ResolvedImage(ref, project, family, name, None, NOT_FOUND)
        return ResolvedImage(ref, project, family, name, None, "unknown")

    def _is_family_name(self, project: str, text: str) -> bool:
        """``text`` has the shape of a family of ``project`` by its naming rule (not a dated image)."""
        return any(r.project == project and r.version_of(text, "family") is not None for r in self.rules)
