"""Issue 22 with real etcd: the control plane's backup job (lib/backup.sh run_etcd_backup, run for
real from the bootstrap's own functions) against Debian's etcd 3.4.23 and etcdctl, uploading to
fake-gcs-server through the URLs the renderer gives control planes; kubegce's own reader
(`kubegce.state.backups.list_backups`) then lists what it wrote. The snapshot is restored with the
real `etcdctl snapshot restore` (etcd 3.4 has no etcdutl; 3.5 and later move it there) and a real
etcd started on the restored data has the keys written before the backup and not those after.

On a node the job runs etcdctl inside kubeadm's etcd static pod (through containerd's ctr) over
TLS with the healthcheck client certificate; here it runs the lab's etcdctl ($KUBEGCE_ETCDCTL) over
plain HTTP on 127.0.0.1. That ctr path is not run here (no kubelet, no etcd image).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kubegce.boot import protocol
from kubegce.boot.render import template
from kubegce.state.backups import list_backups, request_backup
from kubegce.state.layout import backup_key, backup_request_key, backups_dir
from tests.bootlab.test_real_etcd import need
from tests.conftest import TOOLS

pytestmark = pytest.mark.bootlab
BIN = TOOLS / "root/usr/bin"
CLUSTER = "demo.example.com"
MEMBER = "cp-a-1x2y"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Etcd:
    def __init__(self, data: Path) -> None:
        self.bin = need(BIN / "etcd", "etcd (Debian's etcd-server, in .tools/)")
        self.ctl = need(BIN / "etcdctl", "etcdctl (Debian's etcd-client, in .tools/)")
        self.data = data
        self.client, self.peer = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.client}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer}"
        self.proc = subprocess.Popen([self.bin, "--name", MEMBER, "--data-dir", str(self.data),
                                      "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                                      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                      "--initial-cluster", f"{MEMBER}={peer}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while self.run("endpoint", "health", check=False).returncode != 0:
            assert time.monotonic() < deadline, "etcd never became healthy"
            time.sleep(0.2)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([self.ctl, "--endpoints", self.endpoint, "--command-timeout=5s", *args],
                             capture_output=True, text=True, env={"ETCDCTL_API": "3"}, timeout=30)  # fmt: skip
        if check:
            assert res.returncode == 0, res.stderr
        return res

    def get(self, key: str) -> str:
        return self.run("get", key, "--print-value-only").stdout.strip()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None


def run_job(store: object, etcd_endpoint: str, work: Path, interval: int = 900) -> subprocess.CompletedProcess[str]:
    """run_etcd_backup, as the timer's script runs it, with the control plane's store URLs."""
    urls = store.dir_urls(backups_dir(CLUSTER))  # type: ignore[attr-defined]
    request = store.object_url(backup_request_key(CLUSTER))  # type: ignore[attr-defined]
    common = template("lib/common.sh").replace('KUBEGCE_LAB_ENV="/etc/kubegce/lab.env"', 'KUBEGCE_LAB_ENV="/none"')
    script = "\n".join([
        "set -o errexit -o nounset -o pipefail", protocol.shell_constants(), common, template("lib/restore.sh"), template("lib/backup.sh"),
        "service_account_token() { echo lab-token; }",  # the metadata server's token, stood in
        f"KUBEGCE_ETCDCTL={BIN / 'etcdctl'}", "KUBEGCE_ETCD_INSECURE=1", f"KUBEGCE_ETCD_ENDPOINT={etcd_endpoint}",
        f"KUBEGCE_BACKUP_WORK={work}", f"KUBEGCE_BACKUP_MEMBER={MEMBER}", f"KUBEGCE_CLUSTER_NAME={CLUSTER}",
        "KUBEGCE_KUBERNETES_VERSION=1.35.0", f"KUBEGCE_BACKUP_INTERVAL={interval}", "KUBEGCE_BACKUP_KEEP_ALL=3600",
        "KUBEGCE_BACKUP_KEEP_HOURLY=604800", "KUBEGCE_BACKUP_KEEP_DAILY=2592000",
        f"KUBEGCE_BACKUP_LIST_URL='{urls.list}'", f"KUBEGCE_BACKUP_OBJECT_URL='{urls.object}'",
        f"KUBEGCE_BACKUP_UPLOAD_URL='{urls.upload}'", f"KUBEGCE_BACKUP_REQUEST_URL='{request}'",
        f"KUBEGCE_BACKUP_REQUEST_OBJECT_URL='{request.split('?', 1)[0]}'", "run_etcd_backup",
    ])  # fmt: skip
    env = {"PATH": os.environ["PATH"], "KUBEGCE_CONFIG_SHA256": "x", "KUBEGCE_CONFIG_SOURCE": "metadata:x"}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)


def test_the_leader_backs_up_and_the_restored_snapshot_has_exactly_what_was_written_before(
    store: object, tmp_path: Path
) -> None:
    etcd = Etcd(tmp_path / "data")
    etcd.start()
    try:
        etcd.run("put", "/registry/namespaces/before", "kept")
        started = time.monotonic()
        res = run_job(store, etcd.endpoint, tmp_path / "work")
        took = time.monotonic() - started
        assert res.returncode == 0, res.stderr
        assert "etcd backup id=" in res.stdout and "kept" not in res.stdout + res.stderr  # no data in logs
        (backup,) = list_backups(store, CLUSTER).backups  # type: ignore[arg-type]
        assert backup.member == MEMBER and backup.etcd_version == "3.4.23" and backup.revision >= 2
        assert not list((tmp_path / "work").iterdir())  # nothing secret left on the disk
        snapshot = store.read(backup_key(CLUSTER, backup.id, "snapshot.db"))  # type: ignore[attr-defined]
        assert snapshot is not None and hashlib.sha256(snapshot.data).hexdigest() == backup.sha256
        assert len(snapshot.data) == backup.size
        print(f"real etcd backup (snapshot, sha256, two uploads): {took:.2f}s, {backup.size} bytes")

        # not due again (interval 15 min) and nothing asked: the next run takes none
        assert run_job(store, etcd.endpoint, tmp_path / "work").returncode == 0
        assert len(list_backups(store, CLUSTER).backups) == 1  # type: ignore[arg-type]
        etcd.run("put", "/registry/namespaces/after", "gone")
        time.sleep(1.1)  # ids have a second's resolution
        token = request_backup(store, CLUSTER)  # type: ignore[arg-type]
        res = run_job(store, etcd.endpoint, tmp_path / "work")
        assert res.returncode == 0, res.stderr
        assert len(list_backups(store, CLUSTER).backups) == 2  # type: ignore[arg-type]
        assert store.read(backup_request_key(CLUSTER)) is None  # type: ignore[attr-defined]  # answered
        newest = list_backups(store, CLUSTER).backups[0]  # type: ignore[arg-type]
        got = store.read(backup_key(CLUSTER, newest.id, "manifest.json"))  # type: ignore[attr-defined]
        assert json.loads(got.data)["request"] == token

        # an unhealthy member skips (exit 0, no backup)
        res = run_job(store, f"http://127.0.0.1:{free_port()}", tmp_path / "work", interval=60)
        assert res.returncode == 0 and "not healthy; skipped" in res.stdout
    finally:
        etcd.stop()

    # restore the first backup with the real etcdctl and start a real etcd on it
    restored_file = tmp_path / "restore.db"
    restored_file.write_bytes(snapshot.data)
    restored = Etcd(tmp_path / "restored")
    started = time.monotonic()
    res = subprocess.run([restored.ctl, "snapshot", "restore", str(restored_file), "--data-dir", str(restored.data),
                          "--name", MEMBER, "--initial-cluster", f"{MEMBER}=http://127.0.0.1:{restored.peer}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{restored.peer}"],
                         capture_output=True, text=True, env={"ETCDCTL_API": "3"}, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    restored.start()
    try:
        print(f"real etcd restore and start: {time.monotonic() - started:.2f}s")
        assert restored.get("/registry/namespaces/before") == "kept"
        assert restored.get("/registry/namespaces/after") == ""  # written after the backup: gone
    finally:
        restored.stop()


def test_pruning_deletes_the_manifest_and_snapshot_of_what_retention_drops(store: object, tmp_path: Path) -> None:
    c = CLUSTER
    old = "20200101T000000Z-cp-a-1x2y"  # years old: no tier keeps it, and a newer backup exists
    for name in ("snapshot.db", "manifest.json"):
        store.write(backup_key(c, old, name), b"{}", if_generation=0, secret=True)  # type: ignore[attr-defined]
    etcd = Etcd(tmp_path / "data")
    etcd.start()
    try:
        res = run_job(store, etcd.endpoint, tmp_path / "work")
        assert res.returncode == 0, res.stderr
        assert f"etcd backup id={old} pruned" in res.stdout
    finally:
        etcd.stop()
    names = store.list(backups_dir(c) + "/")  # type: ignore[attr-defined]
    assert not [n for n in names if old in n] and len([n for n in names if n.endswith("manifest.json")]) == 1
