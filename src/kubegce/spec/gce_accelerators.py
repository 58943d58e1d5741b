"""GCE's NVIDIA GPUs as data: which machine types carry GPUs, and which GPUs an N1 machine type
takes (issue 24, GPU node groups; docs/gpus.md when the groups land).

From cloud.google.com/compute/docs/gpus ("GPU machine types") and
cloud.google.com/compute/docs/accelerator-optimized-machines, as of 2026-12:

- accelerator-optimized machine types (A4X, A4, A3, A2, G4, G2) come with their GPUs attached: the
  model is the series' (and class's), the count is in the name (``a2-highgpu-4g``: 4) or, for G2 and
  G4, in a per-shape table; such a type takes no ``guestAccelerators``;
- N1 general-purpose types (not the shared-core f1-micro and g1-small) take T4, V100, P100 or P4
  GPUs through ``guestAccelerators``, in the counts GCE offers, each count with a vCPU ceiling;
- every instance with a GPU needs ``scheduling.onHostMaintenance: TERMINATE`` (GPUs cannot
  live-migrate).

Which zones offer which GPU is the API's answer (``acceleratorTypes.list`` per zone); this table
knows shapes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (series, class) -> the GPU model attached; the count follows the shape
BUILT_IN: dict[tuple[str, str], str] = {
    ("a4x", "highgpu"): "nvidia-gb200",
    ("a4", "highgpu"): "nvidia-b200",
    ("a3", "ultragpu"): "nvidia-h200-141gb",
    ("a3", "megagpu"): "nvidia-h100-mega-80gb",
    ("a3", "highgpu"): "nvidia-h100-80gb",
    ("a3", "edgegpu"): "nvidia-h100-80gb",
    ("a2", "highgpu"): "nvidia-tesla-a100",
    ("a2", "megagpu"): "nvidia-tesla-a100",
    ("a2", "ultragpu"): "nvidia-a100-80gb",
    ("g2", "standard"): "nvidia-l4",
    ("g4", "standard"): "nvidia-rtx-pro-6000",
}
# G2 and G4 shapes name vCPUs, not GPUs: vCPUs -> GPUs
PER_SHAPE: dict[str, dict[int, int]] = {
    "g2": {4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8},
    "g4": {48: 1, 96: 2, 192: 4, 384: 8},
}
# GPUs an N1 type can attach: model -> {count: the most vCPUs an N1 type may have with that count}
N1_ATTACHABLE: dict[str, dict[int, int]] = {
    "nvidia-tesla-t4": {1: 48, 2: 48, 4: 96},
    "nvidia-tesla-v100": {1: 12, 2: 24, 4: 48, 8: 96},
    "nvidia-tesla-p100": {1: 16, 2: 32, 4: 64},
    "nvidia-tesla-p4": {1: 24, 2: 48, 4: 96},
}
ALL_MODELS: frozenset[str] = frozenset({*BUILT_IN.values(), *N1_ATTACHABLE})

_SHAPE = re.compile(r"\A(?P<series>[a-z][a-z0-9]*)-(?P<cls>[a-z]+)-(?P<n>[0-9]{1,4})(?P<g>g)?(?:-[a-z]+)*\Z")
_N1_CUSTOM = re.compile(r"\A(?:n1-)?custom-(?P<n>[0-9]{1,4})-[0-9]+(?:-ext)?\Z")


@dataclass(frozen=True)
class Gpus:
    model: str
    count: int


def built_in(machine_type: str) -> Gpus | None:
    """The GPUs an accelerator-optimized machine type comes with, or None (no GPUs built in)."""
    m = _SHAPE.fullmatch(machine_type)
    if m is None:
        return None
    model = BUILT_IN.get((m["series"], m["cls"]))
    if model is None:
        return None
    n = int(m["n"])
    if m["series"] in PER_SHAPE:
        count = PER_SHAPE[m["series"]].get(n)
        return Gpus(model, count) if count else None
    return Gpus(model, n) if m["g"] else None


def has_gpus(machine_type: str, attached: int) -> bool:
    """Whether an instance of this machine type with ``attached`` guestAccelerators entries has GPUs."""
    return attached > 0 or built_in(machine_type) is not None


def n1_vcpus(machine_type: str) -> int | None:
    """The vCPUs of an N1 machine type (predefined or custom), or None when it is not N1."""
    if m := _N1_CUSTOM.fullmatch(machine_type):
        return int(m["n"])
    m = _SHAPE.fullmatch(machine_type)
    if m and m["series"] == "n1" and not m["g"]:
        return int(m["n"])
    return None


def attach_problem(machine_type: str, model: str, count: int) -> str | None:
    """Why ``count`` GPUs of ``model`` cannot be attached to ``machine_type``, or None."""
    if gpus := built_in(machine_type):
        return (f"{machine_type} comes with {gpus.count} {gpus.model} attached; remove guestAccelerators "
                "(an accelerator-optimized type takes no others)")  # fmt: skip
    if model not in ALL_MODELS:
        known = ", ".join(sorted(N1_ATTACHABLE))
        return f"unknown GPU model; attachable to N1 types: {known} (the others come with their machine types)"
    if model not in N1_ATTACHABLE:
        series = sorted({s for (s, _), m in BUILT_IN.items() if m == model})
        return f"{model} is not attachable: it comes with the {'/'.join(series)} machine types; use one of those"
    vcpus = n1_vcpus(machine_type)
    if vcpus is None:
        return f"{model} attaches to N1 machine types only (n1-standard-8, n1-highmem-16, ...), not {machine_type}"
    limits = N1_ATTACHABLE[model]
    if count not in limits:
        return f"{count} is not a count GCE offers for {model}; use one of {', '.join(map(str, sorted(limits)))}"
    if vcpus > limits[count]:
        fewer = [c for c in sorted(limits) if vcpus <= limits[c]]
        hint = f"attach {fewer[0]}" if fewer else "use fewer vCPUs"
        return f"{count} {model} allow at most {limits[count]} vCPUs; {machine_type} has {vcpus}: {hint}"
    return None


# Which NVIDIA driver drives each model (docs.nvidia.com/datacenter/tesla, the driver release
# notes' supported-GPU lists, as of 2026-12): the oldest branch that supports it, and whether
# NVIDIA's open kernel modules do (Turing and newer; Blackwell has only them). Pascal (P4, P100)
# and Volta (V100) need the proprietary modules, and R580 is the last branch that drives them.
MIN_BRANCH: dict[str, int] = {
    "nvidia-tesla-p4": 384, "nvidia-tesla-p100": 384, "nvidia-tesla-v100": 384, "nvidia-tesla-t4": 418,
    "nvidia-tesla-a100": 450, "nvidia-a100-80gb": 460, "nvidia-l4": 525, "nvidia-h100-80gb": 525,
    "nvidia-h100-mega-80gb": 535, "nvidia-h200-141gb": 550, "nvidia-b200": 570, "nvidia-gb200": 570,
    "nvidia-rtx-pro-6000": 575,
}  # fmt: skip
PROPRIETARY_ONLY = frozenset({"nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"})
LAST_PROPRIETARY_BRANCH = 580
FIRST_OPEN_BRANCH = 515  # NVIDIA's open kernel modules start with R515 (the default from R560)
# NVSwitch machine types: multi-GPU jobs need NVIDIA's fabric manager (not installed: docs/gpus.md)
NVSWITCH_SHAPES = frozenset({"a2-highgpu-8g", "a2-megagpu-16g", "a2-ultragpu-8g", "a3-highgpu-8g", "a3-megagpu-8g",
                             "a3-ultragpu-8g", "a4-highgpu-8g"})  # fmt: skip


def group_gpus(machine_type: str, attached: list[tuple[str, int]]) -> Gpus | None:
    """The GPUs an instance gets: its machine type's, or the one model attached (validated)."""
    if gpus := built_in(machine_type):
        return gpus
    if attached:
        return Gpus(attached[0][0], attached[0][1])
    return None


def open_modules(model: str, branch: int) -> bool:
    """Whether this model on this branch takes NVIDIA's open kernel modules (else the proprietary ones)."""
    return model not in PROPRIETARY_ONLY and branch >= FIRST_OPEN_BRANCH


def branch_problem(model: str, branch: int) -> str | None:
    """Why driver branch ``branch`` cannot drive ``model``, or None."""
    low = MIN_BRANCH.get(model)
    if low is not None and branch < low:
        return f"{model} needs driver branch {low} or newer"
    if model in PROPRIETARY_ONLY and branch > LAST_PROPRIETARY_BRANCH:
        return (f"{model} is a Pascal or Volta GPU: branch {LAST_PROPRIETARY_BRANCH} is the last one that drives it; "
                f"use {LAST_PROPRIETARY_BRANCH} or older")  # fmt: skip
    return None
