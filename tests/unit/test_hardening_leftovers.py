"""Issue 14's leftovers, spec side: stored objects read with the bounded YAML loader, the
service's warnings whichever way a spec comes in, and full-string matching of the image catalog's
patterns (and the few other `$`-anchored patterns that saw outside input)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubegce import service
from kubegce.boot.metadata import MetadataError, check_limits
from kubegce.emulator.compute.state import parse_ref
from kubegce.errors import SpecError, UserError
from kubegce.images.catalog import Catalog, parse_image_url
from kubegce.spec.defaults import apply_defaults
from kubegce.state.clusters import ClusterRepository
from kubegce.state.layout import cluster_key, group_key
from kubegce.state.store import open_store
from tests.conftest import make_bundle

NAME = "demo.example.com"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)  # fmt: skip


# --------------------------------------------------------------------------- hostile stored objects
def _bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return ("\n".join(lines) + "\nkind: Cluster\n").encode()


HOSTILE_OBJECTS = {
    "alias-bomb": _bomb(),
    "binary": b"\xff\xfe\xfa\x00\x01garbage",
    "nul-byte": b"kind: Cluster\x00\n",
    "deep": b"a: " + b"[" * 200 + b"]" * 200 + b"\n",
    "self-alias": b"a: &a [*a]\n",
    "over-1MiB": b"a: '" + b"x" * (1024 * 1024 + 10) + b"'\n",
    "not-yaml": b"a: [\n",
    "a-list": b"- 1\n- 2\n",
    "a-number": b"5\n",
    "two-documents": b"kind: Cluster\n---\nkind: Cluster\n",
    "empty": b"",
    "huge-int": b"spec: {x: " + b"9" * 5000 + b"}\n",
}


@pytest.mark.parametrize("which", ["cluster", "group"])
@pytest.mark.parametrize("content", list(HOSTILE_OBJECTS.values()), ids=list(HOSTILE_OBJECTS))
def test_a_hostile_stored_object_gives_a_clear_error(tmp_path: Path, content: bytes, which: str) -> None:
    store = open_store(f"file://{tmp_path / 'state'}")
    repo = ClusterRepository(store)
    bundle = apply_defaults(make_bundle())
    repo.create(bundle)
    key = cluster_key(NAME) if which == "cluster" else group_key(NAME, bundle.instance_groups[0].name)
    current = store.read(key)
    assert current is not None
    store.write(key, content, if_generation=current.generation)
    start = time.monotonic()
    with pytest.raises(SpecError) as err:
        repo.get(NAME)
    assert time.monotonic() - start < 5.0  # the bomb is refused while it is read, not expanded
    message = str(err.value)
    assert key in message and "state store" in message, message
    assert len(message) < 800 and "xxxxxxxxxx" not in message  # names the object; never echoes it


def test_the_cli_reports_a_hostile_stored_object_without_traceback(state: str) -> None:
    repo = ClusterRepository(open_store(state))
    repo.create(apply_defaults(make_bundle()))
    current = repo.store.read(cluster_key(NAME))
    assert current is not None
    repo.store.write(cluster_key(NAME), _bomb(), if_generation=current.generation)
    for argv in (("get", "cluster", NAME, "-o", "yaml"), ("update", "cluster", NAME)):
        r = run(*argv)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and cluster_key(NAME) in r.stderr and "aliases" in r.stderr, r.stderr


def test_a_stored_object_with_small_aliases_still_reads(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'state'}")
    repo = ClusterRepository(store)
    repo.create(apply_defaults(make_bundle()))
    current = store.read(cluster_key(NAME))
    assert current is not None
    text = current.data.decode().replace("sshAccess:\n  - 0.0.0.0/0", "sshAccess: &any\n  - 0.0.0.0/0")
    text = text.replace("kubernetesApiAccess:\n  - 0.0.0.0/0", "kubernetesApiAccess: *any")
    assert "*any" in text
    store.write(cluster_key(NAME), text.encode(), if_generation=current.generation)
    assert repo.get(NAME).bundle.cluster.spec.kubernetes_api_access == ["0.0.0.0/0"]


DAMAGED_SECRETS = {
    "not-json": b"\xff\x00garbage",
    "a-list": b"[1, 2]",
    "no-files": b'{"token": {"expires": "2030-01-01T00:00:00Z"}, "certificateKey": "k"}',
    "files-not-strings": b'{"files": {"ca.crt": 5}, "token": {"expires": "2030-01-01T00:00:00Z"}, "certificateKey": "k"}',
    "token-a-number": b'{"files": {}, "token": 5, "certificateKey": "k"}',
    "bad-expiry": b'{"files": {}, "token": {"expires": "tomorrow"}, "certificateKey": "k"}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("content", list(DAMAGED_SECRETS.values()), ids=list(DAMAGED_SECRETS))
def test_a_damaged_secrets_object_gives_a_clear_error(state: str, content: bytes) -> None:
    from kubegce.state.layout import cluster_secrets_key

    repo = ClusterRepository(open_store(state))
    repo.create(apply_defaults(make_bundle()))
    key = cluster_secrets_key(NAME)
    repo.store.write(key, content, if_generation=0, secret=True)
    with pytest.raises(UserError, match="secrets cannot be read") as err:
        repo.ensure_secrets(NAME)
    assert key in str(err.value)
    r = run("export", "kubeconfig", NAME, "--admin", "--out", str(Path(state[len("file://") :]).parent / "kc"))
    assert r.returncode == 2 and key in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("content", [b"", b"garbage", b"[1]", b'{"text": "x"}', b'{"base64": "!!", "generation": 1}',
                                     b'{"text": 5, "generation": 1, "updated_by": "a", "updated_at": "b"}'])  # fmt: skip
def test_a_damaged_file_store_object_gives_a_clear_error(state: str, content: bytes) -> None:
    repo = ClusterRepository(open_store(state))
    repo.create(apply_defaults(make_bundle()))
    path = Path(state[len("file://") :]) / (cluster_key(NAME) + ".obj")
    path.write_bytes(content)
    with pytest.raises(UserError, match="is damaged") as err:
        repo.get(NAME)
    assert cluster_key(NAME) in str(err.value) and str(path) in str(err.value)
    r = run("get", "cluster", NAME)
    assert r.returncode == 2 and "is damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr
    repo.store.delete(cluster_key(NAME))  # an unconditional delete still removes it
    assert not path.exists()


# --------------------------------------------------------------------------- warnings from the service
def test_the_service_warns_about_an_even_control_plane_count() -> None:
    from kubegce.images.catalog import Catalog as C

    bundle = apply_defaults(make_bundle(control_plane_count=2))
    catalog = C.load()
    assert sum("quorum" in w for w in service.check_spec(bundle, catalog)) == 1
    assert sum("quorum" in w for w in service.plan(bundle, catalog).warnings) == 1


def test_every_way_in_warns_about_quorum_once(state: str, tmp_path: Path) -> None:
    r = run("create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a,us-central1-b",
            "--control-plane-count", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("quorum") == 1, r.stderr  # flags: not warned before
    r = run("update", "cluster", NAME)
    assert r.returncode == 0 and r.stderr.count("quorum") == 1, r.stderr  # update: not warned before
    r = run("edit", "cluster", NAME, "--set", "spec.cloudLabels.team=a")
    assert r.returncode == 0 and r.stderr.count("quorum") == 1, r.stderr  # edit: not warned before
    spec = tmp_path / "c.yaml"
    spec.write_text(SPEC_TWO_CONTROL_PLANES)
    r = run("create", "-f", str(spec))
    assert r.returncode == 0 and r.stderr.count("quorum") == 1, r.stderr  # -f: still once


SPEC_TWO_CONTROL_PLANES = """\
apiVersion: kubegce.io/v1alpha1
kind: Cluster
metadata: {name: other.example.com}
spec:
  project: my-proj
  zones: [us-central1-a, us-central1-b]
