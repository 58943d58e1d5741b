"""Issue 11 section 3: -o yaml documents that create -f and replace -f read back, replace with
conflict detection, --full, empty listings, next steps, version and completion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLUSTER = "demo.example.com"


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, input=input)


def create() -> None:
    r = run("create", "cluster", CLUSTER, "--project", "my-proj", "--zones", "us-central1-a")
    assert r.returncode == 0, r.stderr
    assert f"next: `kubegce update cluster {CLUSTER}`" in r.stderr


def test_get_yaml_round_trips_through_create_and_replace(state: str, tmp_path: Path) -> None:
    create()
    out = run("get", "cluster", CLUSTER, "-o", "yaml").stdout
    assert out.startswith("---\n") and out.count("\n---\n") == 2  # the cluster and its two groups
    r = run("replace", "-f", "-", input=out)
    assert r.returncode == 0 and "no change" in r.stderr, r.stderr
    r = run("delete", "cluster", CLUSTER, "--state-only", "--yes")
    assert r.returncode == 0, r.stderr
    r = run("create", "-f", "-", input=out)
    assert r.returncode == 0, r.stderr
    assert run("get", "cluster", CLUSTER, "-o", "yaml").stdout == out
    groups = run("get", "instancegroups", CLUSTER, "-o", "yaml").stdout
    assert groups.count("---\n") == 2 and "kind: InstanceGroup" in groups
    (tmp_path / "c.yaml").write_text(out.replace("maxSize: 2", "maxSize: 7"))
    r = run("replace", "-f", str(tmp_path / "c.yaml"))
    assert r.returncode == 0 and f"replaced instancegroup {CLUSTER}/nodes" in r.stderr, r.stderr
    assert "maxSize: 7" in run("get", "ig", CLUSTER, "-o", "yaml").stdout


def test_replace_validates_and_needs_an_existing_cluster(state: str, tmp_path: Path) -> None:
    create()
    out = run("get", "cluster", CLUSTER, "-o", "yaml").stdout
    r = run("replace", "-f", "-", input=out.replace("maxSize: 2", "maxSize: 0"))
    assert r.returncode == 2 and "maxSize" in r.stderr and "Traceback" not in r.stderr
    r = run("replace", "-f", "-", input=out.replace(CLUSTER, "other.example.com"))
    assert r.returncode == 2 and "create it with `kubegce create -f`" in r.stderr


def test_replace_refuses_a_concurrent_change(state: str) -> None:
    from kubegce.errors import ConflictError
    from kubegce.images.catalog import Catalog
    from kubegce.service import replace_clusters
    from kubegce.spec.loader import load_bundles, parse_documents
    from kubegce.state.clusters import ClusterRepository
    from kubegce.state.store import open_store

    create()
    out = run("get", "cluster", CLUSTER, "-o", "yaml").stdout
    repo = ClusterRepository(open_store(state))
    bundles, _ = load_bundles(parse_documents(out.replace("1.36.4", "1.37.0"), "x"), "x")
    real_get = repo.get

    def get_then_someone_writes(name: str):  # type: ignore[no-untyped-def]
        stored = real_get(name)
        assert run("edit", "cluster", CLUSTER, "--set", "spec.kubernetesVersion=1.36.3").returncode == 0
        return stored

    repo.get = get_then_someone_writes  # type: ignore[method-assign]
    with pytest.raises(ConflictError):
        replace_clusters(repo, bundles, Catalog.load(None))


def test_full_and_empty_listings(state: str) -> None:
    r = run("get", "clusters")
    assert r.returncode == 0 and "no clusters in" in r.stderr and "kubegce create cluster" in r.stderr
    create()
    full = run("get", "cluster", CLUSTER, "--full", "-o", "yaml")
    assert full.returncode == 0 and "kubernetesVersion" in full.stdout


def test_next_steps_name_the_cluster(state: str) -> None:
    create()
    r = run("delete", "cluster", CLUSTER, "--state-only")
    assert f"next: `kubegce delete cluster {CLUSTER} --state-only --yes`" in r.stderr
    r = run("delete", "cluster", CLUSTER, "--state-only", "--yes")
    assert "next: `kubegce get clusters`" in r.stderr


def test_version_and_completion() -> None:
    from kubegce import __version__

    assert run("version").stdout.strip() == f"kubegce {__version__}"
    for shell, marker in (("bash", "complete "), ("zsh", "compdef"), ("fish", "complete ")):
        r = run("completion", shell)
        assert r.returncode == 0 and marker in r.stdout and "_KUBEGCE_COMPLETE" in r.stdout
    assert run("completion", "tcsh").returncode == 2


def test_unpinned_manifest_warning_says_how_to_get_the_value() -> None:
    from kubegce.boot.plans import asset_warnings
    from kubegce.boot.versions import asset_urls
    from tests.conftest import make_bundle

    bundle = make_bundle()
    (first, *_) = asset_warnings(bundle)
    url = asset_urls(bundle.cluster.spec.networking.plugin, None).network_manifest
    assert f"curl -fsSL {url} | sha256sum" in first
    assert f"kubegce edit cluster {bundle.cluster.name} --set spec.assets.manifestSha256.calico=" in first
