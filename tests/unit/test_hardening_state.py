"""Issue 14, state and CLI side: interrupted deletes, whole-cluster edit validation, write skew,
patch retries, kubeconfig files, token lifetimes, store and --out inputs that used to end in a
traceback."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from kubegce.cli.main import hoist_global_options
from kubegce.errors import ConflictError, UserError
from kubegce.spec.defaults import apply_defaults
from kubegce.state.base import StateStore
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import cluster_key, cluster_secrets_key
from kubegce.state.pki import ClusterSecrets
from kubegce.state.store import open_store
from tests.conftest import make_bundle

NAME = "demo.example.com"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)  # fmt: skip


def create(*extra: str) -> subprocess.CompletedProcess[str]:
    return run("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a",
               "--image", "rocky-linux-cloud/rocky-linux-9", *extra)  # fmt: skip


class Killed(Exception):
    """Stands for a kill -9 in the middle of a delete."""


class DiesAfter:
    """A store whose process dies after ``n`` deletes (fault injection at every point)."""

    def __init__(self, store: StateStore, n: int) -> None:
        self.inner, self.left = store, n

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def delete(self, key: str, *, if_generation: int | None = None) -> None:
        if self.left == 0:
            raise Killed(key)
        self.left -= 1
        self.inner.delete(key, if_generation=if_generation)


def test_interrupted_delete_keeps_the_cluster_object_and_finishes(store_url: str) -> None:
    store = open_store(store_url)
    repo = ClusterRepository(store)
    repo.create(apply_defaults(make_bundle()))
    repo.ensure_secrets(NAME)
    total = len(store.list(f"{NAME}/"))
    for point in range(total - 1):  # kill after 0, 1, ... deletes: the cluster object survives each
        with pytest.raises(Killed):
            ClusterRepository(DiesAfter(store, point)).delete(NAME)  # type: ignore[arg-type]
        assert store.read(cluster_key(NAME)) is not None
        assert repo.get(NAME).bundle.cluster.name == NAME  # `delete cluster` still finds it
    assert store.list(f"{NAME}/") == [cluster_key(NAME)]  # secrets gone, cluster object present
    r = run("delete", "cluster", NAME, "--state-only", "--yes", "--state", store_url)
    assert r.returncode == 0, r.stderr
    assert store.list(f"{NAME}/") == []


def test_create_never_adopts_leftover_secrets(store_url: str) -> None:
    store = open_store(store_url)
    repo = ClusterRepository(store)
    repo.create(apply_defaults(make_bundle()))
    old = repo.ensure_secrets(NAME)
    store.delete(cluster_key(NAME))  # what the old delete order left after a kill
    r = create()
    assert r.returncode == 0, r.stderr
    assert "removed them, secrets included" in r.stderr
    assert repo.read_secrets(NAME) is None
    assert repo.ensure_secrets(NAME).files["ca.crt"] != old.files["ca.crt"]


@pytest.mark.parametrize(("group", "assignment", "message"), [
    ("nodes", "spec.zones=[]", "spec.zones: give at least one zone"),
    ("nodes", "spec.zones=[us-east1-b]", "is not a cluster zone"),
    ("control-plane", "spec.minSize=0", "needs at least 1 instance"),
    ("nodes", "spec.maxSize=-1", "spec.maxSize"),
])  # fmt: skip
def test_edits_validate_the_whole_cluster_before_writing(state: str, group: str, assignment: str,
                                                          message: str) -> None:  # fmt: skip
    assert create().returncode == 0
    before = run("get", "instancegroups", NAME, "-o", "yaml").stdout
    r = run("edit", "instancegroup", NAME, group, "--set", assignment)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert run("get", "instancegroups", NAME, "-o", "yaml").stdout == before
    r = run("update", "cluster", NAME)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_write_skew_across_objects_is_refused(store_url: str) -> None:
    repo = ClusterRepository(open_store(store_url))
    repo.create(apply_defaults(make_bundle()))
    a, b = repo.get(NAME), repo.get(NAME)  # two editors read the same versions
    group = b.bundle.instance_groups[1]
    repo.save_group(b, group.model_copy(update={"spec": group.spec.model_copy(update={"max_size": 9})}))
    with pytest.raises(ConflictError, match="changed since you read it"):
        repo.save_cluster(a)  # the cluster object did not change, but another object of the cluster did
    c, d = repo.get(NAME), repo.get(NAME)
    repo.save_cluster(c)
    with pytest.raises(ConflictError, match="changed since you read it"):
        repo.save_group(d, d.bundle.instance_groups[0])
    assert repo.get(NAME).group_generations == c.group_generations  # the refused write wrote nothing


def test_eight_concurrent_patches_all_land(store_url: str) -> None:
    assert create("--state", store_url).returncode == 0
    edits: list[tuple[str, ...]] = [("cluster", NAME, "--set", f"spec.cloudLabels.k{i}=v{i}") for i in range(4)]
    edits += [("instancegroup", NAME, "nodes", "--set", f"spec.nodeLabels.k{i}=v{i}") for i in range(4)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda args: run("edit", *args), edits))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    stored = ClusterRepository(open_store(store_url)).get(NAME).bundle
    assert {f"k{i}" for i in range(4)} <= set(stored.cluster.spec.cloud_labels)
    group = stored.group("nodes")
    assert group is not None and {f"k{i}" for i in range(4)} <= set(group.spec.node_labels)


def test_patch_conflict_reported_when_retries_run_out(state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubegce.cli import edit

    repo = ClusterRepository(open_store(state))
    repo.create(apply_defaults(make_bundle()))

    def patch(stored: object) -> None:
        repo.save_cluster(repo.get(NAME))  # someone else writes every time
        edit._patch_cluster(stored, ("spec.kubernetesVersion=1.37.0",), ())  # type: ignore[arg-type]

    monkeypatch.setattr("kubegce.cli.edit.time.sleep", lambda s: None)
    with pytest.raises(ConflictError, match="gave up after 3 attempts"):
        edit.run_patch(repo, NAME, patch, force=False, attempts=3)


def test_ssh_key_flag_with_two_keys_refused(state: str, tmp_path: Path) -> None:
    key = tmp_path / "k.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB a@b\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB root@b\n")
    r = create("--ssh-public-key", str(key))
    assert r.returncode == 2 and "--ssh-public-key" in r.stderr and "Traceback" not in r.stderr, r.stderr


def _with_secrets(state: str) -> ClusterRepository:
    repo = ClusterRepository(open_store(state))
    repo.create(apply_defaults(make_bundle()))
    repo.ensure_secrets(NAME)
    return repo


def test_kubeconfig_never_follows_a_symlink_and_is_0600(state: str, tmp_path: Path) -> None:
    _with_secrets(state)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    link = tmp_path / "kc-link"
    link.symlink_to(victim)
    r = run("export", "kubeconfig", NAME, "--admin", "--out", str(link))
    assert r.returncode == 2 and "symbolic link" in r.stderr, r.stderr
    assert victim.read_text() == "keep\n"
    existing = tmp_path / "kc"
    existing.write_text("old\n")
    existing.chmod(0o644)
    ino = existing.stat().st_ino
    r = run("export", "kubeconfig", NAME, "--admin", "--out", str(existing))
    assert r.returncode == 0, r.stderr
    st = existing.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_ino != ino  # a new file, not chmod'ed after writing
    assert "client-key-data" in existing.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kc")] == []


@pytest.mark.parametrize(("out", "message"), [
    ("/nonexistent-kubegce/dir/kc", "does not exist"),
    ("/proc/kc", "cannot write"),
    ("/", "directory"),
])  # fmt: skip
def test_kubeconfig_bad_out(state: str, out: str, message: str) -> None:
    _with_secrets(state)
    r = run("export", "kubeconfig", NAME, "--out", out)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_token_ttl_is_kept_by_update(state: str) -> None:
    repo = _with_secrets(state)
    r = run("rotate", "token", NAME, "--ttl", "30m")
    assert r.returncode == 0, r.stderr
    token = repo.require_secrets(NAME)[0].token
    again = repo.ensure_secrets(NAME)  # what every `update` does
    assert again.token == token
    secrets_, gen = repo.require_secrets(NAME)
    secrets_.token["expires"] = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    repo.store.write(cluster_secrets_key(NAME), secrets_.to_json(), if_generation=gen, secret=True)
    refreshed = repo.ensure_secrets(NAME)  # within the last quarter: a new token, with the same lifetime
    assert refreshed.token["token"] != token["token"] and refreshed.token_ttl == dt.timedelta(minutes=30)


@pytest.mark.parametrize(("args", "message"), [
    (("rotate", "token", NAME, "--ttl", "0"), "--ttl '0': must be more than zero"),
    (("rotate", "token", NAME, "--ttl", "0s"), "must be more than zero"),
    (("rotate", "token", NAME, "--ttl", "-5m"), "--ttl '-5m': write a positive duration"),
    (("rotate", "token", NAME, "--ttl", "99999999999h"), "--ttl"),
    (("rotate", "token", NAME, "--ttl", "721h"), "at most 720h"),
    (("export", "kubeconfig", NAME, "--admin", "--ttl", "876000h"), "at most 720h"),
    (("export", "kubeconfig", NAME, "--admin", "--ttl", "0"), "must be more than zero"),
    (("export", "kubeconfig", NAME, "--admin", "--ttl", "soon"), "--ttl 'soon'"),
])  # fmt: skip
def test_ttl_bounds(state: str, args: tuple[str, ...], message: str) -> None:
    _with_secrets(state)
    r = run(*args)
    assert r.returncode == 2 and message in r.stderr and "--wait" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_old_token_without_ttl_reads_as_default() -> None:
    s = ClusterSecrets({}, {"token": "abcdef.0123456789abcdef", "expires": "2000-01-01T00:00:00Z"}, "x")
    assert s.token_ttl == dt.timedelta(hours=24) and s.token_expired()


@pytest.mark.parametrize("argv", [
    ["create", "cluster", NAME, "--state", "file:///s", "--project", "p"],
    ["create", "cluster", NAME, "--state=file:///s"],
    ["--state", "file:///s", "create", "cluster", NAME],
])  # fmt: skip
def test_state_after_the_verb(argv: list[str]) -> None:
    hoisted = hoist_global_options(argv)
    assert hoisted[0].startswith("--state") and "create" in hoisted
    assert hoist_global_options(["delete", "cluster", "x", "--state-only"]) == [
        "delete",
        "cluster",
        "x",
        "--state-only",
    ]


def test_state_after_the_verb_end_to_end(tmp_path: Path, state: str) -> None:
    url = f"file://{tmp_path / 'other'}"
    assert create("--state", url).returncode == 0
    r = run("get", "clusters", "--state", url, "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["metadata"]["name"] == NAME, r.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_endpoint_before_or_after_the_verb(where: str, state: str) -> None:
    """`--endpoint` is a global option too: before the verb, or after it on a verb without its own."""
    assert create().returncode == 0
    flag = ["--endpoint", "127.0.0.1:1"]  # no scheme: refused, naming the option, before any call
    argv = [*flag, "get", "clusters"] if where == "before" else ["get", "clusters", *flag]
    r = run(*argv)
    assert r.returncode != 0 and "--endpoint" in r.stderr and "no scheme" in r.stderr, r.stderr
    assert "No such option" not in r.stderr and "Traceback" not in r.stderr
    assert hoist_global_options(["get", "clusters", "--endpoint=http://h:1"]) == [
        "--endpoint=http://h:1", "get", "clusters",
    ]  # fmt: skip


@pytest.mark.parametrize("url", ["gs://bad_bucket!!", "gs://A", "gs://" + "a" * 300])
def test_bad_bucket_names(url: str) -> None:
    with pytest.raises(UserError, match="not a bucket name"):
        open_store(url)


def test_missing_bucket(fake_gcs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs)
    r = run("get", "clusters", "--state", "gs://no-such-bucket-kubegce/x", env={"STORAGE_EMULATOR_HOST": fake_gcs})
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_unreachable_store_says_which_and_when(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubegce.state import gcs

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    monkeypatch.setattr(gcs, "DEADLINE_S", 2.0)
    store = open_store("gs://bucket/x")
    with pytest.raises(
        UserError, match=r"state store gs://bucket/x: Cloud Storage at http://127.0.0.1:1: connection refused"
    ):
        store.list("")


def test_terraform_out_errors_and_stale_files(state: str, tmp_path: Path) -> None:
    assert create().returncode == 0
    r = run("update", "cluster", NAME, "--target", "terraform", "--out", "/proc/kubegce-tf")
    assert r.returncode == 2 and "--out /proc/kubegce-tf" in r.stderr and "Traceback" not in r.stderr, r.stderr
    out = tmp_path / "tf"
    assert run("update", "cluster", NAME, "--target", "terraform", "--out", str(out)).returncode == 0
    first = {p.name for p in (out / "data").iterdir()}
    (out / "data" / "mine.txt").write_text("not kubegce's\n")
    stale = sorted(first)[0]
    manifest = out / ".kubegce-files"
    manifest.write_text(manifest.read_text() + "gone-from-this-render\n")
    (out / "data" / "gone-from-this-render").write_text("stale\n")
    assert run("update", "cluster", NAME, "--target", "terraform", "--out", str(out)).returncode == 0
    names = {p.name for p in (out / "data").iterdir()}
    assert "gone-from-this-render" not in names and "mine.txt" in names and stale in names
    assert yaml.safe_load(manifest.read_text().replace("\n", " ")) is not None


@pytest.mark.parametrize(("args", "message"), [
    (("--boot-outcome", "nonsense"), "--boot-outcome 'nonsense'"),
    (("--boot-outcome", "fail:nosuchstep"), "fail:STEP"),
])  # fmt: skip
def test_emulator_bad_boot_outcome(args: tuple[str, ...], message: str) -> None:
    r = run("emulator", "--port", "0", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("content", [b"not json", b"\xff\xfe\x00", b"[1, 2]", b'{"resources": 5, "operations": []}'])
def test_emulator_bad_state_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "emu.json"
    path.write_bytes(content)
    r = run("emulator", "--port", "0", "--state-file", str(path))
    assert r.returncode == 2 and "--state-file" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_emulator_state_file_saves_are_serialised_and_atomic(tmp_path: Path) -> None:
    from kubegce.emulator.compute import ComputeState

    state = ComputeState()
    path = tmp_path / "emu.json"

    def add_and_save(i: int) -> None:
        with state.lock:
            state.resources[("p", "global", "networks", f"n{i}")] = {"name": f"n{i}"}
        state.save(path)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(add_and_save, range(300)))
    loaded = ComputeState()
    loaded.load(path)
    assert len(loaded.resources) == 300  # every acknowledged network is in the saved file
    assert [p.name for p in tmp_path.iterdir()] == ["emu.json"]  # no temp file left


@pytest.mark.parametrize(("query", "reason"), [
    ("maxResults=abc", "maxResults"),
    ("maxResults=-1", "maxResults"),
    ("pageToken=zz", "pageToken"),
    ("pageToken=-3", "pageToken"),
    ("maxResults=99999999999999999999", "maxResults"),
])  # fmt: skip
def test_emulator_bad_paging_is_400(query: str, reason: str) -> None:
    import urllib.error
    import urllib.request

    from kubegce.emulator.compute import FaultConfig
    from kubegce.emulator.server import RunningEmulator

    with RunningEmulator(0, FaultConfig()) as emu:
        for path in ("projects/p/global/networks", "projects/p/aggregated/instances"):
            url = f"{emu.endpoint}/compute/v1/{path}?{query}"
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url, timeout=10)
            assert err.value.code == 400 and reason in err.value.read().decode()


def test_emulator_junk_content_length_is_400() -> None:
    import http.client
    from urllib.parse import urlparse

    from kubegce.emulator.compute import FaultConfig
    from kubegce.emulator.server import RunningEmulator

    with RunningEmulator(0, FaultConfig()) as emu:
        u = urlparse(emu.endpoint)
        for junk in ("abc", "-5", "1e9"):
            conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=10)
            conn.putrequest("POST", "/compute/v1/projects/p/global/networks")
            conn.putheader("Content-Length", junk)
            conn.endheaders()
            resp = conn.getresponse()
            assert resp.status == 400 and "Content-Length" in resp.read().decode()
            conn.close()
