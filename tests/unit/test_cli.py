"""The command line: exit codes, messages without tracebacks, nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KOPS = ROOT / "tests/unit/fixtures/kops"


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, input=input)


def create_demo(*extra: str) -> subprocess.CompletedProcess[str]:
    return run("create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
               "us-central1-a,us-central1-b", "--image", "rocky-linux-cloud/rocky-linux-9", "--node-count", "3",
               *extra)  # fmt: skip


def state_files(state: str) -> list[Path]:
    root = Path(state[len("file://") :])
    return sorted(root.rglob("*.obj")) if root.exists() else []


def test_create_get_edit_update(state: str, tmp_path: Path) -> None:
    r = create_demo()
    assert r.returncode == 0, r.stderr
    assert "created cluster demo.example.com" in r.stderr
    r = run("get", "clusters", "-o", "json")
    assert json.loads(r.stdout)[0]["metadata"]["name"] == "demo.example.com"
    r = run("get", "instancegroups", "demo.example.com")
    assert "control-plane" in r.stdout and "nodes" in r.stdout
    r = run("edit", "cluster", "demo.example.com", "--set", "spec.kubernetesVersion=1.37.0")
    assert r.returncode == 0, r.stderr
    r = run("edit", "instancegroup", "demo.example.com", "nodes", "--set", "spec.maxSize=10")
    assert r.returncode == 0, r.stderr
    r = run("get", "instancegroups", "demo.example.com", "-o", "yaml")
    assert "maxSize: 10" in r.stdout
    r = run("update", "cluster", "demo.example.com", "-o", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["counts"]["create"] == 15 and {b["channel"] for b in plan["boot"]} == {"startup-script"}
    r = run("update", "cluster", "demo.example.com", "--target", "terraform", "--out", str(tmp_path / "tf"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "tf/kubernetes.tf.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--zones", "us-central1"), "spec.zones[0]"),
    (("--zones", "us-central1-a", "--node-size", "ee2-medium"), "did you mean 'e2'"),
    (("--zones", "us-central1-a", "--kubernetes-version", "banana"), "spec.kubernetesVersion"),
    (("--zones", "us-central1-a", "--image", "!!"), "not an image reference"),
])  # fmt: skip
def test_bad_flags_write_nothing(state: str, args: tuple[str, ...], message: str) -> None:
    r = run("create", "cluster", "bad.example.com", "--project", "my-proj", *args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert state_files(state) == []


def test_create_refuses_existing_and_edit_reports_bad_fields(state: str) -> None:
    assert create_demo().returncode == 0
    before = [p.read_text() for p in state_files(state)]
    r = create_demo()
    assert r.returncode == 2 and "already exists" in r.stderr
    r = run("edit", "cluster", "demo.example.com", "--set", "spec.kubernetesVersoin=1.34.1")
    assert r.returncode == 2 and "did you mean 'kubernetesVersion'" in r.stderr
    r = run("edit", "instancegroup", "demo.example.com", "nodes", "--set", "spec.minSize=5")
    assert r.returncode == 2 and "spec.maxSize: 3 is below spec.minSize 5" in r.stderr
    assert [p.read_text() for p in state_files(state)] == before
    r = run("get", "clusters", "nope.example.com")
    assert r.returncode == 4 and "not found" in r.stderr


def test_create_from_kops_files(state: str) -> None:
    r = run("create", "-f", str(KOPS / "rocky-startup.yaml"))
    assert r.returncode == 0, r.stderr
    assert "kOps fields kubegce does not implement were ignored" in r.stderr
    r = run("create", "-f", str(KOPS / "ubuntu-cloudconfig.yaml"))
    assert r.returncode == 0, r.stderr
    r = run("update", "cluster", "ubu.example.com", "-o", "json")
    boot = {b["group"]: b["channel"] for b in json.loads(r.stdout)["boot"]}
    assert boot == {"control-plane-europe-west1-b": "startup-script", "nodes": "user-data"}


def test_rhel_with_cloud_config_is_refused_with_both_fixes(state: str, tmp_path: Path) -> None:
    text = (
        (KOPS / "ubuntu-cloudconfig.yaml")
        .read_text()
        .replace("ubuntu-os-cloud/ubuntu-2404-noble-amd64-v20250101", "rhel-cloud/rhel-9")
    )
    f = tmp_path / "rhel.yaml"
    f.write_text(text)
    r = run("create", "-f", str(f))
    assert r.returncode == 2
    assert "has no cloud-init" in r.stderr and "installCloudInit: true" in r.stderr
    assert "text/x-shellscript" in r.stderr and state_files(state) == []


def test_images_commands() -> None:
    r = run("images", "resolve", "rhel-cloud/rhel-9", "-o", "json")
    data = json.loads(r.stdout)
    assert data["channel"] == "startup-script" and data["profile"]["cloudInit"] is False
    r = run("images", "list", "-o", "json")
    assert any(row["channel"] == "user-data" for row in json.loads(r.stdout))


def test_images_doc_is_not_stale() -> None:
    from kubegce.boot.matrix import render
    from kubegce.images.catalog import Catalog

    assert (ROOT / "docs/images.md").read_text() == render(Catalog.load()), (
        "docs/images.md is stale: python -m kubegce.boot.matrix > docs/images.md"
    )


def test_kops_generated_manifest_round_trip(state: str, tmp_path: Path) -> None:
    """Issue 15: a kOps-written manifest (both families, cni: {}) imports; get shows what it became;
    both plans carry one firewall rule per family."""
    r = run("create", "-f", str(KOPS / "gce-single-dualstack-access.yaml"))
    assert r.returncode == 0, r.stderr
    r = run("get", "cluster", "single.k8s.local", "-o", "yaml")
    assert r.returncode == 0, r.stderr
    assert "- ::/0" in r.stdout and "plugin: none" in r.stdout
    r = run("update", "cluster", "single.k8s.local", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert "manifestSha256.calico" not in r.stderr and "manifestSha256.cilium" not in r.stderr
    creates = {c["name"] for c in json.loads(r.stdout)["changes"] if c["kind"] == "firewall"}
    assert {"https-api-external-single-k8s-local", "https-api-external-ipv6-single-k8s-local"} <= creates
    r = run("update", "cluster", "single.k8s.local", "--target", "terraform", "--out", str(tmp_path / "tf"))
    assert r.returncode == 0, r.stderr
    tf = json.loads((tmp_path / "tf" / "kubernetes.tf.json").read_text())["resource"]["google_compute_firewall"]
    ranges = {v["name"]: v.get("source_ranges") for v in tf.values()}
    assert ranges["ssh-external-to-node-single-k8s-local"] == ["0.0.0.0/0"]
    assert ranges["ssh-external-to-node-ipv6-single-k8s-local"] == ["::/0"]


def test_create_cluster_access_flags_take_both_families(state: str) -> None:
    r = create_demo("--api-access", "203.0.113.0/24,2001:db8::/32", "--ssh-access", "::/0")
    assert r.returncode == 0, r.stderr
    spec = json.loads(run("get", "clusters", "-o", "json").stdout)[0]["spec"]
    assert spec["kubernetesApiAccess"] == ["203.0.113.0/24", "2001:db8::/32"] and spec["sshAccess"] == ["::/0"]
    r = run("create", "cluster", "bad.example.com", "--project", "my-proj", "--zones", "us-central1-a",
            "--admin-access", "2001:db8::1/32")  # fmt: skip
    assert r.returncode == 2 and "spec.kubernetesApiAccess[0]" in r.stderr and "Traceback" not in r.stderr
