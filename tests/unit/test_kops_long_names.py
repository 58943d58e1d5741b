"""kOps's own GCE manifests with what kOps allows and kubegce once refused (issue 21): a cluster name
longer than a label value's 63 characters, and images pinned by dated name (one newer than the
catalog's list). They import, validate and render; every GCE name and label derived from the long
name fits GCE's limits (shortened with a stable hash, never refused)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kubegce.boot.plans import render_cluster_boot
from kubegce.cloud.model import build_graph
from kubegce.cloud.terraform.render import write_terraform
from kubegce.images.catalog import Catalog
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import CLUSTER_LABEL, ClusterBundle
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "kops" / "gce-long-name-dated-images.yaml"
NAME = "a-very-long-cluster-name-for-the-platform-team-prod.europe-west1.k8s.local"
GCE_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
GCE_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
CATALOG = Catalog.load()


def bundle() -> ClusterBundle:
    (b,), _ = load_bundles(parse_documents(FIXTURE.read_text(), FIXTURE.name), FIXTURE.name)
    return b


def labels_in(value: Any) -> list[dict[str, str]]:
    """Every `labels` mapping anywhere in a request body."""
    out: list[dict[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "labels" and isinstance(v, dict):
                out.append(v)
            out.extend(labels_in(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(labels_in(v))
    return out


def test_the_fixture_is_what_the_issue_names() -> None:
    assert len(NAME) > 63 and NAME in FIXTURE.read_text()


def test_kops_manifest_with_a_long_name_and_dated_images_imports_and_validates() -> None:
    b = bundle()
    assert b.cluster.name == NAME
    assert validate_bundle(b) == []
    assert {g.metadata.labels[CLUSTER_LABEL] for g in b.instance_groups} == {NAME}
    boot = render_cluster_boot(b, CATALOG)
    placed = {g.group.name: (g.image.profile.os, g.image.profile.version, g.decision.channel.value)
              for g in boot.groups if g.image.profile is not None}  # fmt: skip
    assert placed == {
        "control-plane-europe-west1-b": ("ubuntu", "26.04", "startup-script"),
        "control-plane-europe-west1-c": ("ubuntu", "26.04", "startup-script"),
        "control-plane-europe-west1-d": ("ubuntu", "26.04", "startup-script"),
        "nodes-europe-west1-b": ("rocky", "10", "startup-script"),
    }
    # the dated names themselves are what the templates boot
    assert {g.image.source_image for g in boot.groups} == {
        "projects/ubuntu-os-cloud/global/images/ubuntu-2604-resolute-amd64-v20261015",
        "projects/rocky-linux-cloud/global/images/rocky-linux-10-optimized-gcp-v20261020",
    }


def test_every_gce_name_and_label_from_the_long_name_fits() -> None:
    graph = build_graph(render_cluster_boot(bundle(), CATALOG))
    names = [r.name for r in graph]
    assert names and all(GCE_NAME.fullmatch(n) for n in names), [n for n in names if not GCE_NAME.fullmatch(n)]
    assert len(set((r.kind, r.name) for r in graph)) == len(names)
    values = [v for r in graph for ls in labels_in(r.body) for v in ls.values()]
    assert values and all(GCE_LABEL_VALUE.fullmatch(v) for v in values)


def test_two_long_names_that_share_a_prefix_stay_apart() -> None:
    a = build_graph(render_cluster_boot(bundle(), CATALOG))
    other = NAME.replace(".local", ".lokal")  # differs only past the 63rd character
    text = FIXTURE.read_text().replace(NAME, other)
    (b2,), _ = load_bundles(parse_documents(text, "other.yaml"), "other.yaml")
    b = build_graph(render_cluster_boot(b2, CATALOG))
    assert not {r.name for r in a} & {r.name for r in b if r.kind != "image"}
    owners = [{ls["kubegce-cluster"] for r in g for ls in labels_in(r.body) if "kubegce-cluster" in ls} for g in (a, b)]
    assert len(owners[0]) == len(owners[1]) == 1 and owners[0] != owners[1]  # delete finds each by its own label


def test_terraform_renders_the_long_named_cluster(tmp_path: Path) -> None:
    write_terraform(build_graph(render_cluster_boot(bundle(), CATALOG)), "europe-west1", tmp_path)
    doc = json.loads((tmp_path / "kubernetes.tf.json").read_text())
    assert doc["resource"]


@pytest.mark.parametrize("bad", ["Not_A_Name", "a..b", "x" * 254, "a.b\nc"])
def test_the_cluster_label_must_still_be_a_cluster_name(bad: str) -> None:
    b = make_bundle()
    group = b.instance_groups[0]
    group.metadata.labels[CLUSTER_LABEL] = bad
    problems = validate_bundle(b)
    assert any(CLUSTER_LABEL in p and "cluster's name" in p for p in problems)
    assert all(bad not in p for p in problems if len(bad) > 40)
