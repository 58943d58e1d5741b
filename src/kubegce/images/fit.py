"""Does an image fit (issues 11 and 21)? A name in a public project the catalog knows that its
naming rule cannot place is a warning offline (images are published every few weeks) and is
looked up with the Compute API when there is one: only the API's "not found" refuses it. An
arm64 image does not boot on an x86 machine type (nor the reverse): refused before anything is
stored or created."""

from __future__ import annotations

from kubegce.images.catalog import NOT_FOUND, Catalog, ResolvedImage

# GCE machine series that are Arm (Ampere Altra, Google Axion, Grace); every other series is x86-64
ARM_SERIES = frozenset({"t2a", "c4a", "n4a", "a4x"})


def image_arch(image: ResolvedImage) -> str:
    text = image.family or image.name or ""
    return "arm64" if "arm64" in text.split("-") or "aarch64" in text else "x86_64"


def machine_arch(machine_type: str) -> str:
    series = machine_type.rsplit("/", 1)[-1].split("-", 1)[0]
    return "arm64" if series in ARM_SERIES else "x86_64"


def _unplaced(image: ResolvedImage, catalog: Catalog) -> tuple[str, str] | None:
    """(what, hint) for a family or image name in a known public project that nothing places."""
    if image.profile is not None or not catalog.known_project(image.project):
        return None  # placed, or a custom project: the API (or `kubegce images probe`) knows
    wanted = image.family or image.name or ""
    families = [f for p in catalog.profiles if p.project == image.project for f in p.families]
    from kubegce.spec.fields import did_you_mean

    hint = did_you_mean(wanted, families, n=2, cutoff=0.5)
    what = "family" if image.family else "image"
    return f"{image.ref!r}: {image.project} has no {what} {wanted!r} in the catalog{hint}", ", ".join(families)


def unknown_family_problem(image: ResolvedImage, catalog: Catalog) -> str | None:
    """The offline warning for a name in a known public project that matches none of its families
    or its naming rule: probably a typo, possibly an image published after the catalog's check.
    Not a refusal: with a Compute API the name is looked up (see :func:`not_found_problem`)."""
    unplaced = _unplaced(image, catalog)
    if unplaced is None:
        return None
    said, families = unplaced
    return (
        f"{said} and matches none of its naming rules (supported families: {families}); offline it is "
        "kept with the `both` channel, and checked with images.get when planning against a Compute API"
    )


def not_found_problem(image: ResolvedImage, catalog: Catalog) -> str | None:
    """The refusal when the Compute API answered "not found" for the image and for the family."""
    if image.how != NOT_FOUND:
        return None
    unplaced = _unplaced(image, catalog)
    said = unplaced[0] if unplaced else repr(image.ref)
    return (
        f"{said}, and the Compute API has no such image or family (images.get and images.getFromFamily "
        f"answered not found); list what exists with `gcloud compute images list --project {image.project}`"
    )


def image_warnings(image: ResolvedImage, catalog: Catalog, *, offline: bool) -> list[str]:
    """What resolving ``image`` wants said: a version placed by its name only, and offline a name
    no rule places (with an API the API has placed it or :func:`not_found_problem` refuses it)."""
    found = list(image.warnings)
    if offline and (unknown := unknown_family_problem(image, catalog)):
        found.append(unknown)
    return found


def arch_problem(image: ResolvedImage, machine_type: str) -> str | None:
    img, machine = image_arch(image), machine_arch(machine_type)
    if img == machine:
        return None
    fix = "an -arm64 image family or " if machine == "arm64" else "an x86-64 image (without -arm64) or "
    fix += "an x86 machine type such as e2-medium" if img == "x86_64" else "an Arm machine type such as t2a-standard-2"
    return f"{image.ref!r} is an {img} image but machine type {machine_type!r} is {machine}; use {fix}"
