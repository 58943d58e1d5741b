"""spec.storage (docs/storage.md): the PD CSI driver's node config, the StorageClasses kubegce
renders, the mirror URL, the asset warnings, validation of the default class's name, kOps import,
and install_storage's shell run against stand-ins."""

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
from kubegce.boot.storage import render_storage_classes
from kubegce.boot.versions import PD_CSI_KUSTOMIZE, PD_CSI_MANIFEST, asset_urls
from kubegce.images.catalog import Catalog
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import ClusterBundle
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

CATALOG = Catalog.load()
FIXTURES = Path(__file__).parent / "fixtures" / "kops"
MIRROR = "https://mirror.example.com/k8s"
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


def pinned(**storage: Any) -> ClusterBundle:
    b = make_bundle()
    b.cluster.spec.assets.mirror = MIRROR
    b.cluster.spec.assets.manifest_sha256 = {"calico": PIN, "pd-csi": PIN}
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


def test_the_node_config_carries_the_driver_and_the_classes_whole() -> None:
    got = settings(pinned())
    assert {k: v for k, v in got.items() if k != "KUBEGCE_STORAGE_CLASSES_B64"} == {
        "KUBEGCE_PD_CSI_DRIVER": "1",
        "KUBEGCE_PD_CSI_MANIFEST_URL": f"{MIRROR}/manifests/gcp-compute-persistent-disk-csi-driver.yaml",
        "KUBEGCE_PD_CSI_MANIFEST_SHA256": PIN,
        "KUBEGCE_PD_CSI_NAMESPACE": "gce-pd-csi-driver",
    }
    assert classes(got["KUBEGCE_STORAGE_CLASSES_B64"]) == [
        storage_class("standard-rwo", "pd-balanced", True),
        storage_class("premium-rwo", "pd-ssd", False),
    ]


def test_a_renamed_or_no_default_class_and_the_opt_out() -> None:
    assert [c["metadata"]["name"] for c in classes(settings(pinned(default_storage_class="fast.disks"))
                                                   ["KUBEGCE_STORAGE_CLASSES_B64"])] == ["fast.disks", "premium-rwo"]  # fmt: skip
    assert classes(settings(pinned(default_storage_class=None))["KUBEGCE_STORAGE_CLASSES_B64"]) == [
        storage_class("premium-rwo", "pd-ssd", False)
    ]
    b = pinned()
    b.cluster.spec.storage.pd_csi_driver.enabled = False
    assert settings(b) == {"KUBEGCE_PD_CSI_DRIVER": "0", "KUBEGCE_PD_CSI_MANIFEST_URL": "",
                           "KUBEGCE_PD_CSI_MANIFEST_SHA256": "", "KUBEGCE_PD_CSI_NAMESPACE": "gce-pd-csi-driver",
                           "KUBEGCE_STORAGE_CLASSES_B64": ""}  # fmt: skip
    assert render_storage_classes(b.cluster.spec) == ""


def test_the_manifest_is_served_by_a_mirror_only() -> None:
    assert asset_urls("calico", None).pd_csi_manifest == ""  # upstream publishes no single-file manifest
    assert asset_urls("calico", MIRROR + "/").pd_csi_manifest == f"{MIRROR}/{PD_CSI_MANIFEST}"


def test_asset_warnings_say_what_to_do() -> None:
    b = make_bundle()
    b.cluster.spec.assets.manifest_sha256 = {"calico": PIN}
    (warning,) = asset_warnings(b)
    assert "spec.assets.mirror is not set" in warning and f"kubectl kustomize '{PD_CSI_KUSTOMIZE}'" in warning
    assert "spec.storage.pdCSIDriver.enabled: false" in warning
    b.cluster.spec.assets.mirror = MIRROR
    (warning,) = asset_warnings(b)
    assert f"curl -fsSL {MIRROR}/{PD_CSI_MANIFEST} | sha256sum" in warning
    assert "--set spec.assets.manifestSha256.pd-csi=HEX" in warning
    assert asset_warnings(pinned()) == []
    b.cluster.spec.storage.pd_csi_driver.enabled = False
    assert asset_warnings(b) == []


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
    (problem,) = validate_bundle(pinned(default_storage_class=name))
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
        f'#!/bin/sh\necho "KUBECTL $*"\nfor a; do [ -f "$a" ] && cp "$a" {tmp_path}/applied; done; exit 0\n'
    )
    kubectl.chmod(0o755)
    code = ('log() { echo "LOG $*"; }\nfetch_asset() { echo "FETCH $1 $3"; }\n'
            f"{fn}\nset -euo pipefail\ninstall_storage {tmp_path}/m\n")  # fmt: skip
    res = subprocess.run(["bash", "-c", code], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "KUBEGCE_BIN_DIR": str(tmp_path), **env})  # fmt: skip
    return res.returncode, res.stdout + res.stderr


def test_install_storage_applies_the_driver_then_the_classes(tmp_path: Path) -> None:
    got = settings(pinned(default_storage_class="x.y"))
    code, out = install_storage(tmp_path, got)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"FETCH {MIRROR}/{PD_CSI_MANIFEST} {PIN}"
    assert lines[1].startswith("KUBECTL --kubeconfig /etc/kubernetes/admin.conf apply -f ")
    patch = lines[2].split("--patch ", 1)[1]
    assert lines[2].startswith("KUBECTL --kubeconfig /etc/kubernetes/admin.conf --namespace gce-pd-csi-driver "
                               "patch deployment csi-gce-pd-controller --type strategic")  # fmt: skip
    assert "cloud-sa-volume" in patch and "GOOGLE_APPLICATION_CREDENTIALS" in patch and '"$patch":"delete"' in patch
    assert yaml.safe_load(patch)["spec"]["template"]["spec"]["volumes"] == [{"name": "cloud-sa-volume",
                                                                            "$patch": "delete"}]  # fmt: skip
    assert [c["metadata"]["name"] for c in yaml.safe_load_all((tmp_path / "applied").read_text())] == [
        "x.y", "premium-rwo"]  # fmt: skip


def test_install_storage_without_a_mirror_or_opted_out_installs_nothing(tmp_path: Path) -> None:
    b = make_bundle()
    code, out = install_storage(tmp_path, settings(b))
    assert code == 0 and out.startswith("LOG storage: PD CSI driver not installed") and "KUBECTL" not in out
    b.cluster.spec.storage.pd_csi_driver.enabled = False
    assert install_storage(tmp_path, settings(b)) == (0, "")
    assert install_storage(tmp_path, {}) == (0, "")  # a node config from before spec.storage


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
