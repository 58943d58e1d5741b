"""Issue 22 with real etcd: the bootstrap's restore step (lib/restore.sh, run for real from the
bootstrap's own functions) against Debian's etcd 3.4.23 and fake-gcs-server.

A backup is taken by the real backup job from a real etcd; kubegce writes the restore marker as
`restore etcd` does (kubegce.state.backups); a control plane with an empty etcd data dir, its
restore URLs taken from the node config the renderer makes for it, reads the marker, wins the
round's election (a create-only object in the bucket), downloads the snapshot, checks its sha256
and etcd version and restores it with the real `etcdctl snapshot restore` ($KUBEGCE_ETCDUTL: etcd
3.4 has no etcdutl). A real etcd started on the restored member has the keys written before the
backup, not those after, and a new cluster ID; a second control plane of the round loses the
election and joins. A changed snapshot and a snapshot of another etcd major version are refused
with diagnose's cause codes, and leave no snapshot on the disk.

On a node the tool is etcdutl inside the cluster's etcd image (through containerd's ctr), and
`kubeadm init` then runs on the restored member; neither is run here (no kubelet, no images).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.plans import render_cluster_boot
from kubegce.boot.render import template
from kubegce.images.catalog import Catalog
from kubegce.state.backups import list_backups, new_restore_marker, write_restore_marker
from kubegce.state.layout import restore_leader_key
from tests.bootlab.test_real_etcd_backup import BIN, CLUSTER, Etcd, run_job
from tests.conftest import make_bundle

pytestmark = pytest.mark.bootlab


def restore_settings(store: object) -> list[str]:
    """The KUBEGCE_RESTORE_* lines of the node config the renderer makes for a control plane."""
    bundle = make_bundle()
    assert bundle.cluster.name == CLUSTER
    boot = render_cluster_boot(bundle, Catalog.load(), store=store)  # type: ignore[arg-type]
    (config,) = [v.decode() for k, v in boot.node_objects.items() if "/control-plane/" in k]
    lines = [line for line in config.splitlines() if line.startswith("KUBEGCE_RESTORE_")]
    assert {line.split("=", 1)[0] for line in lines} == {
        "KUBEGCE_RESTORE_URL", "KUBEGCE_RESTORE_SNAPSHOT_URL", "KUBEGCE_RESTORE_ELECTION_UPLOAD_URL",
        "KUBEGCE_RESTORE_ELECTION_URL"}  # fmt: skip
    return lines


def run_restore(store: object, etcd_dir: Path, instance: str, steps: str) -> subprocess.CompletedProcess[str]:
    """The restore functions as kubeadm_join runs them, as control plane ``instance`` at 127.0.0.1."""
    common = template("lib/common.sh").replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', 'KUBEGCE_LAB_ENV="/none"')
    script = "\n".join([
        "set -o errexit -o nounset -o pipefail", protocol.shell_constants(), common, template("lib/election.sh"),
        template("lib/restore.sh"), *restore_settings(store),
        "service_account_token() { echo lab-token; }",  # the metadata server, stood in
        f"metadata_get() {{ case $1 in instance/name) echo {instance} ;; instance/id) echo 4242 ;; *) echo 127.0.0.1 ;; esac; }}",
        f"hostname() {{ echo {instance}; }}", "put_guest_attribute() { :; }",
        "KUBEGCE_ROLE=control-plane", f"KUBEGCE_ETCDUTL={BIN / 'etcdctl'}", f"KUBEGCE_ETCD_DIR={etcd_dir}",
        "KUBEGCE_ELECTION_TIMEOUT=20", "KUBEGCE_ELECTION_INTERVAL=1", "CURRENT_STEP=kubeadm_join",
        f"RUN_DIR={etcd_dir.parent / 'run'}", steps,
    ])  # fmt: skip
    (etcd_dir.parent / "run").mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "KUBEGCE_CONFIG_SHA256": "x", "KUBEGCE_CONFIG_SOURCE": "metadata:x"}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)


RESTORE = "restore_pending; elect_restore_leader; echo FIRST=$KUBEGCE_FIRST_CONTROL_PLANE; " \
          "if [[ $KUBEGCE_FIRST_CONTROL_PLANE == 1 ]]; then restore_etcd_snapshot; fi"  # fmt: skip


def cluster_id(etcd: Etcd) -> str:
    return str(json.loads(etcd.run("endpoint", "status", "-w", "json").stdout)[0]["Status"]["header"]["cluster_id"])


def test_the_bootstrap_restores_a_real_snapshot_and_a_real_etcd_serves_it(store: object, tmp_path: Path) -> None:
    etcd = Etcd(tmp_path / "data")
    etcd.start()
    try:
        etcd.run("put", "/registry/namespaces/before", "kept")
        assert run_job(store, etcd.endpoint, tmp_path / "work").returncode == 0
        etcd.run("put", "/registry/namespaces/after", "gone")
        old_cluster = cluster_id(etcd)
    finally:
        etcd.stop()
    (backup,) = list_backups(store, CLUSTER).backups  # type: ignore[arg-type]

    assert run_restore(store, tmp_path / "none", "cp-x", "restore_pending || echo NONE").stdout.strip() == "NONE"
    marker = write_restore_marker(store, CLUSTER, new_restore_marker(backup, [], lifetime_s=600), generation=0)  # type: ignore[arg-type]

    etcd_dir = tmp_path / "new" / "etcd"
    etcd_dir.mkdir(parents=True)
    started = time.monotonic()
    res = run_restore(store, etcd_dir, "cp-new-1", RESTORE)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FIRST=1" in res.stdout and f"etcd-restore=leader backup={backup.id}" in res.stdout
    assert f"etcd-restore=restored backup={backup.id} member=cp-new-1" in res.stdout
    # the snapshot and the work dir are gone; the round's record stays beside the member
    assert sorted(p.name for p in etcd_dir.iterdir()) == [".kubegce-restored", "member"]
    assert (etcd_dir / "member").stat().st_mode & 0o077 == 0
    holder = store.read(restore_leader_key(CLUSTER, marker.token))  # type: ignore[attr-defined]
    assert holder is not None and holder.data.decode().strip() == "cp-new-1"

    # a rerun of the winner's boot (kubeadm init failed, say) never restores over the member again
    again = run_restore(store, etcd_dir, "cp-new-1", RESTORE)
    assert again.returncode == 0 and "(an earlier run)" in again.stdout, again.stdout + again.stderr
    # a rerun on the winner wins again; another control plane of the round joins it
    assert "FIRST=1" in run_restore(store, tmp_path / "none", "cp-new-1", "restore_pending; elect_restore_leader; "
                                    "echo FIRST=$KUBEGCE_FIRST_CONTROL_PLANE").stdout  # fmt: skip
    other = run_restore(store, tmp_path / "none", "cp-new-2", RESTORE)
    assert other.returncode == 0 and "FIRST=0" in other.stdout and "leader=cp-new-1" in other.stdout, other.stdout

    restored = Etcd(etcd_dir.parent / "etcd")
    restored.start()
    try:
        print(f"\nreal etcd restore by the bootstrap (marker, election, download, sha256, restore): {took:.2f}s")
        assert restored.get("/registry/namespaces/before") == "kept"
        assert restored.get("/registry/namespaces/after") == ""
        assert cluster_id(restored) != old_cluster  # a new cluster, not a member of the old one
    finally:
        restored.stop()


@pytest.mark.parametrize(("change", "cause"), [
    ({"sha256": "0" * 64}, protocol.RESTORE_CHECKSUM_MISMATCH),
    ({"etcd_version": "4.0.1"}, protocol.RESTORE_ETCD_VERSION),
    ({"etcd_version": "3.6.4"}, protocol.RESTORE_ETCD_VERSION),  # newer than the 3.4 tool
])  # fmt: skip
def test_a_changed_snapshot_or_another_etcd_version_is_refused(store: object, tmp_path: Path, change: dict[str, str],
                                                             cause: str) -> None:  # fmt: skip
    etcd = Etcd(tmp_path / "data")
    etcd.start()
    try:
        assert run_job(store, etcd.endpoint, tmp_path / "work").returncode == 0
    finally:
        etcd.stop()
    (backup,) = list_backups(store, CLUSTER).backups  # type: ignore[arg-type]
    marker = replace(new_restore_marker(backup, [], lifetime_s=600), **change)  # type: ignore[arg-type]
    write_restore_marker(store, CLUSTER, marker, generation=0)  # type: ignore[arg-type]
    etcd_dir = tmp_path / "new" / "etcd"
    etcd_dir.mkdir(parents=True)
    res = run_restore(store, etcd_dir, "cp-new-1", RESTORE)
    assert res.returncode != 0 and f"error={cause}:" in res.stdout, res.stdout + res.stderr
    assert list(etcd_dir.iterdir()) == []  # no snapshot, no member left behind


@pytest.mark.parametrize(("change", "why"), [
    ({"replace": ("4242",)}, "replaces"),  # this instance (its id, stood in) is one the round replaces
    ({"state": "aborted"}, ""),
    ({"state": "complete"}, ""),
])  # fmt: skip
def test_a_stale_aborted_or_done_marker_or_an_old_member_restores_nothing(store: object, tmp_path: Path,
                                                                         change: dict[str, object], why: str) -> None:  # fmt: skip
    from kubegce.backups.manifest import Manifest

    backup = Manifest("20261206T131500Z-cp-a-1x2y", CLUSTER, __import__("datetime").datetime(2026, 12, 6), "cp-a",
                      1, "3.4.23", "1.35.0", 1, "a" * 64)  # fmt: skip
    write_restore_marker(store, CLUSTER, replace(new_restore_marker(backup, [], lifetime_s=600), **change),  # type: ignore[arg-type]
                         generation=0)  # fmt: skip
    res = run_restore(store, tmp_path / "none", "cp-x", "restore_pending || echo NONE")
    assert res.returncode == 0 and res.stdout.strip().endswith("NONE"), res.stdout + res.stderr
    assert why in res.stdout


def test_an_expired_restoring_marker_fails_the_boot_instead_of_an_empty_kubeadm_init(store: object, tmp_path: Path
                                                                                     ) -> None:  # fmt: skip
    from kubegce.backups.manifest import Manifest

    backup = Manifest("20261206T131500Z-cp-a-1x2y", CLUSTER, __import__("datetime").datetime(2026, 12, 6), "cp-a",
                      1, "3.4.23", "1.35.0", 1, "a" * 64)  # fmt: skip
    marker = replace(new_restore_marker(backup, [], lifetime_s=600), expires=1)
    write_restore_marker(store, CLUSTER, marker, generation=0)  # type: ignore[arg-type]
    res = run_restore(store, tmp_path / "none", "cp-x", "restore_pending || echo NONE")
    assert (
        res.returncode != 0 and "marked but expired" in res.stdout + res.stderr and "--abort" in res.stdout + res.stderr
    )


@pytest.mark.parametrize("body", [b'{"state": "restoring"}', b'{"state": "$(reboot)", "backup": "x"}', b"\x00" * 10])
def test_a_marker_kubegce_did_not_write_fails_the_boot(store: object, tmp_path: Path, body: bytes) -> None:
    from kubegce.state.layout import restore_marker_key

    store.write(restore_marker_key(CLUSTER), body, if_generation=0, secret=True)  # type: ignore[attr-defined]
    res = run_restore(store, tmp_path / "none", "cp-x", "restore_pending || echo NONE")
    assert res.returncode != 0 and "is not one kubegce wrote" in res.stdout + res.stderr, res.stdout + res.stderr
    assert "reboot" not in res.stdout + res.stderr
