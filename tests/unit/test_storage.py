"""spec.storage (docs/storage.md): the PD CSI driver's objects and node config, the StorageClasses
kubegce renders, the deprecated pd-csi pin, validation of the default class's name and of the
registry its images come from, kOps import, and install_storage's shell run against stand-ins."""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegce.boot.channel import decide_channel
from kubegce.boot.plans import asset_warnings
from kubegce.boot.render import render_node_config
from kubegce.boot.storage import pd_csi_objects, render_storage_classes
from kubegce.images.catalog import Catalog
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import ClusterBundle
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

CATALOG = Catalog.load()
FIXTURES = Path(__file__).parent / "fixtures" / "kops"
PIN = "c" * 64
TEMPLATES = Path(__file__).parents[2] / "src" / "kubegce" / "boot" / "templates"


def settings(bundle: ClusterBundle) -> dict[str, str]:
    g = next(g for g in bundle.instance_groups if g.spec.role == "ControlPlane")
    image = CATALOG.resolve(g.spec.image)
    config = render_node_config(bundle, g, decide_channel(image, g.spec.bootstrap, where="ig"), image.profile,
                                api_endpoint="api.example.com")  # fmt: skip
    out = {}
    for line in config.text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.startswith(("KUBEGCE_PD_CSI", "KUBEGCE_STORAGE")):
            out[key] = " ".join(shlex.split(value))
    return out


def bundle(**storage: Any) -> ClusterBundle:
    b = make_bundle()
    b.cluster.spec.assets.manifest_sha256 = {"calico": PIN}
    for key, value in storage.items():
        setattr(b.cluster.spec.storage, key, value)
    return b


def classes(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(base64.b64decode(text).decode())) if text else []


def storage_class(name: str, disk: str, default: bool) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "kubegce"},
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true" if default else "false"}},
        "provisioner": "pd.csi.storage.gke.io", "parameters": {"type": disk}, "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True,
    }  # fmt: skip


def objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(base64.b64decode(text).decode()) if d]


def test_the_node_config_carries_the_driver_and_the_classes_whole() -> None:
    got = settings(bundle())
    assert {k: v for k, v in got.items() if not k.endswith("_B64")} == {
        "KUBEGCE_PD_CSI_DRIVER": "1", "KUBEGCE_PD_CSI_DRIVER_VERSION": "1.20.0"}  # fmt: skip
    assert objects(got["KUBEGCE_PD_CSI_MANIFEST_B64"]) == pd_csi_objects(bundle().cluster.spec)
    assert classes(got["KUBEGCE_STORAGE_CLASSES_B64"]) == [
        storage_class("standard-rwo", "pd-balanced", True),
        storage_class("premium-rwo", "pd-ssd", False),
    ]


def test_the_driver_objects_from_upstream_without_a_key_secret() -> None:
    objs = pd_csi_objects(bundle().cluster.spec)
    kinds = [o["kind"] for o in objs]
    assert kinds.count("Deployment") == kinds.count("DaemonSet") == kinds.count("CSIDriver") == 1
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "PriorityClass"} <= set(kinds)  # fmt: skip
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "CSIDriver"}
    for o in objs:
        assert o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubegce"
        assert o["metadata"].get("namespace") == (None if o["kind"] in cluster_scoped else "gce-pd-csi-driver")
        for s in o.get("subjects", []):
            assert s["namespace"] == "gce-pd-csi-driver"
    (driver,) = [o for o in objs if o["kind"] == "CSIDriver"]
    assert driver["metadata"]["name"] == "pd.csi.storage.gke.io" and driver["spec"]["attachRequired"] is True
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objs if o["kind"] in ("Deployment", "DaemonSet")
    }
    assert set(pods) == {"csi-gce-pd-controller", "csi-gce-pd-node"}
    images = {c["name"]: c["image"] for p in pods.values() for c in p["containers"]}
    assert images == {
        "csi-provisioner": "registry.k8s.io/sig-storage/csi-provisioner:v5.2.0",
        "csi-attacher": "registry.k8s.io/sig-storage/csi-attacher:v4.8.1",
        "csi-resizer": "registry.k8s.io/sig-storage/csi-resizer:v1.13.2",
        "csi-snapshotter": "registry.k8s.io/sig-storage/csi-snapshotter:v8.2.1",
        "gce-pd-driver": "registry.k8s.io/cloud-provider-gcp/gcp-compute-persistent-disk-csi-driver:v1.20.0",
        "csi-driver-registrar": "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0",
    }
    for p in pods.values():  # the VM's service account through the metadata server: no key anywhere
        assert p["hostNetwork"] is True
        assert not [v for v in p["volumes"] if "secret" in v]
        for c in p["containers"]:
            assert "GOOGLE_APPLICATION_CREDENTIALS" not in {e["name"] for e in c.get("env", [])}
            assert "/etc/cloud-sa" not in {m["mountPath"] for m in c.get("volumeMounts", [])}
    registrar = next(c for c in pods["csi-gce-pd-node"]["containers"] if c["name"] == "csi-driver-registrar")
    assert "--kubelet-registration-path=/var/lib/kubelet/plugins/pd.csi.storage.gke.io/csi.sock" in registrar["args"]
    assert pod_images(bundle()) == set(images.values())


