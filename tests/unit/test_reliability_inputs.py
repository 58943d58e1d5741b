"""Issue 25 items 6 and 9: small input mistakes refused with the fix, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubegce.errors import UserError
from kubegce.state.store import FileStateStore, open_store

CLUSTER = "demo.example.com"


def kubegce(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, input=input,
                          env=env, timeout=120)  # fmt: skip


def create(env: dict[str, str] | None = None) -> None:
    r = kubegce("create", "cluster", CLUSTER, "--project", "my-proj", "--zones", "us-central1-a", env=env)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ item 6: file://host, editor status
@pytest.mark.parametrize("url", ["file://tmp/x", "file://home/me/state", "file://state", "file://"])
def test_a_file_url_with_a_host_is_refused_with_the_fix(url: str) -> None:
    """`file://tmp/x` named the host `tmp` and was read as the relative folder tmp/x."""
    with pytest.raises(UserError, match="three slashes") as exc:
        open_store(url)
    if url != "file://":
        assert f"'file:///{url[7:]}'" in str(exc.value)


def test_absolute_and_home_file_urls_still_open(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/s")
    assert isinstance(store, FileStateStore) and store.root == tmp_path / "s"
    home = open_store("file://~/.kubegce/state")
    assert isinstance(home, FileStateStore) and home.root == Path.home() / ".kubegce/state"


def test_kubegce_state_with_a_host_is_refused_on_the_command_line(tmp_path: Path) -> None:
    r = kubegce("get", "clusters", env={**os.environ, "KUBEGCE_STATE": "file://tmp/x"})
    assert r.returncode == 2 and "'file:///tmp/x'" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not Path("tmp/x").exists()


def test_an_editor_that_fails_exits_1_as_kubectl_does(state: str, tmp_path: Path) -> None:
    create()
    before = sorted((p, p.read_bytes()) for p in Path(state[7:]).rglob("*.obj"))
    r = kubegce("edit", "cluster", CLUSTER, env={**os.environ, "KUBE_EDITOR": "false"})
    assert r.returncode == 1 and "exited with status 1" in r.stderr and "nothing written" in r.stderr, r.stderr
    assert sorted((p, p.read_bytes()) for p in Path(state[7:]).rglob("*.obj")) == before


# ------------------------------------------------------------------ item 2: replace -f with a stale file
def stored_objects(state: str) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(Path(state[7:]).rglob("*.obj"))}


def test_get_yaml_carries_the_generations_and_round_trips(state: str) -> None:
    create()
    out = kubegce("get", "cluster", CLUSTER, "-o", "yaml").stdout
    assert out.count("resourceVersion: '1'") == 3, out  # the cluster and its two groups
    r = kubegce("replace", "-f", "-", input=out)
    assert r.returncode == 0 and "no change" in r.stderr, r.stderr
    groups = kubegce("get", "ig", CLUSTER, "-o", "yaml").stdout
    assert groups.count("resourceVersion: '1'") == 2
    r = kubegce("replace", "-f", "-", input=groups.replace("maxSize: 2", "maxSize: 4"))
    assert r.returncode == 0 and f"replaced instancegroup {CLUSTER}/nodes" in r.stderr, r.stderr
    again = kubegce("get", "cluster", CLUSTER, "-o", "yaml").stdout
    assert "resourceVersion: '2'" in again and "maxSize: 4" in again  # a group write moves the cluster's too


def test_replace_with_a_stale_file_is_refused_and_names_what_changed(state: str, tmp_path: Path) -> None:
    """`get -o yaml > f`, `edit --set`, `replace -f f` exited 0 and the edit was gone."""
    create()
    f = tmp_path / "c.yaml"
    f.write_text(kubegce("get", "cluster", CLUSTER, "-o", "yaml").stdout.replace("1.36.4", "1.36.3"))
    assert kubegce("edit", "cluster", CLUSTER, "--set", "spec.cloudLabels.team=a").returncode == 0
    before = stored_objects(state)
    r = kubegce("replace", "-f", str(f))
    assert r.returncode == 3, r.stderr
    assert f"cluster {CLUSTER} changed since that document was read: resourceVersion 1 in the file, 2 in the store" \
        in r.stderr and "--force" in r.stderr and "nothing written" in r.stderr  # fmt: skip
    assert stored_objects(state) == before
    r = kubegce("replace", "-f", str(f), "--force")
    assert r.returncode == 0 and f"replaced cluster {CLUSTER}" in r.stderr, r.stderr
    assert "team" not in kubegce("get", "cluster", CLUSTER, "-o", "yaml").stdout  # forced: the file wins


def test_a_stale_group_document_is_refused(state: str, tmp_path: Path) -> None:
    create()
    groups = kubegce("get", "ig", CLUSTER, "-o", "yaml").stdout
    assert kubegce("edit", "ig", CLUSTER, "nodes", "--set", "spec.maxSize=5").returncode == 0
    r = kubegce("replace", "-f", "-", input=groups.replace("maxSize: 2", "maxSize: 4"))
    assert r.returncode == 3 and f"instancegroup {CLUSTER}/nodes changed since" in r.stderr, r.stderr
    assert "resourceVersion 1 in the file, 2 in the store" in r.stderr
    assert "maxSize: 5" in kubegce("get", "ig", CLUSTER, "-o", "yaml").stdout


def test_a_document_without_a_version_needs_force(state: str) -> None:
    create()
    out = kubegce("get", "cluster", CLUSTER, "-o", "yaml").stdout
    hand = "\n".join(line for line in out.splitlines() if "resourceVersion" not in line).replace("1.36.4", "1.36.3")
    r = kubegce("replace", "-f", "-", input=hand)
    assert r.returncode == 2 and f"the cluster {CLUSTER} document has no metadata.resourceVersion" in r.stderr
    assert "1.36.3" not in kubegce("get", "cluster", CLUSTER, "-o", "yaml").stdout
    r = kubegce("replace", "-f", "-", "--force", input=hand)
    assert r.returncode == 0 and f"replaced cluster {CLUSTER}" in r.stderr, r.stderr
    r = kubegce("replace", "-f", "-", input=out.replace("resourceVersion: '1'", "resourceVersion: soon", 1))
    assert r.returncode == 2 and "metadata.resourceVersion 'soon' is not one kubegce printed" in r.stderr, r.stderr


# ------------------------------------------------------------------ item 9: duplicate keys, new groups, TTLs
DUPLICATE = """\
apiVersion: kubegce.io/v1alpha1
kind: InstanceGroup
metadata:
  name: nodes
  labels:
    kubegce.io/cluster: demo.example.com
