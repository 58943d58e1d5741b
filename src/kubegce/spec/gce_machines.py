"""GCE machine series and shapes, as data: what `spec.machineType` is checked against offline.

A type is accepted when it is

* a predefined shape of a known series: SERIES-CLASS-VCPUS with optional suffixes
  (``n2-standard-8``, ``c3-standard-4-lssd``, ``a3-highgpu-8g``, ``x4-megamem-960-metal``), or one of
  the shared-core names (``e2-micro``, ``e2-small``, ``e2-medium``, ``f1-micro``, ``g1-small``);
  a vCPU count this list does not know (``n2-standard-6``) is accepted: GCE says at create time;
* a custom type: ``custom-CPUS-MEMORY_MB`` or ``SERIES-custom-CPUS-MEMORY_MB`` (``-ext`` for extended
  memory; ``e2-custom-micro|small|medium-MEMORY_MB`` for shared-core custom).

Anything else (``e2-mediumm``, ``x9-standard-2``) is refused with the nearest known shapes.
"""

from __future__ import annotations

import re

MAX_LENGTH = 63

# series -> the classes its predefined shapes use, as GCE documents them
SERIES: dict[str, tuple[str, ...]] = {
    "e2": ("standard", "highmem", "highcpu"),
    "n1": ("standard", "highmem", "highcpu", "megamem", "ultramem"),
    "n2": ("standard", "highmem", "highcpu"),
    "n2d": ("standard", "highmem", "highcpu"),
    "n4": ("standard", "highmem", "highcpu"),
    "n4d": ("standard", "highmem", "highcpu"),
    "t2d": ("standard",),
    "t2a": ("standard",),
    "c2": ("standard",),
    "c2d": ("standard", "highmem", "highcpu"),
    "c3": ("standard", "highmem", "highcpu"),
    "c3d": ("standard", "highmem", "highcpu"),
    "c4": ("standard", "highmem", "highcpu"),
    "c4a": ("standard", "highmem", "highcpu"),
    "c4d": ("standard", "highmem", "highcpu"),
    "h3": ("standard",),
    "h4d": ("standard", "highmem"),
    "m1": ("megamem", "ultramem"),
    "m2": ("megamem", "ultramem", "hypermem"),
    "m3": ("megamem", "ultramem"),
    "m4": ("megamem", "ultramem"),
    "x4": ("megamem",),
    "z3": ("standard", "highmem"),
    "a2": ("highgpu", "megagpu", "ultragpu"),
    "a3": ("highgpu", "megagpu", "ultragpu", "edgegpu"),
    "a4": ("highgpu",),
    "a4x": ("highgpu",),
    "g2": ("standard",),
    "g4": ("standard",),
    "f1": (),
    "g1": (),
}

SHARED_CORE: dict[str, tuple[str, ...]] = {"e2": ("micro", "small", "medium"), "f1": ("micro",), "g1": ("small",)}

CLASSES: frozenset[str] = frozenset(c for classes in SERIES.values() for c in classes)
SUFFIXES = ("lssd", "metal", "standardlssd", "highlssd", "nolssd")

# shapes offered as "did you mean": every series' classes at the vCPU counts most of them have
_COMMON_VCPUS = (1, 2, 4, 8, 16, 32)

_PREDEFINED = re.compile(
    r"\A(?P<series>[a-z][a-z0-9]{0,9})-(?P<cls>[a-z]+)-(?P<vcpus>[1-9][0-9]{0,3})(?P<gpus>g)?"
    r"(?P<suffix>(?:-[a-z]+)*)\Z"
)
_CUSTOM = re.compile(
    r"\A(?:(?P<series>[a-z][a-z0-9]{0,9})-)?custom-(?:[1-9][0-9]{0,3}|micro|small|medium)-[1-9][0-9]{2,7}(?:-ext)?\Z"
)
_SHAPE = re.compile(r"\A(?P<series>[a-z][a-z0-9]{0,9})-(?P<rest>[a-z0-9]+(?:-[a-z0-9]+)*)\Z")


def suggestions() -> list[str]:
    out = [f"{series}-{name}" for series, names in SHARED_CORE.items() for name in names]
    for series, classes in SERIES.items():
        out.extend(f"{series}-{cls}-{n}" for cls in classes for n in _COMMON_VCPUS)
    return out


SUGGESTIONS: tuple[str, ...] = tuple(suggestions())


def problem(value: str) -> str | None:
    """Why ``value`` is not a GCE machine type, or None. The text says what to write instead
    (without "did you mean", which the caller adds from :data:`SUGGESTIONS`)."""
    if len(value) > MAX_LENGTH:
        return f"is too long: GCE machine types are at most {MAX_LENGTH} characters"
    if m := _CUSTOM.fullmatch(value):
        series = m.group("series")
        if series is not None and series not in SERIES:
            return f"unknown machine family '{series}' for a custom type"
        return None
    if value.startswith("custom-") or "-custom-" in value:
        return "is not a custom machine type; write custom-CPUS-MEMORY_MB or SERIES-custom-CPUS-MEMORY_MB (e.g. n2-custom-4-8192)"
    shape = _SHAPE.fullmatch(value)
    if not shape:
        return "is not a GCE machine type; write it like e2-standard-4 or custom-4-8192"
    series = shape.group("series")
    if series not in SERIES:
        return f"unknown machine family '{series}'"
    if shape.group("rest") in SHARED_CORE.get(series, ()):
        return None
    m = _PREDEFINED.fullmatch(value)
    if m and m.group("cls") in CLASSES and all(s in SUFFIXES for s in m.group("suffix").split("-")[1:]):
        return None
    return f"is not a machine type of the {series} series"
