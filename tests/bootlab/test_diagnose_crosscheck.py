"""Every failure the lab can inject, booted for real, then read by diagnose: it must name the cause."""

from __future__ import annotations

import pytest

from kubegce.diagnose.analyze import Context, analyze
from kubegce.lab.run import lab_catalog
from tests.bootlab.scenarios import SCENARIOS, require_ignition

pytestmark = pytest.mark.bootlab


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lab_outcome_is_diagnosed(name: str) -> None:
    cause, scenario = SCENARIOS[name]
    if "ignition" in name or "fcos" in name:
        require_ignition()
    outcome = scenario()
    ctx = Context(metadata=outcome.metadata, image=lab_catalog().resolve(outcome.image).profile,
                  guest_attributes=outcome.guest_attributes)  # fmt: skip
    d = analyze(outcome.log, ctx)
    assert d.cause == cause, (d.cause, d.explanation, outcome.log[-2000:])