spec:
  role: Node
  machineType: e2-standard-2
  minSize: 1
  maxSize: 2
  machineType: e2-standard-8
"""


def test_a_key_written_twice_is_refused_with_both_lines(state: str) -> None:
    create()
    before = stored_objects(state)
    for verb in (("create", "-f", "-"), ("replace", "-f", "-", "--force")):
        r = kubegce(*verb, input=DUPLICATE)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "line 12: key machineType is written twice in one mapping (first at line 9)" in r.stderr, r.stderr
    assert stored_objects(state) == before


def test_replace_of_a_group_that_does_not_exist_is_refused_and_create_adds_it(state: str) -> None:
    """`replace -f` created the group and said "replaced"."""
    create()
    new = DUPLICATE.replace("  machineType: e2-standard-8\n", "").replace("name: nodes", "name: big")
    before = stored_objects(state)
    r = kubegce("replace", "-f", "-", "--force", input=new)
    assert r.returncode == 4 and f"instancegroup {CLUSTER}/big does not exist" in r.stderr, r.stderr
    assert "kubegce create -f" in r.stderr and stored_objects(state) == before
    r = kubegce("create", "-f", "-", input=new)
    assert r.returncode == 0 and f"created instancegroup {CLUSTER}/big" in r.stderr, r.stderr
    assert "name: big" in kubegce("get", "ig", CLUSTER, "-o", "yaml").stdout
    r = kubegce("create", "-f", "-", input=new)
    assert r.returncode == 2 and f"instancegroup {CLUSTER}/big already exists" in r.stderr, r.stderr


@pytest.mark.parametrize(("ttl", "message"), [
    ("0.4s", "at least 1m"), ("0.0001s", "at least 1m"), ("59s", "at least 1m"),
    (" 1h", "write a positive duration"), ("1h ", "write a positive duration"), ("1 h", "write a positive duration"),
    ("720.000000001h", "at most 720h"), ("1e3s", "write a positive duration"),
])  # fmt: skip
def test_ttls_are_whole_string_durations_from_one_minute(ttl: str, message: str) -> None:
    from kubegce.cli.secrets import _ttl
    from kubegce.state.pki import MAX_TOKEN_TTL

    with pytest.raises(UserError, match=message):
        _ttl(ttl, MAX_TOKEN_TTL)


def test_ttls_that_are_fine() -> None:
    from kubegce.cli.secrets import _ttl
    from kubegce.state.pki import MAX_TOKEN_TTL

    assert _ttl("719.99999999h", MAX_TOKEN_TTL) == 2591999  # under 720h: accepted (was "write a positive duration")
    assert _ttl("720h", MAX_TOKEN_TTL) == 720 * 3600
    assert _ttl("1m", MAX_TOKEN_TTL) == 60 and _ttl("1.5h", MAX_TOKEN_TTL) == 5400


def test_a_ttl_with_a_space_is_refused_on_the_command_line(state: str, tmp_path: Path) -> None:
    r = kubegce("export", "kubeconfig", CLUSTER, "--admin", "--ttl", " 1h", "--out", str(tmp_path / "kc"))
    assert r.returncode == 2 and "--ttl ' 1h': write a positive duration" in r.stderr, r.stderr
    assert not (tmp_path / "kc").exists()