def pod_images(b: ClusterBundle) -> set[str]:
    return {c["image"] for o in pd_csi_objects(b.cluster.spec) if o["kind"] in ("Deployment", "DaemonSet")
            for c in o["spec"]["template"]["spec"]["containers"]}  # fmt: skip


def test_an_air_gapped_cluster_pulls_the_driver_from_its_registry() -> None:
    b = bundle()
    b.cluster.spec.assets.container_registry = "registry.example.com:5000/k8s/"
    got = pod_images(b)
    assert len(got) == 6 and all(i.startswith("registry.example.com:5000/k8s/") for i in got)
    assert "registry.example.com:5000/k8s/sig-storage/csi-provisioner:v5.2.0" in got  # the same paths
    assert "registry.example.com:5000/k8s/cloud-provider-gcp/gcp-compute-persistent-disk-csi-driver:v1.20.0" in got
    text = base64.b64decode(settings(b)["KUBEGCE_PD_CSI_MANIFEST_B64"]).decode()
    assert "registry.k8s.io" not in text


@pytest.mark.parametrize(
    "registry",
    ["reg.example.com\n  image: evil", "reg.example.com/$(id)", "Reg.Example.com", "https://reg.example.com",
     "reg.example.com/a b", "reg.example.com'"],
)  # fmt: skip
def test_hostile_registries_are_refused_before_any_manifest(registry: str) -> None:
    b = bundle()
    b.cluster.spec.assets.container_registry = registry
    (problem,) = validate_bundle(b)
    assert problem.startswith("spec.assets.containerRegistry: ") and "\n" not in problem


def test_a_renamed_or_no_default_class_and_the_opt_out() -> None:
    assert [c["metadata"]["name"] for c in classes(settings(bundle(default_storage_class="fast.disks"))
                                                   ["KUBEGCE_STORAGE_CLASSES_B64"])] == ["fast.disks", "premium-rwo"]  # fmt: skip
    assert classes(settings(bundle(default_storage_class=""))["KUBEGCE_STORAGE_CLASSES_B64"]) == [
        storage_class("premium-rwo", "pd-ssd", False)
    ]
    b = bundle()
    b.cluster.spec.storage.pd_csi_driver.enabled = False
    assert settings(b) == {"KUBEGCE_PD_CSI_DRIVER": "0", "KUBEGCE_PD_CSI_DRIVER_VERSION": "",
                           "KUBEGCE_PD_CSI_MANIFEST_B64": "", "KUBEGCE_STORAGE_CLASSES_B64": ""}  # fmt: skip
    assert render_storage_classes(b.cluster.spec) == "" and pd_csi_objects(b.cluster.spec) == []


def test_workers_carry_neither_manifest() -> None:
    b = bundle()
    g = next(g for g in b.instance_groups if g.spec.role == "Node")
    image = CATALOG.resolve(g.spec.image)
    text = render_node_config(b, g, decide_channel(image, g.spec.bootstrap, where="ig"), image.profile,
                              api_endpoint="api.example.com").text  # fmt: skip
    assert "KUBEGCE_PD_CSI_MANIFEST_B64=''" in text and "KUBEGCE_STORAGE_CLASSES_B64=''" in text


def test_no_warning_by_default_and_the_old_pin_is_ignored_with_one() -> None:
    assert asset_warnings(bundle()) == []  # no mirror, no pin: the driver installs anyway
    b = bundle()
    b.cluster.spec.assets.manifest_sha256["pd-csi"] = PIN  # a spec stored while the driver came from a mirror
    assert validate_bundle(b) == []
    (warning,) = asset_warnings(b)
    assert "manifestSha256.pd-csi is deprecated and ignored" in warning
    assert f"kubegce edit cluster {b.cluster.name} --unset spec.assets.manifestSha256.pd-csi" in warning
    assert settings(b) == settings(bundle())  # the pin changes nothing a node gets


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Standard", "is not a StorageClass name"),
        ("a" * 254, "is not a StorageClass name"),
        ("rwo\n${IFS}x", "is not a StorageClass name"),
        ("-rwo", "is not a StorageClass name"),
        ("premium-rwo", "is the pd-ssd class kubegce also creates"),
    ],
)
def test_bad_default_class_names_are_refused_with_the_fix(name: str, says: str) -> None:
    (problem,) = validate_bundle(bundle(default_storage_class=name))
    assert problem.startswith("spec.storage.defaultStorageClass: ") and says in problem
    assert "standard-rwo" in problem and 'or "" for no default class' in problem
    assert "\n" not in problem


