"""Issue 22, the restore's parts that run without a cloud: the marker (what a node and a rerun read),
the node config's restore URLs, the refusals of `restore etcd` before it touches anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubegce.backups.manifest import Manifest
from kubegce.boot.plans import render_cluster_boot
from kubegce.errors import ConflictError, UserError
from kubegce.images.catalog import Catalog
from kubegce.service.restore import check_backup_id
from kubegce.state.backups import (
    ABORTED,
    RESTORED,
    new_restore_marker,
    read_restore_marker,
    refuse_during_restore,
    write_restore_marker,
)
from kubegce.state.layout import RESTORE_TOKEN_MARK, restore_marker_key
from kubegce.state.store import open_store
from tests.conftest import make_bundle
from tests.unit.test_backups import _Bucket

C = "demo.example.com"
BACKUP = Manifest("20261206T131500Z-cp-a-1x2y", C, datetime(2026, 12, 6, 13, 15, tzinfo=UTC), "cp-a-1x2y", 42,
                  "3.6.4", "1.35.0", 1024, "a" * 64)  # fmt: skip


def test_the_marker_round_trips_is_secret_and_a_rerun_cannot_overwrite_a_newer_one(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    assert read_restore_marker(store, C) is None
    marker = write_restore_marker(store, C, new_restore_marker(BACKUP, ["123", "456"], lifetime_s=600), generation=0)
    got = read_restore_marker(store, C)
    assert got == marker and got.replace == ("123", "456") and len(got.token) == 16
    (path,) = [p for p in tmp_path.rglob("*") if p.is_file() and "etcd-restore" in p.name]
    assert path.stat().st_mode & 0o077 == 0  # secret: 0600
    done = write_restore_marker(store, C, replace(marker, state=RESTORED), generation=marker.generation)
    assert read_restore_marker(store, C).state == RESTORED  # type: ignore[union-attr]
    with pytest.raises(ConflictError):  # a killed run's stale generation loses
        write_restore_marker(store, C, marker, generation=marker.generation)
    assert new_restore_marker(BACKUP, [], lifetime_s=600).token != done.token  # every round its own token


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'{"backup": 1}', b"{" * 5000, b'{"x": "' + b"y" * 70000 + b'"}',
    json.dumps({"backup": "../../x", "sha256": "a" * 64, "etcdVersion": "3.6.4", "token": "0" * 16, "replace": [],
                "state": "restoring", "started": "t"}).encode(),
    json.dumps({"backup": BACKUP.id, "sha256": "a" * 64, "etcdVersion": "3.6.4", "token": "$(reboot)", "replace": [],
                "state": "restoring", "started": "t"}).encode(),
    json.dumps({"backup": BACKUP.id, "sha256": "a" * 64, "etcdVersion": "3.6.4", "token": "0" * 16, "replace": [],
                "state": "${HOME}", "started": "t"}).encode(),
])  # fmt: skip
def test_a_marker_that_kubegce_did_not_write_counts_as_none(tmp_path: Path, body: bytes) -> None:
    store = open_store(f"file://{tmp_path}")
    store.write(restore_marker_key(C), body, if_generation=0, secret=True)
    assert read_restore_marker(store, C) is None


GOOD = {
    "backup": BACKUP.id,
    "sha256": "a" * 64,
    "etcdVersion": "3.6.4",
    "token": "0" * 16,
    "replace": ["123"],
    "state": "restoring",
    "started": "2026-12-06T12:30:00Z",
    "expires": 4102444800,
    "replaceNames": ["cp-a-1x2y"],
}


@pytest.mark.parametrize("change", [
    {"sha256": "A" * 64}, {"sha256": "a" * 63}, {"etcdVersion": "3.6.4\n$(reboot)"}, {"etcdVersion": "3.6"},
    {"expires": True}, {"expires": "4102444800"}, {"expires": None}, {"replace": "123"}, {"replace": ["1; reboot"]},
    {"replace": [{"a": 1}]}, {"state": "ABORTED"}, {"started": "t\n$(reboot)"}, {"replaceNames": ["Cp;x"]},
    {"replaceNames": "cp"}, {"etcdVersion": "3.6.4-" + "x" * 60},
])  # fmt: skip
def test_every_field_of_a_marker_is_checked_whole(tmp_path: Path, change: dict[str, object]) -> None:
    store = open_store(f"file://{tmp_path}")
    store.write(restore_marker_key(C), json.dumps(GOOD).encode(), if_generation=0, secret=True)
    assert read_restore_marker(store, C) is not None  # the good one parses
    got = store.read(restore_marker_key(C))
    assert got is not None
    store.write(restore_marker_key(C), json.dumps({**GOOD, **change}).encode(), if_generation=got.generation,
                secret=True)  # fmt: skip
    assert read_restore_marker(store, C) is None


def test_updates_and_rolls_are_refused_while_a_restore_is_marked_and_not_after(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    refuse_during_restore(store, C, "update cluster")  # no marker: nothing to refuse
    marker = write_restore_marker(store, C, new_restore_marker(BACKUP, [], lifetime_s=60), generation=0)
    with pytest.raises(UserError) as info:
        refuse_during_restore(store, C, "update cluster")
    assert info.value.exit_code == 2 and BACKUP.id in str(info.value) and "--abort" in str(info.value)
    for state in (RESTORED, ABORTED):
        marker = write_restore_marker(store, C, replace(marker, state=state), generation=marker.generation)
        refuse_during_restore(store, C, "rolling-update cluster")
    # a marker this kubegce cannot read (an older one's, or changed) is refused too: nodes would refuse it
    store.write(restore_marker_key(C), b'{"state": "restoring"}', if_generation=marker.generation, secret=True)
    with pytest.raises(UserError) as info:
        refuse_during_restore(store, C, "update cluster")
    assert "can read" in str(info.value) and "--abort" in str(info.value)


def test_control_planes_get_the_restore_urls_and_workers_do_not() -> None:
    boot = render_cluster_boot(make_bundle(), Catalog.load(), store=_Bucket())
    for gb in boot.groups:
        text = gb.payload.node_config.text
        urls = {k: v for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line)
                if k.startswith("KUBEGCE_RESTORE_")}  # fmt: skip
        if gb.group.spec.role.value == "ControlPlane":
            assert set(urls) == {"KUBEGCE_RESTORE_URL", "KUBEGCE_RESTORE_SNAPSHOT_URL",
                                 "KUBEGCE_RESTORE_ELECTION_UPLOAD_URL", "KUBEGCE_RESTORE_ELECTION_URL"}  # fmt: skip
            assert "secrets/backups/etcd-restore" in urls["KUBEGCE_RESTORE_URL"]
            assert RESTORE_TOKEN_MARK in urls["KUBEGCE_RESTORE_ELECTION_UPLOAD_URL"]
            assert "ifGenerationMatch=0" in urls["KUBEGCE_RESTORE_ELECTION_UPLOAD_URL"]
        else:
            assert urls == {"KUBEGCE_RESTORE_URL": "''"}
    for gb in render_cluster_boot(make_bundle(), Catalog.load()).groups:  # file:// : nodes cannot read it
        assert "KUBEGCE_RESTORE_URL=''" in gb.payload.node_config.text


@pytest.mark.parametrize("value", ["", "latest", "20261206T131500Z", "20261206T131500Z-CP", "x$(reboot)",
                                   "20261206T131500Z-cp\n-a", "${HOME}", "y" * 10000])  # fmt: skip
def test_a_backup_id_is_checked_whole_and_never_echoed_whole(value: str) -> None:
    with pytest.raises(UserError) as info:
        check_backup_id(value)
    assert info.value.exit_code == 2 and "--backup" in str(info.value) and len(str(info.value)) < 400


def kubegce(*args: str, state: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True,
                          env={**os.environ, "KUBEGCE_STATE": state}, timeout=120)  # fmt: skip


def test_restore_refuses_a_file_store_and_bad_flags_before_reading_anything(state: str) -> None:
    r = kubegce("create", "cluster", C, "--project", "my-proj", "--zones", "us-central1-a", state=state)
    assert r.returncode == 0, r.stderr
    r = kubegce("restore", "etcd", C, "--backup", BACKUP.id, "--endpoint", "http://127.0.0.1:9", state=state)
    assert r.returncode == 2 and "file:// store" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = kubegce("restore", "etcd", C, "--backup", "nope", state=state)
    assert r.returncode == 2 and "is not a backup id" in r.stderr
    r = kubegce("restore", "etcd", C, "--backup", BACKUP.id, "--yes", "--endpoint", "http://127.0.0.1:9", state=state)
    assert r.returncode == 2 and "--kubeconfig" in r.stderr and "--cloudonly" in r.stderr
    r = kubegce("restore", "etcd", C, "--backup", BACKUP.id, "--timeout", "${x}", state=state)
    assert r.returncode == 2 and "--timeout" in r.stderr
    r = kubegce("restore", "etcd", "nope.example.com", "--backup", BACKUP.id, state=state)
    assert r.returncode == 4
    r = kubegce("restore", "etcd", C, state=state)
    assert r.returncode == 2 and "--backup ID is required" in r.stderr and "--abort" in r.stderr, r.stderr
    r = kubegce("restore", "etcd", C, "--abort", "--backup", BACKUP.id, state=state)
    assert r.returncode == 2 and "without --backup" in r.stderr, r.stderr
    r = kubegce("restore", "etcd", C, "--abort", state=state)
    assert r.returncode == 0 and "no restore in progress" in r.stderr, r.stderr
    store = open_store(state)
    store.write(restore_marker_key(C), b"{not json", if_generation=0, secret=True)
    r = kubegce("restore", "etcd", C, "--abort", state=state)
    assert r.returncode == 0 and "removed a restore marker" in r.stderr, r.stderr
    assert store.read(restore_marker_key(C)) is None
    assert not list(Path(state[7:]).rglob("*etcd-restore*"))  # nothing written (before --abort's cases)
