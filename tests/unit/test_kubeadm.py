"""kubeadm configs and the kubeadm command lines of the bootstrap, against kubeadm's own rules."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from kubegce.boot.kubeadm import CERTIFICATE_KEY_PLACEHOLDER, FLAGS_ALLOWED_WITH_CONFIG, render_kubeadm_config
from kubegce.boot.render import bootstrap_template
from kubegce.spec.models import Role
from tests.conftest import make_bundle


def kubeadm_command_lines() -> list[list[str]]:
    script = bootstrap_template().replace("\\\n", " ")
    return [shlex.split(m.group(0)) for m in re.finditer(r"^\s*kubeadm (?:init|join)\b[^\n]*", script, re.M)]


def test_the_bootstrap_never_mixes_config_with_flags_kubeadm_refuses() -> None:
    lines = kubeadm_command_lines()
    assert len(lines) == 2  # init; join (control planes find their key in the config)
    for argv in lines:
        assert "--config" in argv
        flags = {a[2:].split("=")[0] for a in argv if a.startswith("--")}
        refused = {f for f in flags if f not in FLAGS_ALLOWED_WITH_CONFIG and not f.startswith("skip-")}
        assert not refused, f"kubeadm refuses {refused} beside --config: {' '.join(argv)}"


@pytest.mark.parametrize("version", ["1.30.4", "1.33.2"])
def test_control_planes_carry_the_key_placeholder_and_nodes_do_not(version: str) -> None:
    bundle = make_bundle()
    bundle.cluster.spec.kubernetes_version = version
    for group in bundle.instance_groups:
        docs = list(yaml.safe_load_all(render_kubeadm_config(bundle, group, "api.internal.demo.example.com")))
        kinds = {d["kind"]: d for d in docs}
        if group.spec.role == Role.CONTROL_PLANE:
            assert kinds["InitConfiguration"]["certificateKey"] == CERTIFICATE_KEY_PLACEHOLDER
            assert kinds["JoinConfiguration"]["controlPlane"]["certificateKey"] == CERTIFICATE_KEY_PLACEHOLDER
        else:
            assert set(kinds) == {"JoinConfiguration"} and "controlPlane" not in kinds["JoinConfiguration"]
        # the placeholder survives YAML as one quoted scalar the bootstrap can replace verbatim
        text = render_kubeadm_config(bundle, group, "api.internal.demo.example.com")
        assert text.count(CERTIFICATE_KEY_PLACEHOLDER) == (2 if group.spec.role == Role.CONTROL_PLANE else 0)