def test_the_cli_refuses_a_bad_class_name_and_writes_nothing(state: str, tmp_path: Path) -> None:
    spec = yaml.safe_dump({"apiVersion": "kubegce.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "s.example.com"},
                           "spec": {"project": "p", "zones": ["us-central1-a"],
                                    "storage": {"defaultStorageClass": "premium-rwo"}}})  # fmt: skip
    (tmp_path / "c.yaml").write_text(spec)
    r = subprocess.run([sys.executable, "-m", "kubegce", "create", "-f", str(tmp_path / "c.yaml")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "spec.storage.defaultStorageClass: premium-rwo is the pd-ssd class" in r.stderr
    assert "Traceback" not in r.stderr
    root = Path(state.removeprefix("file://"))
    assert not root.exists() or not list(root.rglob("*.obj"))


@pytest.mark.parametrize(("block", "enabled"), [("{enabled: false}", False), ("{enabled: true}", True), (None, True)])
def test_kops_gcp_pd_csi_driver_imports(block: str | None, enabled: bool) -> None:
    text = (FIXTURES / "rocky-startup.yaml").read_text()
    if block is not None:
        text = text.replace("    multizone: true\n", f"    multizone: true\n    gcpPDCSIDriver: {block}\n", 1)
    (b,), warnings = load_bundles(parse_documents(text, "k.yaml"), "k.yaml")
    assert b.cluster.spec.storage.pd_csi_driver.enabled is enabled
    assert "gcpPDCSIDriver" not in "".join(warnings)  # mapped, not listed as ignored


def install_storage(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    join = (TEMPLATES / "lib" / "join.sh").read_text()
    (fn,) = re.findall(r"^install_storage\(\) \{.*?^\}", join, re.M | re.S)
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(
        f'#!/bin/sh\necho "KUBECTL $*"\nn=$(ls {tmp_path} | grep -c applied)\n'
        f'for a; do [ -f "$a" ] && cp "$a" {tmp_path}/applied.$((n + 1)); done; exit 0\n'
    )
    kubectl.chmod(0o755)
    code = ('log() { echo "LOG $*"; }\nfetch_asset() { echo "FETCH $1 $3"; }\n'
            f"{fn}\nset -euo pipefail\ninstall_storage {tmp_path}/m\n")  # fmt: skip
    res = subprocess.run(["bash", "-c", code], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "KUBEGCE_BIN_DIR": str(tmp_path), **env})  # fmt: skip
    return res.returncode, res.stdout + res.stderr


def test_install_storage_applies_the_driver_then_the_classes(tmp_path: Path) -> None:
    got = settings(bundle(default_storage_class="x.y"))
    code, out = install_storage(tmp_path, got)
    assert code == 0, out
    lines = out.splitlines()
    assert "FETCH" not in out and "patch" not in out  # nothing fetched, nothing to patch off
    assert [line.split(" -f ")[0] for line in lines[:2]] == [
        "KUBECTL --kubeconfig /etc/kubernetes/admin.conf apply"
    ] * 2
    assert lines[2] == "LOG storage: PD CSI driver 1.20.0 applied"
    driver, classes_file = (tmp_path / "applied.1").read_text(), (tmp_path / "applied.2").read_text()
    assert [d for d in yaml.safe_load_all(driver) if d] == pd_csi_objects(bundle().cluster.spec)
    assert [c["metadata"]["name"] for c in yaml.safe_load_all(classes_file)] == ["x.y", "premium-rwo"]


def test_install_storage_opted_out_or_without_a_manifest_installs_nothing(tmp_path: Path) -> None:
    b = make_bundle()
    b.cluster.spec.storage.pd_csi_driver.enabled = False
    assert install_storage(tmp_path, settings(b)) == (0, "")
    assert install_storage(tmp_path, {}) == (0, "")  # a node config from before spec.storage
    code, out = install_storage(tmp_path, {"KUBEGCE_PD_CSI_DRIVER": "1"})
    assert code == 0 and out.startswith("LOG storage: PD CSI driver not installed") and "KUBECTL" not in out


def test_no_default_class_survives_the_state_store(state: str) -> None:
    """null would be dropped when the spec is written (documents carry no nulls) and the default
    would come back: it is kept as ""."""

    def kubegce(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True)

    assert (
        kubegce("create", "cluster", "s.example.com", "--project", "my-proj", "--zones", "us-central1-a").returncode
        == 0
    )
    r = kubegce("edit", "cluster", "s.example.com", "--set", "spec.storage.defaultStorageClass=null")
    assert r.returncode == 0, r.stderr
    got, *_ = yaml.safe_load_all(kubegce("get", "cluster", "s.example.com", "-o", "yaml").stdout)
    assert got["spec"]["storage"] == {"pdCSIDriver": {"enabled": True}, "defaultStorageClass": ""}


def test_the_control_plane_metadata_stays_far_inside_gces_limits() -> None:
    """The driver travels in the node config (docs/storage.md, Node config size)."""
    from kubegce.boot.metadata import MAX_TOTAL_BYTES
    from kubegce.boot.plans import render_cluster_boot

    boot = render_cluster_boot(bundle(), CATALOG)
    cp = next(g for g in boot.groups if g.group.spec.role == "ControlPlane")
    assert 15_000 < len(cp.metadata["kubegce-node-config"]) < 48 * 1024
    assert sum(len(v) for v in cp.metadata.values()) < MAX_TOTAL_BYTES // 4
