"""The state-store suite, on file:// and on gs:// (fake-gcs-server, which enforces generations)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kubegce.errors import ConflictError
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import open_store

pytestmark = pytest.mark.integration


def kubegce(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=dict(os.environ),
                          cwd=cwd, timeout=120)  # fmt: skip


def create() -> None:
    r = kubegce("create", "cluster", "demo.example.com", "--project", "my-proj", "--zones", "us-central1-a",
                "--image", "rocky-linux-cloud/rocky-linux-9")  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_conditional_writes(store_url: str) -> None:
    store = open_store(store_url)
    g1 = store.write("c/x", b"one", if_generation=0)
    with pytest.raises(ConflictError, match="changed since you read it"):
        store.write("c/x", b"two", if_generation=0)
    g2 = store.write("c/x", b"two", if_generation=g1)
    with pytest.raises(ConflictError, match=r"changed since you read it \(by .+ at .+\); re-run"):
        store.write("c/x", b"three", if_generation=g1)
    got = store.read("c/x")
    assert got is not None and got.data == b"two" and got.generation == g2
    store.write("c/y/z", b"\x00\xff binary", if_generation=0)
    assert store.list("c/") == ["c/x", "c/y/z"]
    assert store.read("c/y/z").data == b"\x00\xff binary"  # type: ignore[union-attr]
    store.delete("c/x")
    assert store.read("c/x") is None


def test_create_existing_cluster_is_refused(store_url: str) -> None:
    create()
    r = kubegce("create", "cluster", "demo.example.com", "--project", "my-proj", "--zones", "us-central1-a")
    assert r.returncode == 2 and "already exists" in r.stderr


def test_interrupted_write_leaves_previous_version(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(store_url)
    g = store.write("c/spec", b"version 1", if_generation=0)
    with monkeypatch.context() as m:
        if store_url.startswith("file://"):
            m.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        else:
            from google.cloud.storage import Blob

            m.setattr(Blob, "upload_from_string", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("cut")))
        with pytest.raises((KeyboardInterrupt, ConnectionError)):
            store.write("c/spec", b"version 2", if_generation=g)
    got = open_store(store_url).read("c/spec")
    assert got is not None and got.data == b"version 1"
    if store_url.startswith("file://"):
        assert not list(Path(store_url[7:]).rglob(".tmp-*"))


def test_secrets_never_leave_the_store(store_url: str, tmp_path: Path) -> None:
    create()
    outputs = []
    r = kubegce("update", "cluster", "demo.example.com", "--target", "terraform", "--out", str(tmp_path / "tf"))
    assert r.returncode == 0, r.stderr
    outputs.append(r.stdout + r.stderr)
    for args in (("get", "clusters", "-o", "yaml"), ("get", "instancegroups", "demo.example.com", "-o", "yaml"),
                 ("update", "cluster", "demo.example.com", "-o", "json"), ("rotate", "token", "demo.example.com"),
                 ("export", "kubeconfig", "demo.example.com", "--admin", "--out", str(tmp_path / "kc"))):  # fmt: skip
        r = kubegce(*args)
        outputs.append(r.stdout + r.stderr)
    repo = ClusterRepository(open_store(store_url))
    found = repo.read_secrets("demo.example.com")
    if store_url.startswith("file://"):
        assert found is None  # a file:// store makes no secrets: nodes could not read them anyway
        assert (tmp_path / "kc").exists() is False
        return
    assert found is not None
    secrets_ = found[0]
    r = kubegce("get", "secrets", "demo.example.com", "-o", "json")
    outputs.append(r.stdout + r.stderr)
    assert {row["name"] for row in json.loads(r.stdout)} >= {"ca.crt", "ca.key", "sa.key", "join-token"}
    secret_values = [secrets_.token["token"], secrets_.token["token"].split(".")[1], secrets_.certificate_key]
    secret_values += [re.sub(r"-----[A-Z ]+-----|\s", "", v.decode())[20:80] for k, v in secrets_.files.items()
                      if k.endswith(".key")]  # fmt: skip
    texts = outputs + [p.read_text() for p in (tmp_path / "tf").rglob("*") if p.is_file()]
    from kubegce.boot.plans import render_cluster_boot
    from kubegce.images.catalog import Catalog

    boot = render_cluster_boot(repo.get("demo.example.com").bundle, Catalog.load(), store=repo.store)
    texts += [v for g in boot.groups for v in g.metadata.values()]
    for text in texts:
        assert "PRIVATE KEY" not in text
        for value in secret_values:
            assert value not in text
    assert (tmp_path / "kc").stat().st_mode & 0o777 == 0o600
    # node objects are separate per role: a node's bundle holds no private key
    import io
    import tarfile

    node_tar = repo.store.read("demo.example.com/secrets/node.tar")
    assert node_tar is not None
    with tarfile.open(fileobj=io.BytesIO(node_tar.data)) as tar:
        names = tar.getnames()
    # no CA file either: kubeadm join's preflight refuses one (FileAvailable--etc-kubernetes-pki-ca.crt)
    # and writes it itself from discovery
    assert names == ["etc/kubegce/bootstrap.kubeconfig"]


@pytest.mark.parametrize("store_url", ["gcs"], indirect=True)  # only stores nodes can read get node objects
def test_update_yes_publishes_the_load_balancer_address(store_url: str) -> None:
    from kubegce.emulator.compute import FaultConfig
    from kubegce.emulator.server import RunningEmulator

    with RunningEmulator(0, FaultConfig(), boot_seconds=0.5) as emu:
        r = kubegce("create", "cluster", "ha.example.com", "--project", "my-proj", "--zones",
                    "us-central1-a,us-central1-b,us-central1-c", "--control-plane-count", "3")  # fmt: skip
        assert r.returncode == 0, r.stderr
        os.environ["KUBEGCE_COMPUTE_ENDPOINT"] = emu.endpoint
        try:
            r = kubegce("update", "cluster", "ha.example.com", "--yes")
        finally:
            del os.environ["KUBEGCE_COMPUTE_ENDPOINT"]
        assert r.returncode == 0, r.stderr
        assert "published the API address" in r.stderr
    store = open_store(store_url)
    address = store.read("ha.example.com/discovery/api-address")
    assert address is not None and address.data.decode().startswith("203.0.113.")
    for key in ("ha.example.com/nodeconfig/node/nodes.env", "ha.example.com/secrets/node.tar",
                "ha.example.com/secrets/control-plane.tar"):  # fmt: skip
        assert store.read(key) is not None, key


@pytest.mark.parametrize("store_url", ["gcs"], indirect=True)
def test_the_election_url_lets_exactly_one_of_eight_racing_nodes_create_the_object(store_url: str) -> None:
    """What HA control planes do at boot (bootstrap.sh elect_first_control_plane), raced."""
    import urllib.error
    import urllib.request

    from kubegce.state.layout import election_key

    store = open_store(store_url)
    url = store.create_url(election_key("race.example.com"))

    def create(name: str) -> int:
        body = (b"--kubegce\r\nContent-Type: application/json\r\n\r\n{}\r\n--kubegce\r\n"
                b"Content-Type: text/plain\r\n\r\n" + name.encode() + b"\r\n--kubegce--\r\n")  # fmt: skip
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "multipart/related; boundary=kubegce"})  # fmt: skip
        try:
            return urllib.request.urlopen(req, timeout=10).status  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        codes = dict(zip([f"cp-{i}" for i in range(8)], pool.map(create, [f"cp-{i}" for i in range(8)]), strict=True))
    winners = [n for n, c in codes.items() if c == 200]
    assert len(winners) == 1 and sorted(codes.values()) == [200] + [412] * 7
    stored = store.read(election_key("race.example.com"))
    assert stored is not None and stored.data.decode() == winners[0]
