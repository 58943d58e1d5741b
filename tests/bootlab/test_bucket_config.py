"""The bootstrap fetches its node config and its role's secrets from a state bucket
(fake-gcs-server in the boot's namespace) with the instance's token, and refuses a tampered config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import LabMachine
from kubegce.spec.models import Role
from kubegce.state.layout import discovery_key, election_key
from kubegce.state.pki import ClusterSecrets
from tests.bootlab.bucket import BUCKET, prepare

pytestmark = pytest.mark.bootlab


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


def test_a_control_plane_on_a_fresh_disk_restores_the_marked_backup_and_inits_on_it(tmp_path: Path) -> None:
    """lib/restore.sh in a real boot: the marker read from the bucket, the round's election won, the
    snapshot downloaded and checked, the restore tool run into etcd's data dir, then kubeadm init
    (the strict stand-in's preflight) on the now non-empty /var/lib/etcd with only that check ignored."""
    from kubegce.state.layout import restore_leader_key
    from tests.bootlab.scenarios import LAB_BACKUP, restore_objects

    metadata, gcs = prepare(tmp_path, role=Role.CONTROL_PLANE, api_address=None, extra=restore_objects())
    leader = f"{BUCKET}/team/{restore_leader_key('lab.example.com', '0123456789abcdef')}"
    gcs["read_objects"] = [*gcs["read_objects"], leader]  # type: ignore[misc]
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        result = m.boot(gcs=gcs, lab_env={"KUBEGCE_ETCDUTL": "etcdutl"})
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    assert f"etcd-restore=leader backup={LAB_BACKUP}" in result.runner_output
    assert f"etcd-restore=restored backup={LAB_BACKUP} member=lab-node-1 address=10.0.16.2" in result.runner_output
    (restore,) = [c for c in result.calls if c.startswith("etcdutl snapshot restore")]
    assert "--initial-cluster lab-node-1=https://10.0.16.2:2380" in restore
    (init,) = [c for c in result.calls if c.startswith("kubeadm init")]
    assert init.endswith("--ignore-preflight-errors=DirAvailable--var-lib-etcd")
    assert result.raw["bucket_objects"][leader] == "lab-node-1"
    assert "kubegce boot lab: a snapshot" not in result.runner_output  # no snapshot bytes on the console


def test_a_node_looks_up_a_moved_single_control_plane_on_its_next_boot(tmp_path: Path) -> None:
    """After a restore the single control plane is a new instance with a new address; a worker reset
    (or rebooted) finds the address now published and points the API's name at it."""
    from tests.bootlab.bucket import BUCKET as B

    metadata, gcs = prepare(tmp_path, api_address="10.0.16.9")
    with LabMachine(PROFILES["agent-only"], metadata) as m:
        first = m.boot(gcs=gcs, read_files=["/etc/hosts"])
        assert first.guest_attributes["phase"] == "joined", first.runner_output[-2000:]
        assert "10.0.16.9 api.internal.lab.example.com # kubegce-api" in first.raw["files"]["/etc/hosts"]
        (Path(str(gcs["data"])) / B / "team" / discovery_key("lab.example.com")).write_text("10.0.16.77")
        second = m.boot(gcs=gcs, read_files=["/etc/hosts"])
    hosts = second.raw["files"]["/etc/hosts"]
    assert "10.0.16.77 api.internal.lab.example.com # kubegce-api" in hosts and "10.0.16.9 " not in hosts
    assert "api-address=10.0.16.77 (was 10.0.16.9)" in second.runner_output
    assert not [c for c in second.calls if c.startswith("kubeadm")]  # already joined: nothing else runs
