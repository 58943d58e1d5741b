"""The GPU table (spec/gce_accelerators.py): built-in GPUs by machine type, N1 attach rules."""

from __future__ import annotations

import pytest

from kubegce.spec import gce_accelerators as acc
from kubegce.spec import gce_machines


@pytest.mark.parametrize(
    ("machine_type", "model", "count"),
    [
        ("a2-highgpu-1g", "nvidia-tesla-a100", 1), ("a2-highgpu-8g", "nvidia-tesla-a100", 8),
        ("a2-megagpu-16g", "nvidia-tesla-a100", 16), ("a2-ultragpu-4g", "nvidia-a100-80gb", 4),
        ("a3-highgpu-8g", "nvidia-h100-80gb", 8), ("a3-megagpu-8g", "nvidia-h100-mega-80gb", 8),
        ("a3-ultragpu-8g", "nvidia-h200-141gb", 8), ("a4-highgpu-8g", "nvidia-b200", 8),
        ("a4x-highgpu-4g", "nvidia-gb200", 4), ("g2-standard-4", "nvidia-l4", 1),
        ("g2-standard-24", "nvidia-l4", 2), ("g2-standard-96", "nvidia-l4", 8),
        ("g4-standard-48", "nvidia-rtx-pro-6000", 1), ("a3-highgpu-8g-lssd", "nvidia-h100-80gb", 8),
    ],
)  # fmt: skip
def test_built_in_gpus(machine_type: str, model: str, count: int) -> None:
    assert gce_machines.problem(machine_type) is None  # the offline machine check knows the shape
    assert acc.built_in(machine_type) == acc.Gpus(model, count)
    assert "comes with" in (acc.attach_problem(machine_type, "nvidia-tesla-t4", 1) or "")


@pytest.mark.parametrize("machine_type", ["n1-standard-8", "e2-standard-4", "g2-standard-6", "a2-highgpu-8",
                                          "custom-4-8192", "x"])  # fmt: skip
def test_no_built_in_gpus(machine_type: str) -> None:
    assert acc.built_in(machine_type) is None


@pytest.mark.parametrize(
    ("machine_type", "model", "count", "problem"),
    [
        ("n1-standard-8", "nvidia-tesla-t4", 1, None),
        ("n1-standard-96", "nvidia-tesla-t4", 4, None),
        ("n1-custom-12-65536", "nvidia-tesla-v100", 1, None),
        ("custom-12-65536", "nvidia-tesla-v100", 1, None),
        ("n1-standard-16", "nvidia-tesla-v100", 1, "allow at most 12 vCPUs"),
        ("n1-standard-8", "nvidia-tesla-t4", 3, "not a count GCE offers"),
        ("n1-standard-8", "nvidia-l4", 1, "comes with the g2 machine types"),
        ("n1-standard-8", "nvidia-tesla-k80", 1, "unknown GPU model"),
        ("e2-standard-8", "nvidia-tesla-t4", 1, "attaches to N1 machine types only"),
        ("n2-standard-8", "nvidia-tesla-t4", 1, "attaches to N1 machine types only"),
    ],
)  # fmt: skip
def test_n1_attach_rules(machine_type: str, model: str, count: int, problem: str | None) -> None:
    got = acc.attach_problem(machine_type, model, count)
    assert (got is None) if problem is None else (problem in (got or "")), got


def test_every_model_is_named_once_and_counts_grow_with_vcpus() -> None:
    for limits in acc.N1_ATTACHABLE.values():
        ceilings = [limits[c] for c in sorted(limits)]
        assert ceilings == sorted(ceilings)  # more GPUs never allow fewer vCPUs
    assert all(m.startswith("nvidia-") for m in acc.ALL_MODELS)
