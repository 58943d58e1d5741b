"""Rendered node payloads: shell, MIME, Ignition, metadata limits, injection safety."""

from __future__ import annotations

import email
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubegce.boot.channel import decide_channel
from kubegce.boot.plans import render_cluster_boot
from kubegce.boot.render import NODE_CONFIG_KEY, render_bootstrap, render_node_config
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from kubegce.spec.models import BootChannel, BootstrapSpec, UserDataPart
from kubegce.state.base import DirUrls
from kubegce.state.layout import role_of
from tests.conftest import make_bundle

CATALOG = Catalog.load()
CLOUD = UserDataPart(
    name="b.cfg",
    type="text/cloud-config",
    content="#cloud-config\nruncmd:\n  - [touch, /run/b]\nwrite_files:\n  - path: /etc/b\n    content: b\n",
)
SHELL = UserDataPart(name="a.sh", type="text/x-shellscript", content="#!/bin/sh\necho a\n")


def _payload(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def boot_for(image: str, parts: list[UserDataPart] | None = None, install: bool = False):  # type: ignore[no-untyped-def]
    b = make_bundle(image=image)
    for g in b.instance_groups:
        g.spec.bootstrap = BootstrapSpec(additional_user_data=parts or [], install_cloud_init=install)
    return render_cluster_boot(b, CATALOG)


def all_payload_scripts() -> dict[str, str]:
    """Every distinct rendered script over all catalog families and channel shapes."""
    scripts: dict[str, str] = {}
    for p in CATALOG.profiles:
        ref = f"{p.project}/{p.families[0]}"
        for parts, install in (([], False), ([SHELL], False), ([CLOUD], True)):
            if p.ignition and parts == [CLOUD]:
                continue
            if not p.cloud_init and not p.guest_agent:
                continue
            boot = boot_for(ref, parts, install)
            for g in boot.groups:
                if g.payload.startup_script:
                    scripts[f"{ref}:{g.group.name}:{len(parts)}:startup"] = g.payload.startup_script
                ud = g.payload.user_data
                if ud and g.decision.user_data_format == "mime":
                    for part in email.message_from_string(ud).walk():
                        if part.get_content_type() == "text/x-shellscript":
                            scripts[f"{ref}:{g.group.name}:{len(parts)}:ud"] = _payload(part).decode()
                if ud and g.decision.user_data_format == "ignition":
                    src = json.loads(ud)["storage"]["files"][0]["contents"]["source"]
                    import base64

                    scripts[f"{ref}:{g.group.name}:ign"] = base64.b64decode(src.split(",", 1)[1]).decode()
    return scripts


def test_shellcheck_every_rendered_script(shellcheck: str, tmp_path: Path) -> None:
    scripts = all_payload_scripts()
    assert len(scripts) > 30
    distinct = {text: name for name, text in scripts.items()}
    files = []
    for i, text in enumerate(distinct):
        f = tmp_path / f"s{i}.sh"
        f.write_text(text)
        files.append(str(f))
    res = subprocess.run([shellcheck, "-s", "bash", "-S", "style", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout
    template = Path(__file__).parents[2] / "src/kubegce/boot/templates/bootstrap.sh"
    res = subprocess.run([shellcheck, "-S", "style", str(template)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def test_ubuntu_cloud_config_goes_to_mime_user_data(cloud_init_cmd: list[str], tmp_path: Path) -> None:
    boot = boot_for("ubuntu-os-cloud/ubuntu-2404-lts-amd64", [SHELL, CLOUD])
    g = boot.groups[1]
    assert "startup-script" not in g.metadata and g.metadata["kubegce-boot-channel"] == "user-data"
    msg = email.message_from_string(g.metadata["user-data"])
    assert msg.is_multipart()
    parts = [p for p in msg.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/x-shellscript", "text/cloud-config"]
    assert _payload(parts[0]).decode().startswith("#!/bin/bash")
    # the shell part of the user is inside the bootstrap's config, never a MIME part
    assert "a.sh" in g.metadata[NODE_CONFIG_KEY]
    cfg = tmp_path / "part.yaml"
    cfg.write_bytes(_payload(parts[1]))
    res = subprocess.run([*cloud_init_cmd, "schema", "--config-file", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_install_cloud_init_renders_startup_script_plus_mime(cloud_init_cmd: list[str], tmp_path: Path) -> None:
    boot = boot_for("rhel-cloud/rhel-9", [CLOUD], install=True)
    g = boot.groups[1]
    assert g.metadata["kubegce-boot-channel"] == "startup-script+install-cloud-init"
    assert "KUBEGCE_INSTALL_CLOUD_INIT=1" in g.metadata[NODE_CONFIG_KEY]
    parts = [p for p in email.message_from_string(g.metadata["user-data"]).walk() if not p.is_multipart()]
    # the bootstrap runs from startup-script only; user-data carries the user's cloud-config
    assert [p.get_content_type() for p in parts] == ["text/cloud-config"]
    cfg = tmp_path / "part.yaml"
    cfg.write_bytes(_payload(parts[0]))
    res = subprocess.run([*cloud_init_cmd, "schema", "--config-file", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_rhel_with_cloud_config_and_no_install_is_refused() -> None:
    with pytest.raises(SpecError, match="installCloudInit: true"):
        boot_for("rhel-cloud/rhel-9", [CLOUD])


def test_fcos_gets_valid_ignition(ignition_validate: str, tmp_path: Path) -> None:
    boot = boot_for("fedora-coreos-cloud/fedora-coreos-stable", [SHELL])
    g = boot.groups[1]
    assert "startup-script" not in g.metadata
    config = json.loads(g.metadata["user-data"])
    assert config["ignition"]["version"] == "3.3.0"
    unit = config["systemd"]["units"][0]
    assert unit["enabled"] and "ExecStart=/opt/kubegce/bootstrap.sh" in unit["contents"]
    f = tmp_path / "ign.json"
    f.write_text(g.metadata["user-data"])
    res = subprocess.run([ignition_validate, str(f)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_both_channel_carries_the_same_config_hash_twice() -> None:
    boot = boot_for("my-proj/custom-image")
    g = boot.groups[1]
    assert g.metadata["kubegce-boot-channel"] == "both"
    sha = g.payload.node_config.sha256
    assert f"KUBEGCE_CONFIG_SHA256={sha}" in g.metadata["startup-script"]
    parts = [p for p in email.message_from_string(g.metadata["user-data"]).walk() if not p.is_multipart()]
    assert f"KUBEGCE_CONFIG_SHA256={sha}" in _payload(parts[0]).decode()
    assert boot_for("my-proj/custom-image").groups[1].metadata == g.metadata  # stable rendering
    assert g.metadata["kubegce-node-config-sha256"] == sha


def test_metadata_limits_refuse_oversized_values() -> None:
    big = UserDataPart(name="big.sh", type="text/x-shellscript", content="#!/bin/sh\n" + "x" * 300_000)
    with pytest.raises(SpecError, match="over GCE's 262144-byte limit"):
        boot_for("rhel-cloud/rhel-9", [big])
    parts = [UserDataPart(name=f"p{i}.cfg", type="text/cloud-config", content="#cloud-config\n#" + "y" * 200_000)
             for i in range(3)]  # fmt: skip
    with pytest.raises(SpecError, match="over GCE's 262144-byte limit|over GCE's 524288-byte limit"):
        boot_for("ubuntu-os-cloud/ubuntu-2404-lts-amd64", parts)


def test_metadata_keys_and_pointers() -> None:
    boot = boot_for("rocky-linux-cloud/rocky-linux-9")
    md = boot.groups[0].metadata
    assert md["cluster-name"] == "demo.example.com"
    assert md["kubegce-instance-group"] == "control-plane"
    assert md["enable-guest-attributes"] == "TRUE"
    assert md["kubegce-boot-channel"] == "startup-script"


HOSTILE = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=40
) | st.sampled_from(["$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '", "a\nb\n", '"$HOME"', "\\'\\"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=HOSTILE, label=HOSTILE, taint=HOSTILE, part_name=HOSTILE)
def test_hostile_values_reach_the_node_intact(tmp_path: Path, name: str, label: str, taint: str,
                                              part_name: str) -> None:  # fmt: skip
    b = make_bundle(image="rocky-linux-cloud/rocky-linux-9")
    g = b.instance_groups[1]
    # bypass validation on purpose: the renderer must be safe on its own
    b.cluster.metadata.name = name
    g.metadata.name = part_name
    g.spec.node_labels = {"k": label}
    g.spec.taints = [f"k={taint}:NoSchedule"]
    g.spec.bootstrap = BootstrapSpec(additional_user_data=[UserDataPart(name=part_name, content="#!/bin/sh\n")])
    image = CATALOG.resolve(g.spec.image)
    plan = decide_channel(image, g.spec.bootstrap, where="ig")
    config = render_node_config(b, g, plan, image.profile, api_endpoint=f"api.{name}")
    script = render_bootstrap(config, "startup-script")
    work = tmp_path / "w"
    work.mkdir(exist_ok=True)
    (work / "config.env").write_text(config.text)
    (work / "boot.sh").write_text(script)
    probe = (
        'set -u; . ./config.env; printf "%s\\0" "$KUBEGCE_CLUSTER_NAME" "$KUBEGCE_INSTANCE_GROUP" '
        '"${KUBEGCE_USER_PART_NAMES[0]}"; printf "%s" "$KUBEGCE_KUBEADM_CONFIG_B64" | base64 -d'
    )
    res = subprocess.run(["bash", "-c", probe], cwd=work, capture_output=True)
    assert res.returncode == 0, res.stderr
    fields = res.stdout.split(b"\0")
    assert fields[:3] == [name.encode(), part_name.encode(), part_name.encode()]
    import yaml

    docs = list(yaml.safe_load_all(fields[3].decode()))
    join = docs[-1]["nodeRegistration"]
    assert join["taints"][0]["value"] == taint
    assert {"name": "node-labels", "value": f"k={label}"} in join["kubeletExtraArgs"]
    assert subprocess.run(["bash", "-n", str(work / "boot.sh")]).returncode == 0
    assert not (work / "CANARY").exists()


def test_shellcheck_project_scripts(shellcheck: str) -> None:
    root = Path(__file__).parents[2]
    files = sorted(str(p) for p in [*root.glob("scripts/*.sh"), *root.glob("src/kubegce/lab/templates/*.sh"),
                                    root / ".ci/run"])  # fmt: skip
    res = subprocess.run([shellcheck, "-S", "style", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


class _Bucket:
    nodes_can_read = True

    def object_url(self, key: str) -> str:
        return f"https://storage.example/o/{key}"

    def upload_url(self, key: str) -> str:
        return f"https://storage.example/upload?name={key}"

    def create_url(self, key: str) -> str:
        return f"https://storage.example/upload?name={key}&ifGenerationMatch=0"

    def dir_urls(self, directory: str) -> DirUrls:
        return DirUrls(f"https://storage.example/o?prefix={directory}/", f"https://storage.example/o/{directory}/",
                       f"https://storage.example/upload?name={directory}/")  # fmt: skip


@pytest.mark.parametrize("control_planes", [1, 3])
def test_only_ha_control_planes_get_an_init_election(control_planes: int) -> None:
    b = make_bundle(image="rocky-linux-cloud/rocky-linux-9")
    for g in b.instance_groups:
        if g.spec.role.value == "ControlPlane":
            g.spec.min_size = g.spec.max_size = control_planes
    boot = render_cluster_boot(b, CATALOG, store=_Bucket())
    configs = {k: v.decode() for k, v in boot.node_objects.items()}
    assert configs and all("KUBEGCE_ELECTION_UPLOAD_URL=" in c for c in configs.values())
    create = "KUBEGCE_ELECTION_UPLOAD_URL='https://storage.example/upload?name=demo.example.com/discovery/init-election&ifGenerationMatch=0'"
    first = "KUBEGCE_FIRST_CONTROL_PLANE=auto" if control_planes > 1 else "KUBEGCE_FIRST_CONTROL_PLANE=1"
    assert all((create in c) == (control_planes > 1) and first in c for c in configs.values())


@pytest.mark.parametrize(
    ("node_image", "expected"),
    [("ubuntu-os-cloud/ubuntu-2404-lts-amd64", "/opt/cni/bin"), ("cos-cloud/cos-stable", "/home/kubernetes/bin/cni")],
)
def test_one_cni_plugin_dir_for_the_whole_cluster(node_image: str, expected: str) -> None:
    """The network DaemonSet's hostPath is cluster-wide: a COS node group moves every node's dir."""
    b = make_bundle(image="ubuntu-os-cloud/ubuntu-2404-lts-amd64")
    for g in b.instance_groups:
        if g.spec.role.value == "Node":
            g.spec.image = node_image
    boot = render_cluster_boot(b, CATALOG)
    dirs = {g.group.name: g.metadata[NODE_CONFIG_KEY] for g in boot.groups}
    assert all(f"KUBEGCE_CNI_BIN_DIR={expected}\n" in cfg for cfg in dirs.values()), dirs


@pytest.mark.parametrize("channel", [BootChannel.STARTUP_SCRIPT, BootChannel.USER_DATA, BootChannel.BOTH])
def test_with_a_bucket_every_bootstrap_copy_fetches_the_config_from_it(channel: BootChannel) -> None:
    """The config is not in metadata then: a bootstrap pointing at the metadata key could never start."""
    b = make_bundle(image="ubuntu-os-cloud/ubuntu-2404-lts-amd64")
    for g in b.instance_groups:
        g.spec.bootstrap = BootstrapSpec(channel=channel)
    for gb in render_cluster_boot(b, CATALOG, store=_Bucket()).groups:
        assert NODE_CONFIG_KEY not in gb.metadata
        scripts = [gb.payload.startup_script] if gb.payload.startup_script else []
        if gb.payload.user_data:
            scripts += [_payload(p).decode() for p in email.message_from_string(gb.payload.user_data).walk()
                        if p.get_content_type() == "text/x-shellscript"]  # fmt: skip
        assert scripts
        want = f"KUBEGCE_CONFIG_SOURCE=https://storage.example/o/demo.example.com/nodeconfig/{role_of(gb.group)}/"
        assert all(want in s for s in scripts), [s.split("\n", 20)[:20] for s in scripts]
