"""diagnose on real serial logs (made by the boot lab, see tests/fixtures/make_serial_fixtures.py)
and a few hand-written ones in the exact formats the real programs print."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from kubegce.diagnose.analyze import CAUSES, Context, analyze
from kubegce.lab.run import lab_catalog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "serial"
CASES = sorted(p.stem for p in FIXTURES.glob("*.log"))


def context_for(meta: dict) -> Context:  # type: ignore[type-arg]
    image = lab_catalog().resolve(meta["image"]).profile if meta.get("image") else None
    return Context(metadata=meta.get("metadata"), image=image, image_ref=meta.get("image", ""),
                   guest_attributes=meta.get("guest_attributes"))  # fmt: skip


def test_every_cause_has_two_fixtures() -> None:
    counts = Counter(json.loads((FIXTURES / f"{c}.json").read_text())["cause"] for c in CASES)
    assert {c for c in CAUSES} == set(counts), set(CAUSES) ^ set(counts)
    assert all(n >= 2 for n in counts.values()), counts


@pytest.mark.parametrize("case", CASES)
def test_fixture_cause(case: str) -> None:
    meta = json.loads((FIXTURES / f"{case}.json").read_text())
    log = (FIXTURES / f"{case}.log").read_text()
    d = analyze(log, context_for(meta))
    assert d.cause == meta["cause"], (d.cause, d.explanation)
    assert d.explanation
    lines = log.splitlines()
    for ev in d.evidence:  # evidence lines are real lines of the log, with their numbers
        assert lines[ev.line - 1].rstrip() == ev.text
    if d.cause != "ok":
        assert d.fix and d.evidence


@pytest.mark.parametrize("case", CASES)
def test_without_metadata_the_answer_is_never_a_confident_wrong_one(case: str) -> None:
    meta = json.loads((FIXTURES / f"{case}.json").read_text())
    d = analyze((FIXTURES / f"{case}.log").read_text())
    if meta["cause"] == "no-init-channel":
        # the log alone cannot show the user-data key: say what is known and how to tell
        assert d.cause == "bootstrap-not-started" and "--metadata" in d.explanation
    elif meta["cause"].startswith("backup-"):
        # a backup job's failure is in the backup guest attribute, not on the boot's console: the
        # log alone shows a node that joined
        assert d.cause == "ok"
    else:
        assert d.cause == meta["cause"]


def test_failure_details_are_extracted() -> None:
    d = analyze((FIXTURES / "join-failed-kubeadm.log").read_text())
    assert (d.phase, d.step) == ("failed", "kubeadm_join") and d.error.startswith("exit 1")
    d = analyze((FIXTURES / "download-failed-checksum.log").read_text())
    assert any("checksum mismatch" in e.text for e in d.evidence)
