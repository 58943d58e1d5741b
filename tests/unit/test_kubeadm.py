"""kubeadm configs and the kubeadm command lines of the bootstrap, against kubeadm's own rules."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from kubegce.boot.kubeadm import ETCD_DATA_DIR, FLAGS_ALLOWED_WITH_CONFIG, render_kubeadm_config
from kubegce.boot.render import bootstrap_template
from kubegce.spec.models import ClusterBundle, InstanceGroup, Role
from tests.conftest import make_bundle


def kubeadm_command_lines() -> list[list[str]]:
    script = bootstrap_template().replace("\\\n", " ")
    return [shlex.split(m.group(0)) for m in re.finditer(r"^\s*kubeadm (?:init|join)\b[^\n]*", script, re.M)]


def test_the_bootstrap_never_mixes_config_with_flags_kubeadm_refuses() -> None:
    lines = kubeadm_command_lines()
    assert len(lines) == 3  # init on a restored etcd member (lib/restore.sh); init; join
    (restored,) = [a for a in lines if any(f.startswith("--ignore-preflight-errors") for f in a)]
    # kubeadm names the check after the directory, "/" as "-" (cmd/kubeadm/app/preflight/checks.go
    # DirAvailableCheck.Name, v1.35): only the restored member may find etcd's data dir full
    assert restored[-1] == "--ignore-preflight-errors=DirAvailable-" + ETCD_DATA_DIR.replace("/", "-")
    for argv in lines:
        assert "--config" in argv
        flags = {a[2:].split("=")[0] for a in argv if a.startswith("--")}
        refused = {f for f in flags if f not in FLAGS_ALLOWED_WITH_CONFIG and not f.startswith("skip-")}
        assert not refused, f"kubeadm refuses {refused} beside --config: {' '.join(argv)}"


def _docs(bundle: ClusterBundle, group: InstanceGroup) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(render_kubeadm_config(bundle, group, "api.internal.x"))}


@pytest.mark.parametrize("version", ["1.30.4", "1.35.8", "1.37.0"])
def test_no_certificate_key_anywhere(version: str) -> None:
    """kubeadm's uploaded certificates expire after two hours (constants.go DefaultCertTokenDuration):
    a control plane added later with a certificateKey fails its join. Control planes get the shared
    CAs from their secrets bundle instead, so no config carries a key and init uploads none."""
    bundle = make_bundle()
    bundle.cluster.spec.kubernetes_version = version
    for group in bundle.instance_groups:
        text = render_kubeadm_config(bundle, group, "api.internal.x")
        assert "certificateKey" not in text
        kinds = _docs(bundle, group)
        if group.spec.role == Role.CONTROL_PLANE:
            assert set(kinds) == {"InitConfiguration", "ClusterConfiguration", "JoinConfiguration"}
            assert kinds["JoinConfiguration"]["controlPlane"] == {"localAPIEndpoint": {"bindPort": 443}}
        else:
            assert set(kinds) == {"JoinConfiguration"} and "controlPlane" not in kinds["JoinConfiguration"]
    script = bootstrap_template()
    assert "--upload-certs" not in script and "certificate-key" not in script


def _kubelet_args(reg: dict[str, Any]) -> dict[str, str]:
    args = reg.get("kubeletExtraArgs", [])
    return {a["name"]: a["value"] for a in args} if isinstance(args, list) else dict(args)


@pytest.mark.parametrize("ccm", [False, True])
def test_kubelet_is_told_external_cloud_provider_only_with_a_ccm(ccm: bool) -> None:
    """With --cloud-provider=external the kubelet taints every node
    node.cloudprovider.kubernetes.io/uninitialized and only a CCM removes it
    (pkg/kubelet/kubelet_node_status.go): without one nothing would ever schedule."""
    bundle = make_bundle()
    bundle.cluster.spec.cloud_controller_manager = ccm
    for group in bundle.instance_groups:
        for kind in ("InitConfiguration", "JoinConfiguration"):
            reg = _docs(bundle, group).get(kind, {}).get("nodeRegistration")
            if reg is None:
                continue
            assert ("cloud-provider" in _kubelet_args(reg)) is ccm
            assert _kubelet_args(reg).get("cloud-provider", "external") == "external"


def test_container_registry_becomes_kubeadms_image_repository() -> None:
    bundle = make_bundle()
    cp = next(g for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE)
    assert "imageRepository" not in _docs(bundle, cp)["ClusterConfiguration"]
    bundle.cluster.spec.assets.container_registry = "mirror.example.com:5000/k8s"
    assert _docs(bundle, cp)["ClusterConfiguration"]["imageRepository"] == "mirror.example.com:5000/k8s"
    assert _docs(bundle, cp)["ClusterConfiguration"]["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}
