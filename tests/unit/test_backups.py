"""Issue 22, the parts that run without etcd: the retention rule (Python and the node job's bash
held to one rule), manifests, spec fields, the node config, listing and the CLI's refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegce.backups.manifest import Manifest, ManifestError, parse_manifest
from kubegce.backups.retention import Retention, duration_s, kept
from kubegce.boot import protocol
from kubegce.boot.plans import render_cluster_boot
from kubegce.boot.render import template
from kubegce.images.catalog import Catalog
from kubegce.spec.validate import validate_bundle
from kubegce.state.backups import list_backups, request_backup
from kubegce.state.base import DirUrls
from kubegce.state.layout import backup_key, backup_request_key
from kubegce.state.store import open_store
from tests.conftest import make_bundle

NOW = datetime(2026, 12, 6, 13, 37, 11, tzinfo=UTC)
POLICY = Retention()


def spec_rule(times: list[tuple[str, datetime]], now: datetime, p: Retention) -> set[str]:
    """The rule as docs/disaster-recovery.md words it, one backup at a time (no buckets built)."""
    out = set()
    newest = max(times, key=lambda x: (x[1], x[0]))
    for ident, t in times:
        age = max(0.0, (now - t).total_seconds())

        def newest_in(same: object, limit: int, t: datetime = t, ident: str = ident, age: float = age) -> bool:
            peers = [(u, i) for i, u in times if max(0.0, (now - u).total_seconds()) < limit and same(u)]  # type: ignore[operator]
            return age < limit and max(peers) == (t, ident)

        hour = lambda u, t=t: (u.year, u.month, u.day, u.hour) == (t.year, t.month, t.day, t.hour)  # noqa: E731
        day = lambda u, t=t: (u.year, u.month, u.day) == (t.year, t.month, t.day)  # noqa: E731
        if (ident, t) == newest or age < p.all_s or newest_in(hour, p.hourly_s) or newest_in(day, p.daily_s):
            out.add(ident)
    return out


offsets = st.lists(st.integers(min_value=-120, max_value=40 * 86400), min_size=1, max_size=60, unique=True)


@settings(max_examples=200, deadline=None)
@given(offsets, st.sampled_from([Retention(), Retention(0, 3600 * 5, 0), Retention(600, 0, 86400 * 3)]))
def test_the_kept_set_is_the_rule_for_random_times(ages: list[int], policy: Retention) -> None:
    times = [(f"b{i:03d}", NOW - timedelta(seconds=a)) for i, a in enumerate(ages)]
    keep = kept(times, NOW, policy)
    assert keep == spec_rule(times, NOW, policy)
    assert max(times, key=lambda x: x[1])[0] in keep  # never prunes the newest


def test_fifteen_minute_backups_for_forty_days_keep_what_kops_would() -> None:
    times = [(f"b{i:05d}", NOW - timedelta(minutes=15 * i)) for i in range(40 * 96)]
    keep = kept(times, NOW, POLICY)
    # 4 in the last hour, one per hour for the rest of the week, one per day for the rest of the month
    assert 4 + 7 * 24 - 1 <= len(keep) <= 4 + 7 * 24 + 30
    assert all((NOW - t).days <= 30 for i, t in times if i in keep)


def bash_prune(ids: list[str], policy: Retention) -> set[str]:
    script = "\n".join([protocol.shell_constants(), template("lib/backup.sh"),
                        f"KUBEGCE_BACKUP_KEEP_ALL={policy.all_s}", f"KUBEGCE_BACKUP_KEEP_HOURLY={policy.hourly_s}",
                        f"KUBEGCE_BACKUP_KEEP_DAILY={policy.daily_s}",
                        "LC_ALL=C sort -r | backups_to_prune"])  # fmt: skip
    env = {"PATH": os.environ["PATH"], "KUBEGCE_CONFIG_SHA256": "x", "KUBEGCE_CONFIG_SOURCE": "x"}
    res = subprocess.run(["bash", "-c", script], input="\n".join(ids) + "\n", capture_output=True, text=True,
                         env=env, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


@pytest.mark.parametrize("seed", range(6))
def test_the_node_jobs_bash_prunes_exactly_what_the_rule_does_not_keep(seed: int) -> None:
    import random

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    policy = [Retention(), Retention(0, 5 * 3600, 0), Retention(1800, 3600 * 10, 86400 * 4)][seed % 3]
    bounds = {policy.all_s, policy.hourly_s, policy.daily_s}
    ages: set[int] = set()
    while len(ages) < 40:
        a = rng.randrange(0, 35 * 86400)
        if all(abs(a - b) > 30 for b in bounds):  # the bash job reads the clock a little later
            ages.add(a)
    times = [((now - timedelta(seconds=a)).strftime("%Y%m%dT%H%M%SZ") + "-cp-a-1x2y", now - timedelta(seconds=a))
             for a in ages]  # fmt: skip
    pruned = bash_prune([i for i, _ in times], policy)
    assert pruned == {i for i, _ in times} - kept(times, now, policy)


def manifest(**over: object) -> bytes:
    m = Manifest(id="20261206T131500Z-cp-a-1x2y", cluster="demo.example.com",
                 time=datetime(2026, 12, 6, 13, 15, tzinfo=UTC), member="cp-a-1x2y", revision=42,
                 etcd_version="3.6.5", kubernetes_version="1.35.0", size=1024, sha256="ab" * 32)  # fmt: skip
    doc = {**m.as_dict(), **over}
    return json.dumps(doc).encode()


def test_a_good_manifest_parses_and_bad_ones_are_refused_naming_the_field() -> None:
    good = parse_manifest(manifest(), key_id="20261206T131500Z-cp-a-1x2y", cluster="demo.example.com")
    assert good.revision == 42 and good.sha256 == "ab" * 32
    kid, c = "20261206T131500Z-cp-a-1x2y", "demo.example.com"
    for data, words in ((manifest(cluster="other.example.com"), "another cluster"),
                        (manifest(id="20261206T131501Z-cp-a-1x2y"), "another backup"),
                        (manifest(sha256="${x}\n"), "sha256"), (manifest(size=-1), "size"),
                        (manifest(revision=True), "revision"), (manifest(time="2026-12-06T13:16:00Z"), "differs"),
                        (manifest(etcdVersion="$(id)"), "etcdVersion"), (b"[" * 100000, "bytes"),
                        (b"[" * 3000, "not JSON"), (b"\xff", "not JSON"), (b"[]", "not a JSON object"),
                        (b"{}", "lacks")):  # fmt: skip
        with pytest.raises(ManifestError, match=words):
            parse_manifest(data, key_id=kid, cluster=c)


def test_spec_durations_and_a_retention_that_keeps_nothing_are_refused() -> None:
    assert duration_s("15m") == 900 and duration_s("30d") == 30 * 86400 and duration_s("0") == 0
    for bad in ("", " 1h", "1h ", "1.5h", "0m", "-1h", "1w", "${x}", "15m\n", 15):
        assert duration_s(bad) is None
    b = make_bundle()
    assert validate_bundle(b) == []
    b.cluster.spec.etcd.backup.interval = "59s"
    b.cluster.spec.etcd.backup.retention.all = b.cluster.spec.etcd.backup.retention.hourly = "0"
    b.cluster.spec.etcd.backup.retention.daily = "0"
    problems = validate_bundle(b)
    assert any(p.startswith("spec.etcd.backup.interval:") for p in problems)
    assert any(p.startswith("spec.etcd.backup.retention:") and "keep only the newest" in p for p in problems)


class _Bucket:
    nodes_can_read = True

    def object_url(self, key: str) -> str:
        return f"https://storage.example/o/{key}?alt=media"

    def upload_url(self, key: str) -> str:
        return f"https://storage.example/upload?name={key}"

    def create_url(self, key: str) -> str:
        return f"https://storage.example/upload?name={key}&ifGenerationMatch=0"

    def dir_urls(self, directory: str) -> DirUrls:
        return DirUrls(f"https://storage.example/o?prefix={directory}/", f"https://storage.example/o/{directory}/",
                       f"https://storage.example/upload?name={directory}/")  # fmt: skip


def settings_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line.startswith("KUBEGCE_BACKUP_"))


def test_only_control_planes_on_a_store_they_can_write_run_the_backup_job() -> None:
    boot = render_cluster_boot(make_bundle(), Catalog.load(), store=_Bucket())
    for gb in boot.groups:
        got = settings_of(gb.payload.node_config.text)
        if gb.group.spec.role.value == "ControlPlane":
            assert got["KUBEGCE_BACKUP_ENABLED"] == "1" and got["KUBEGCE_BACKUP_INTERVAL"] == "900"
            assert got["KUBEGCE_BACKUP_KEEP_DAILY"] == str(30 * 86400)
            assert "secrets/backups/etcd/" in got["KUBEGCE_BACKUP_UPLOAD_URL"]
            assert got["KUBEGCE_BACKUP_REQUEST_OBJECT_URL"].endswith("secrets/backups/etcd-request")
        else:
            assert got == {"KUBEGCE_BACKUP_ENABLED": "0"}  # a worker never gets the backups' URLs
    off = make_bundle()
    off.cluster.spec.etcd.backup.enabled = False
    for gb in render_cluster_boot(off, Catalog.load(), store=_Bucket()).groups:
        assert settings_of(gb.payload.node_config.text) == {"KUBEGCE_BACKUP_ENABLED": "0"}
    for gb in render_cluster_boot(make_bundle(), Catalog.load()).groups:  # file:// : nodes cannot write
        assert settings_of(gb.payload.node_config.text) == {"KUBEGCE_BACKUP_ENABLED": "0"}


def test_listing_shows_manifest_backed_backups_newest_first_and_reports_foreign_ones(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    c = "demo.example.com"
    for ident, when in (("20261206T131500Z-cp-a-1x2y", "2026-12-06T13:15:00Z"),
                        ("20261206T133000Z-cp-b-3z4w", "2026-12-06T13:30:00Z")):  # fmt: skip
        store.write(backup_key(c, ident, "snapshot.db"), b"snap", if_generation=0, secret=True)
        store.write(backup_key(c, ident, "manifest.json"),
                    manifest(id=ident, time=when, member=ident.split("-", 1)[1]), if_generation=0, secret=True)  # fmt: skip
    store.write(backup_key(c, "20261206T134500Z-cp-a-1x2y", "snapshot.db"), b"partial", if_generation=0, secret=True)
    store.write(backup_key(c, "20261206T120000Z-cp-a-1x2y", "manifest.json"),
                manifest(id="20261206T120000Z-cp-a-1x2y", time="2026-12-06T12:00:00Z", cluster="x.example.com"),
                if_generation=0, secret=True)  # fmt: skip
    listing = list_backups(store, c)
    assert [m.id for m in listing.backups] == ["20261206T133000Z-cp-b-3z4w", "20261206T131500Z-cp-a-1x2y"]
    assert len(listing.problems) == 1 and "another cluster" in listing.problems[0]
    for f in (tmp_path / c / "secrets/backups").rglob("*"):
        if f.is_file():
            assert f.stat().st_mode & 0o077 == 0, f  # every backup object 0600
    token = request_backup(store, c)
    got = store.read(backup_request_key(c))
    assert got is not None and got.data.decode() == token


def kubegce(*args: str, state: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBEGCE_STATE": state}
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_get_backups_and_backup_etcd_from_the_cli(state: str) -> None:
    r = kubegce("create", "cluster", "demo.example.com", "--project", "my-proj", "--zones", "us-central1-a",
                state=state)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = kubegce("get", "backups", "demo.example.com", "-o", "json", state=state)
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr
    r = kubegce("get", "backups", "demo.example.com", state=state)
    assert r.returncode == 0 and "no etcd backups" in r.stderr
    r = kubegce("get", "backups", "nope.example.com", state=state)
    assert r.returncode == 4
    r = kubegce("backup", "etcd", "demo.example.com", state=state)
    assert r.returncode == 2 and "file:// store" in r.stderr and "Traceback" not in r.stderr
    r = kubegce("backup", "etcd", "demo.example.com", "--timeout", "${x}", state=state)
    assert r.returncode == 2 and "--timeout" in r.stderr


def test_kops_etcd_manager_backup_settings_import() -> None:
    from tests.unit.test_hardening_spec import kops, load, refused

    manager = (
        "etcdClusters: [{name: main, manager: {backupInterval: 1h30m0s, backupRetentionDays: 14}}, {name: events}]"
    )
    (bundle,), warnings = load(kops(manager))
    backup = bundle.cluster.spec.etcd.backup
    assert backup.interval == "90m" and backup.retention.daily == "14d" and backup.retention.all == "1h"
    assert validate_bundle(bundle) == []
    assert any("etcdClusters" in w for w in warnings)  # members and versions stay kOps's own
    (plain,), _ = load(kops("etcdClusters: [{name: main}]"))
    assert plain.cluster.spec.etcd.backup.interval == "15m"
    for bad, words in (("{backupInterval: '${x}'}", "backupInterval"), ("{backupRetentionDays: 0}", "backupRetentionDays"),
                       ("{backupInterval: 30s}", "spec.etcd.backup.interval")):  # fmt: skip
        assert words in refused(kops(f"etcdClusters: [{{name: main, manager: {bad}}}]"))
