"""The bootstrap fetches its node config and its role's secrets from a state bucket
(fake-gcs-server in the boot's namespace) with the instance's token, and refuses a tampered config."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from kubegce.boot.plans import render_cluster_boot
from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import LabMachine, lab_bundle, lab_catalog
from kubegce.spec.models import Role
from kubegce.state.base import DirUrls
from kubegce.state.layout import discovery_key, election_key, role_of, role_secrets_key
from kubegce.state.pki import ClusterSecrets, role_bundle
from tests.conftest import fake_gcs_binary

pytestmark = pytest.mark.bootlab
PORT = 4443  # inside the boot's own network namespace: always free
BUCKET = "lab-state"


class LabBucket:
    nodes_can_read = True

    def object_url(self, key: str) -> str:
        return f"http://127.0.0.1:{PORT}/storage/v1/b/{BUCKET}/o/{quote('team/' + key, safe='')}?alt=media"

    def upload_url(self, key: str) -> str:
        return f"http://127.0.0.1:{PORT}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={quote('team/' + key, safe='')}"

    def create_url(self, key: str) -> str:
        name = quote("team/" + key, safe="")
        return f"http://127.0.0.1:{PORT}/upload/storage/v1/b/{BUCKET}/o?uploadType=multipart&name={name}&ifGenerationMatch=0"

    def dir_urls(self, directory: str) -> DirUrls:
        name = quote("team/" + directory, safe="")
        return DirUrls(f"http://127.0.0.1:{PORT}/storage/v1/b/{BUCKET}/o?prefix={name}%2F",
                       f"http://127.0.0.1:{PORT}/storage/v1/b/{BUCKET}/o/{name}%2F",
                       f"http://127.0.0.1:{PORT}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}%2F")  # fmt: skip


def prepare(tmp_path: Path, tamper: bool = False, role: Role = Role.NODE, secrets_: ClusterSecrets | None = None,
            api_address: str | None = "10.0.16.9", control_planes: int = 1,
            election_holder: str | None = None) -> tuple[dict[str, str], dict[str, object]]:  # fmt: skip
    bundle = lab_bundle("rocky-linux-cloud/rocky-linux-9")
    for g in bundle.instance_groups:
        if g.spec.role == Role.CONTROL_PLANE:
            g.spec.min_size = g.spec.max_size = control_planes
    boot = render_cluster_boot(bundle, lab_catalog(), store=LabBucket())
    node = next(g for g in boot.groups if g.group.spec.role == role)
    objects = dict(boot.node_objects)
    secrets_ = secrets_ or ClusterSecrets.generate()
    for role_name in ("control-plane", "node"):
        objects[role_secrets_key(bundle.cluster.name, role_name)] = role_bundle(
            secrets_, role_name, bundle.cluster.name, "https://api:443"
        )
    if api_address is not None:
        objects[discovery_key(bundle.cluster.name)] = api_address.encode()
    if election_holder is not None:
        objects[election_key(bundle.cluster.name)] = election_holder.encode()
    if tamper:
        key = next(k for k in objects if k.endswith(f"{node.group.name}.env") and role_of(node.group) in k)
        objects[key] = objects[key].replace(b"KUBEGCE_ROLE=node", b"KUBEGCE_ROLE=control-plane")
    data = tmp_path / "gcs"
    for key, content in objects.items():
        path = data / BUCKET / "team" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    assert "kubegce-node-config" not in node.metadata  # only the pointer and the hash travel in metadata
    assert "storage/v1/b/lab-state" in node.metadata["startup-script"]
    return node.metadata, {"binary": fake_gcs_binary(), "port": PORT, "data": str(data),
                           "read_objects": [f"{BUCKET}/team/{discovery_key(bundle.cluster.name)}",
                                            f"{BUCKET}/team/{election_key(bundle.cluster.name)}"]}  # fmt: skip


def test_node_fetches_config_and_secrets_from_the_bucket(tmp_path: Path) -> None:
    metadata, gcs = prepare(tmp_path)
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(gcs=gcs, read_files=["/etc/kubernetes/pki/ca.crt", "/etc/kubegce/bootstrap.kubeconfig",
                                             "/etc/kubernetes/pki/ca.key", "/etc/hosts"])  # fmt: skip
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-2000:]
    files = result.raw["files"]
    # the bundle brought no CA file (kubeadm join's preflight refuses one on a worker): the CA is in
    # the bootstrap kubeconfig, and the CA file is what kubeadm (the lab's stand-in) wrote from discovery
    assert not files["/etc/kubernetes/pki/ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert "token:" in files["/etc/kubegce/bootstrap.kubeconfig"]
    assert "certificate-authority-data:" in files["/etc/kubegce/bootstrap.kubeconfig"]
    assert files["/etc/kubernetes/pki/ca.key"] == ""  # a node's bundle carries no CA key
    # it found the API address the first control plane published, before joining
    assert "10.0.16.9 api.internal.lab.example.com # kubegce-api" in files["/etc/hosts"]
    token_requests = [r for r in result.raw["requests"] if r["path"].endswith("/service-accounts/default/token")]
    assert len(token_requests) >= 2  # one for the config, one for the secrets


def test_node_refuses_a_tampered_config(tmp_path: Path) -> None:
    metadata, gcs = prepare(tmp_path, tamper=True)
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(gcs=gcs)
    assert result.guest_attributes["phase"] == "failed"
    assert result.guest_attributes["error"].startswith("fetch_config:")
    assert "refusing it" in result.runner_output
    assert not any(c.startswith("kubeadm") for c in result.calls)


def test_control_plane_gets_its_secrets_into_kubeadm_never_on_the_console(tmp_path: Path) -> None:
    secrets_ = ClusterSecrets.generate()
    metadata, gcs = prepare(tmp_path, role=Role.CONTROL_PLANE, secrets_=secrets_, api_address=None)
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(gcs=gcs, read_files=["/etc/kubernetes/pki/ca.key", "/etc/hosts", "/etc/kubegce/kubeadm.yaml"])
        mode = (m.dir / "upper/etc/kubegce/kubeadm.yaml").stat().st_mode & 0o777
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-2000:]
    assert result.raw["files"]["/etc/kubernetes/pki/ca.key"].startswith("-----BEGIN PRIVATE KEY-----")
    init = [c for c in result.calls if c.startswith("kubeadm init")]
    # no certificates are uploaded (they expire after two hours): control planes have the shared
    # CAs from their bundle; the command line carries no secret
    assert init == ["kubeadm init --config /etc/kubegce/kubeadm.yaml --skip-token-print"]
    assert "certificateKey" not in result.raw["files"]["/etc/kubegce/kubeadm.yaml"]
    assert mode == 0o600
    assert any(c.startswith(f"kubeadm token create {secrets_.token['token']}") for c in result.calls)
    # the token keeper (lib/token.sh): installed and enabled, so nodes can join on any day
    assert "systemctl enable --now kubegce-join-token.timer" in result.calls
    # the single control plane published its own address for the nodes
    objects = result.raw["bucket_objects"]
    assert objects[f"{BUCKET}/team/{discovery_key('lab.example.com')}"] == "10.0.16.2"
    assert not objects[f"{BUCKET}/team/{election_key('lab.example.com')}"]  # one control plane: no election
    assert "10.0.16.2 api.internal.lab.example.com # kubegce-api" in result.raw["files"]["/etc/hosts"]
    console = result.runner_output
    assert secrets_.token["token"] not in console and secrets_.certificate_key not in console
    assert "PRIVATE KEY" not in console


def test_a_node_that_finds_no_api_address_fails_in_join(tmp_path: Path) -> None:
    from kubegce.diagnose.analyze import analyze

    metadata, gcs = prepare(tmp_path, api_address=None)
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(gcs=gcs, lab_env={"KUBEGCE_DISCOVERY_TIMEOUT": "2", "KUBEGCE_DISCOVERY_INTERVAL": "1"})
        log = m.serial_log(result)
    assert result.guest_attributes["phase"] == "failed"
    assert result.guest_attributes["error"].startswith("kubeadm_join:")
    assert "no API address was published" in result.runner_output
    assert analyze(log).cause == "join-failed"


@pytest.mark.parametrize(
    ("holder", "expect_init", "log_line"),
    [
        (None, True, "init-election=won holder=lab-node-1"),  # first to create the object
        ("cp-b-7xk2", False, "init-election=lost holder=cp-b-7xk2"),  # another control plane won
        ("lab-node-1", True, "init-election=won holder=lab-node-1 (earlier run)"),  # rerun on the winner
    ],
)
def test_ha_control_planes_elect_one_kubeadm_init_through_the_bucket(
    tmp_path: Path, holder: str | None, expect_init: bool, log_line: str
) -> None:
    metadata, gcs = prepare(tmp_path, role=Role.CONTROL_PLANE, control_planes=3, election_holder=holder)
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(gcs=gcs, read_files=["/etc/kubegce/kubeadm.yaml"])
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-2000:]
    assert log_line in result.runner_output
    inits = [c for c in result.calls if c.startswith("kubeadm init")]
    joins = [c for c in result.calls if c.startswith("kubeadm join")]
    assert (len(inits), len(joins)) == ((1, 0) if expect_init else (0, 1))
    if not expect_init:
        # joins as a control plane, with the shared CAs of its bundle: no certificate key
        import yaml

        join = list(yaml.safe_load_all(result.raw["files"]["/etc/kubegce/kubeadm.yaml"]))[-1]
        assert join["kind"] == "JoinConfiguration" and "certificateKey" not in join["controlPlane"]
    # the object names the winner; a loser never overwrites it
    assert result.raw["bucket_objects"][f"{BUCKET}/team/{election_key('lab.example.com')}"] == (holder or "lab-node-1")
