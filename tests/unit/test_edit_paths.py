from __future__ import annotations

import pytest

from kubegce.errors import UserError
from kubegce.spec.edit import apply_edits, parse_path


def test_paths() -> None:
    assert parse_path("spec.zones[1]") == ["spec", "zones", 1]
    assert parse_path("spec.nodeLabels[node.kubernetes.io/pool]") == ["spec", "nodeLabels", "node.kubernetes.io/pool"]


def test_set_and_unset() -> None:
    doc = {"spec": {"kubernetesVersion": "1.33.2", "zones": ["a"], "cloudLabels": {"x": "1"}}}
    apply_edits(doc, ["spec.kubernetesVersion=1.34.0", "spec.maxSize=10", "spec.zones[1]=b",
                      "spec.cloudLabels.team=web", "spec.kubernetesVersion=1.33"], ["spec.cloudLabels.x"])  # fmt: skip
    assert doc["spec"] == {"kubernetesVersion": "1.33", "zones": ["a", "b"], "cloudLabels": {"team": "web"},
                           "maxSize": 10}  # fmt: skip


@pytest.mark.parametrize(("sets", "unsets", "match"), [
    (["spec.zones[5]=x"], [], "out of range"),
    (["novalue"], [], "PATH=VALUE"),
    ([], ["spec.nothere"], "not set"),
    (["metadata.name=other"], [], "cannot be changed"),
])  # fmt: skip
def test_edit_errors(sets: list[str], unsets: list[str], match: str) -> None:
    with pytest.raises(UserError, match=match):
        apply_edits({"spec": {"zones": []}, "metadata": {"name": "a"}}, sets, unsets)