---
apiVersion: kubegce.io/v1alpha1
kind: InstanceGroup
metadata: {name: control-plane}
spec: {role: ControlPlane, minSize: 2, maxSize: 2}
"""


# --------------------------------------------------------------------------- full-string catalog patterns
REFERENCES = [
    "rocky-linux-cloud/rocky-linux-9",  # PROJECT/FAMILY
    "rocky-linux-cloud/rocky-linux-9-v20261101",  # PROJECT/IMAGE
    "rocky-linux-cloud/family/rocky-linux-9",
    "family/rocky-linux-9",
    "rocky-linux-9",  # a bare catalog family
    "projects/rocky-linux-cloud/global/images/family/rocky-linux-9",
    "projects/rocky-linux-cloud/global/images/rocky-linux-9-v20261101",
    "https://compute.googleapis.com/compute/v1/projects/rocky-linux-cloud/global/images/family/rocky-linux-9",
]


@pytest.mark.parametrize("ref", REFERENCES)
def test_image_references_resolve(ref: str) -> None:
    assert Catalog.load().resolve(ref).project == "rocky-linux-cloud"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\nrm -rf /", "\t"])
@pytest.mark.parametrize("ref", REFERENCES)
def test_image_references_with_a_trailing_newline_are_refused(ref: str, ending: str) -> None:
    with pytest.raises(UserError, match="not an image reference"):
        Catalog.load().resolve(ref + ending)


@pytest.mark.parametrize("url", [
    "projects/p/global/images/x\n",
    "https://compute.googleapis.com/compute/v1/projects/p/global/images/family/f\n",
    "projects/p/global/images/x\nprojects/q/global/images/y",
    "notprojects/p/global/images/x",
])  # fmt: skip
def test_image_urls_with_a_trailing_newline_do_not_parse(url: str) -> None:
    assert parse_image_url(url) is None


def test_license_urls_match_as_a_whole() -> None:
    catalog = Catalog.load()
    url = "https://www.googleapis.com/compute/v1/projects/rhel-cloud/global/licenses/rhel-9-server"
    profile = catalog.by_license((url,))
    assert profile is not None and profile.os == "rhel"
    assert catalog.by_license((url + "\n",)) is None


def _user_catalog(tmp_path: Path, **fields: object) -> Path:
    entry = {"project": "my-proj", "os": "debian", "version": "12", "families": ["golden"], "image_prefixes": ["golden-"],
             "licenses": ["my-license"], "cloud_init": False, "guest_agent": True, "ignition": False,
             "package_manager": "apt", "read_only_root": False, **fields}  # fmt: skip
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"entries": [entry]}))
    return path


CATALOG_FIELDS: list[tuple[str, object, object]] = [
    ("project", "my-proj", "my-proj\n"),
    ("families", ["golden"], ["golden\n"]),
    ("image_prefixes", ["golden-"], ["golden-\n"]),
    ("licenses", ["my-license"], ["my-license\n"]),
    ("licenses", ["projects/my-proj/global/licenses/my-license"], ["projects/my-proj/global/licenses/my-license\n"]),
    ("bin_dir", "/usr/local/bin", "/usr/local/bin\n"),
    ("cni_bin_dir", "/opt/cni/bin", "/opt/cni/bin\n"),
]


@pytest.mark.parametrize(
    ("field", "good", "bad"), CATALOG_FIELDS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CATALOG_FIELDS)]
)
def test_catalog_fields_with_a_trailing_newline_are_refused(tmp_path: Path, field: str, good: object,
                                                            bad: object) -> None:  # fmt: skip
    Catalog.load(_user_catalog(tmp_path, **{field: good}))
    with pytest.raises(UserError, match=f"entry 1: {field}") as err:
        Catalog.load(_user_catalog(tmp_path, **{field: bad}))
    assert "\n" not in str(err.value).split(": got ", 1)[0]


@pytest.mark.parametrize(("field", "bad"), [
    ("project", "My Proj"), ("families", ["gold/en"]), ("image_prefixes", ["../x"]), ("licenses", ["a b"]),
    ("families", [5]), ("project", 7),
])  # fmt: skip
def test_catalog_names_are_checked(tmp_path: Path, field: str, bad: object) -> None:
    with pytest.raises(UserError, match=f"entry 1: {field}"):
        Catalog.load(_user_catalog(tmp_path, **{field: bad}))


def test_a_user_catalog_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(_bomb().replace(b"kind: Cluster", b"entries: []"))
    start = time.monotonic()
    with pytest.raises(UserError, match="image catalog"):
        Catalog.load(path)
    assert time.monotonic() - start < 5.0


# --------------------------------------------------------------------------- other patterns on outside input
def test_metadata_keys_match_as_a_whole() -> None:
    check_limits({"startup-script": "x"}, where="g")
    with pytest.raises(MetadataError, match="metadata key"):
        check_limits({"startup-script\n": "x"}, where="g")


def test_emulator_resource_urls_match_as_a_whole() -> None:
    assert parse_ref("projects/p/global/networks/n") == ("p", "global", "networks", "n")
    assert parse_ref("projects/p/global/networks/n\n") is None
