"""Does an image fit (issue 11 section 4)? An unknown family in a public project the catalog knows
is most likely a typo or a release that does not exist, and an arm64 image does not boot on an
x86 machine type (nor the reverse). Both are refused before anything is stored or created."""

from __future__ import annotations

from kubegce.images.catalog import Catalog, ResolvedImage

# GCE machine series that are Arm (Ampere Altra, Google Axion, Grace); every other series is x86-64
ARM_SERIES = frozenset({"t2a", "c4a", "n4a", "a4x"})


def image_arch(image: ResolvedImage) -> str:
    text = image.family or image.name or ""
    return "arm64" if "arm64" in text.split("-") or "aarch64" in text else "x86_64"


def machine_arch(machine_type: str) -> str:
    series = machine_type.rsplit("/", 1)[-1].split("-", 1)[0]
    return "arm64" if series in ARM_SERIES else "x86_64"


def unknown_family_problem(image: ResolvedImage, catalog: Catalog) -> str | None:
    """A problem when ``image`` names a family or image the catalog does not know in a project whose
    images the catalog does know (checked offline; with a Compute API the API decides)."""
    if image.profile is not None:
        return None
    mine = [p for p in catalog.profiles if p.project == image.project]
    if not mine:
        return None  # a custom project: the API (or `kubegce images probe`) knows
    wanted = image.family or image.name or ""
    families = [f for p in mine for f in p.families]
    from kubegce.spec.fields import did_you_mean

    hint = did_you_mean(wanted, families, n=2, cutoff=0.5)
    return (
        f"{image.ref!r}: {image.project} has no family {wanted!r} in the catalog{hint} "
        f"(supported: {', '.join(families)}); if the image does exist, `kubegce images probe` adds it to "
        "your catalog, or --force keeps it"
    )


def arch_problem(image: ResolvedImage, machine_type: str) -> str | None:
    img, machine = image_arch(image), machine_arch(machine_type)
    if img == machine:
        return None
    fix = "an -arm64 image family or " if machine == "arm64" else "an x86-64 image (without -arm64) or "
    fix += "an x86 machine type such as e2-medium" if img == "x86_64" else "an Arm machine type such as t2a-standard-2"
    return f"{image.ref!r} is an {img} image but machine type {machine_type!r} is {machine}; use {fix}"
