"""Hostile and mistaken spec input (issue 14 items 5, 6, 7, 9 and its traceback list; issue 11 section 4).

Every input here either passes or is refused with a UserError naming the field and the fix, within
a second, in a message that never holds the whole value. New helpers are imported inside the tests
so this file also runs against the code before the fix (to show which tests failed there).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubegce.errors import SpecError, UserError
from kubegce.spec.edit import apply_edits
from kubegce.spec.loader import load_bundles, parse_documents
from kubegce.spec.models import BootstrapSpec, ClusterBundle, UserDataPart
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

BASE = """\
apiVersion: kubegce.io/v1alpha1
kind: Cluster
metadata: {name: demo.example.com}
spec:
  project: my-proj
  zones: [us-central1-a]
---
apiVersion: kubegce.io/v1alpha1
kind: InstanceGroup
metadata: {name: control-plane}
spec: {role: ControlPlane}
---
apiVersion: kubegce.io/v1alpha1
kind: InstanceGroup
metadata: {name: nodes}
spec: {role: Node, minSize: 2, maxSize: 2}
"""

KOPS = """\
apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata: {name: k.example.com}
spec:
  cloudProvider: gce
  project: my-proj
  networking: {calico: {}}
  SPEC
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: master-us-central1-a
  labels: {kops.k8s.io/cluster: k.example.com}
spec: {role: Master, machineType: e2-standard-2, zones: [us-central1-a]}
"""

LONG = "a" * 5000


def kops(spec_line: str) -> str:
    return KOPS.replace("SPEC", spec_line)


def load(text: str, source: str = "c.yaml") -> tuple[list[ClusterBundle], list[str]]:
    return load_bundles(parse_documents(text, source), source)


def refused(text: str, source: str = "c.yaml") -> str:
    """Load ``text`` expecting a UserError, quickly; return its message."""
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        bundles, _ = load(text, source)
        for b in bundles:
            problems = validate_bundle(b)
            if problems:
                raise SpecError(problems)
    assert time.monotonic() - start < 15.0  # a bound against blow-ups (93 s before), not a speed figure
    return str(err.value)


def problems_of(mutate: Callable[[ClusterBundle], Any], **kwargs: Any) -> str:
    b = make_bundle(**kwargs)
    mutate(b)
    return "\n".join(validate_bundle(b))


def assert_short(message: str, hostile: str) -> None:
    """The message does not hold the whole hostile value and no line is huge."""
    if len(hostile) > 60:
        assert hostile not in message
    assert all(len(line) < 600 for line in message.splitlines()), max(message.splitlines(), key=len)


def ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def ssh_key(key_type: str, *fields: bytes) -> str:
    return f"{key_type} " + base64.b64encode(ssh_string(key_type.encode()) + b"".join(map(ssh_string, fields))).decode()


ED25519 = ssh_key("ssh-ed25519", bytes(range(32)))
RSA = ssh_key("ssh-rsa", b"\x01\x00\x01", b"\x00" + bytes(range(1, 256)))
ECDSA = ssh_key("ecdsa-sha2-nistp256", b"nistp256", b"\x04" + bytes(64))


# --------------------------------------------------------------------------- 14.5 service accounts
BAD_SERVICE_ACCOUNTS = [
    'x${file("/etc/shadow")}@my-proj.iam.gserviceaccount.com',
    "x%{for x in y}@my-proj.iam.gserviceaccount.com",
    "nodes@my-proj.iam.gserviceaccount.com\n",
    "nodes@my-proj.iam.gserviceaccount.com\nroot",
    "nodes @my-proj.iam.gserviceaccount.com",
    'nodes"@my-proj.iam.gserviceaccount.com',
    "nodes@gmail.com",
    "nodes",
    "",
    "Default",
    "@my-proj.iam.gserviceaccount.com",
    LONG + "@my-proj.iam.gserviceaccount.com",
]


@pytest.mark.parametrize("value", BAD_SERVICE_ACCOUNTS)
def test_service_account_must_be_an_email(value: str) -> None:
    text = problems_of(lambda b: setattr(b.cluster.spec, "service_account", value))
    assert "spec.serviceAccount" in text and "iam.gserviceaccount.com" in text
    assert_short(text, value)
    text = problems_of(lambda b: setattr(b.instance_groups[1].spec, "service_account", value))
    assert "instancegroup nodes: spec.serviceAccount" in text


@pytest.mark.parametrize(
    "value",
    [
        "default",
        "nodes@my-proj.iam.gserviceaccount.com",
        "123456789012-compute@developer.gserviceaccount.com",
        "my-proj@appspot.gserviceaccount.com",
    ],
)
def test_service_account_emails_pass(value: str) -> None:
    assert problems_of(lambda b: setattr(b.cluster.spec, "service_account", value)) == ""


def test_kops_gce_service_account_is_checked() -> None:
    text = refused(kops("cloudConfig: {gceServiceAccount: 'x${file(\"/etc/shadow\")}@p.iam.gserviceaccount.com'}"))
    assert "spec.serviceAccount" in text


# --------------------------------------------------------------------------- 14.6 ssh public keys
BAD_SSH_KEYS = [
    f"{ED25519} a@b\n{RSA} root@evil",  # two keys: a second ssh-keys entry
    f"{ED25519} a@b\nroot:{RSA} root@evil",
    f"{ED25519} a@b\r{RSA}",
    f"{ED25519} a@b\u2028{RSA}",
    f"ssh-rsa {ED25519.split()[1]}",  # the blob is an ed25519 key
    "ssh-ed25519 not-base64!!",
    "ssh-ed25519 AAAA",
    "ssh-ed25519",
    f"{ED25519} comment\x1b[2Jwith escape",
    f"{ED25519} comment\x00nul",
    f"kubegce:{ED25519}",
    f'command="touch /x" {ED25519}',
    "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----",
    "",
    "   ",
    f"{ED25519} " + "c" * 20000,
    "ecdsa-sha2-nistp256 " + ED25519.split()[1],
]


@pytest.mark.parametrize("key", BAD_SSH_KEYS)
def test_ssh_public_key_is_exactly_one_valid_key(key: str) -> None:
    text = problems_of(lambda b: setattr(b.cluster.spec, "ssh_public_key", key))
    assert "spec.sshPublicKey" in text
    assert "root@evil" not in text and "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU" not in text
    assert_short(text, key)


@pytest.mark.parametrize(
    "key", [ED25519, f"{ED25519} you@host", f"{ED25519} you@host\n", f"{RSA} A Person", ECDSA, f"  {ED25519}  "]
)
def test_ssh_public_keys_pass(key: str) -> None:
    assert problems_of(lambda b: setattr(b.cluster.spec, "ssh_public_key", key)) == ""


def test_create_flag_ssh_key_file_with_two_keys_is_refused(state: str, tmp_path: Path) -> None:
    from kubegce.cli.main import cli

    pub = tmp_path / "id.pub"
    pub.write_text(f"{ED25519} me@host\n{RSA} root@evil\n")
    r = CliRunner().invoke(cli, ["create", "cluster", "demo.example.com", "--project", "my-proj", "--zones",
                                 "us-central1-a", "--ssh-public-key", str(pub)])  # fmt: skip
    assert isinstance(r.exception, UserError), r.exception
    assert "--ssh-public-key" in str(r.exception) and "holds 2 lines" in str(r.exception)
    assert not list(Path(state[len("file://") :]).rglob("*.obj"))


# --------------------------------------------------------------------------- 14.7 full-string matching
TRAILING_NEWLINE: list[tuple[str, Callable[[ClusterBundle], Any]]] = [
    ("metadata.name", lambda b: setattr(b.cluster.metadata, "name", "demo.example.com\n")),
    ("spec.project", lambda b: setattr(b.cluster.spec, "project", "my-proj\n")),
    ("spec.kubernetesVersion", lambda b: setattr(b.cluster.spec, "kubernetes_version", "1.33.2\n")),
    ("spec.zones[0]", lambda b: setattr(b.cluster.spec, "zones", ["us-central1-a\n"])),
    ("spec.cloudLabels.team", lambda b: setattr(b.cluster.spec, "cloud_labels", {"team": "a\n"})),
    ("spec.cloudLabels", lambda b: setattr(b.cluster.spec, "cloud_labels", {"team\n": "a"})),
    ("spec.subnets[0].name", lambda b: setattr(b.cluster.spec.subnets[0], "name", "us-central1\n")),
    ("spec.serviceAccount", lambda b: setattr(b.cluster.spec, "service_account", "a@p.iam.gserviceaccount.com\n")),
    ("spec.assets.mirror", lambda b: setattr(b.cluster.spec.assets, "mirror", "https://m.example.com\n")),
    ("spec.assets.manifestSha256.calico",
     lambda b: setattr(b.cluster.spec.assets, "manifest_sha256", {"calico": "a" * 64 + "\n"})),
    ("metadata.labels", lambda b: setattr(b.cluster.metadata, "labels", {"team": "a\n"})),
    ("instancegroup 'nodes\\n'", lambda b: setattr(b.instance_groups[1].metadata, "name", "nodes\n")),
    ("spec.machineType", lambda b: setattr(b.instance_groups[1].spec, "machine_type", "e2-medium\n")),
    ("spec.image", lambda b: setattr(b.instance_groups[1].spec, "image", "rocky-linux-cloud/rocky-linux-9\n")),
    ("spec.nodeLabels", lambda b: setattr(b.instance_groups[1].spec, "node_labels", {"pool": "a\n"})),
    ("spec.nodeLabels", lambda b: setattr(b.instance_groups[1].spec, "node_labels", {"pool\n": "a"})),
    ("spec.taints[0]", lambda b: setattr(b.instance_groups[1].spec, "taints", ["k=v:NoSchedule\n"])),
    ("spec.taints[0]", lambda b: setattr(b.instance_groups[1].spec, "taints", ["k=v\n:NoSchedule"])),
    ("additionalUserData[0].name", lambda b: setattr(b.instance_groups[1].spec, "bootstrap", BootstrapSpec(
        additional_user_data=[UserDataPart(name="a.sh\n", content="#!/bin/sh\n")]))),
]  # fmt: skip


@pytest.mark.parametrize(("field", "mutate"), TRAILING_NEWLINE, ids=[f for f, _ in TRAILING_NEWLINE])
def test_a_trailing_newline_never_passes(field: str, mutate: Callable[[ClusterBundle], Any]) -> None:
    text = problems_of(mutate)
    assert field in text, text


def test_version_pattern_is_anchored_for_other_callers() -> None:
    from kubegce.spec.validate import VERSION_RE

    assert VERSION_RE.match("1.33.2\n") is None  # boot.kubeadm uses .match
    assert VERSION_RE.match("1.33.2") is not None


# --------------------------------------------------------------------------- 14.9 YAML bounds
def billion_laughs(where: str = "spec:\n  cloudLabels: *i\n") -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    head = "apiVersion: kubegce.io/v1alpha1\nkind: Cluster\nmetadata: {name: x}\n"
    return "x-bomb:\n" + "".join(f"  {line}\n" for line in lines) + head + where


def test_alias_bomb_is_refused_quickly() -> None:
    text = billion_laughs()
    assert len(text.encode()) < 600  # the bomb was 548 bytes
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        load(text, "bomb.yaml")
    assert time.monotonic() - start < 15.0  # a bound against blow-ups (93 s before), not a speed figure
    message = str(err.value)
    assert "bomb.yaml" in message and "aliases" in message and len(message) < 400


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",  # an alias inside its own anchor
        "a: &a {b: *a}\n",
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        "a: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "".join(" " * i + "a:\n" for i in range(2000)) + " " * 2000 + "a: 1\n",
        "a: " + "- " * 3000 + "1\n",
        "a: x\n" * 10 + "b: '" + "x" * (1024 * 1024) + "'\n",
        "a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
        "b: &b [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",  # deep only once expanded
    ],
    ids=["self-alias-list", "self-alias-map", "deep-flow-list", "deep-flow-map", "deep-block", "deep-dashes",
         "over-1MiB", "deep-through-alias"],
)  # fmt: skip
def test_hostile_yaml_is_refused_without_traceback(text: str) -> None:
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        load(text, "h.yaml")
    assert time.monotonic() - start < 15.0  # a bound against blow-ups (93 s before), not a speed figure
    assert "h.yaml" in str(err.value) and len(str(err.value)) < 400


def test_small_aliases_still_work() -> None:
    text = BASE.replace("spec:\n  project: my-proj", "spec:\n  cloudLabels: &l {team: a}\n  project: my-proj")
    (b,), _ = load(text)
    assert b.cluster.spec.cloud_labels == {"team": "a"}


def test_huge_integer_is_a_message() -> None:
    text = refused(
        BASE.replace("{role: Node, minSize: 2, maxSize: 2}", "{role: Node, minSize: 2, maxSize: " + "9" * 5000 + "}")
    )
    assert "maxSize" in text or "number" in text
    assert_short(text, "9" * 5000)


# --------------------------------------------------------------------------- reading files
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes(range(256)) * 4, "not a text file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
        ("apiVersion: v1\nname: caf\u00e9\n".encode("latin-1"), "not a text file"),
        (b"kind: Cluster\n\x00\x00", "NUL"),
        (b"a" * (1024 * 1024 + 1), "over 1024 KiB"),
        ("kind: Cluster\n".encode("utf-16-le"), "not a text file"),  # UTF-16 without a byte-order mark
    ],
    ids=["binary", "png", "latin-1", "nul", "over-1MiB", "utf-16-no-bom"],
)
def test_spec_files_that_are_not_text_are_refused(tmp_path: Path, data: bytes, expected: str) -> None:
    from kubegce.spec.loader import read_spec_file

    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    with pytest.raises(UserError, match=expected):
        read_spec_file(str(path))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_spec_files_with_a_byte_order_mark_are_read(tmp_path: Path, encoding: str) -> None:
    from kubegce.spec.loader import load_file

    path = tmp_path / "spec.yaml"
    data = BASE.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    (b,), _ = load_file(str(path))
    assert b.cluster.name == "demo.example.com"


def test_unreadable_spec_paths_are_user_errors(tmp_path: Path) -> None:
    from kubegce.spec.loader import read_spec_file

    for path in (tmp_path / "missing.yaml", tmp_path, "bad\0path"):
        with pytest.raises(UserError, match="cannot read it"):
            read_spec_file(str(path))


CLI_FILES = [
    pytest.param(b"\x00\x01\x02binary", id="binary-nul"),
    pytest.param(BASE.replace("metadata: {name: demo.example.com}", "metadata:").encode(), id="metadata-null"),
    pytest.param(billion_laughs().encode(), id="alias-bomb"),
    pytest.param(("a: " + "[" * 5000 + "]" * 5000).encode(), id="deep"),
    pytest.param(kops("subnets: 5").encode(), id="kops-subnets-5"),
    pytest.param(kops("cloudConfig: yes").encode(), id="kops-cloudconfig-yes"),
    pytest.param(kops("").replace("metadata: {name: k.example.com}", "metadata: [1]").encode(), id="kops-metadata-list"),
    # the CLI reads -f through spec.loader (bounded, BOM-aware decoding); UTF-16 with a BOM is
    # accepted (test_spec_files_with_a_byte_order_mark_are_read), Latin-1 refused with a message
    pytest.param("name: caf\u00e9".encode("latin-1"), id="latin-1"),
]  # fmt: skip


@pytest.mark.parametrize("data", CLI_FILES)
def test_create_f_never_shows_a_traceback(state: str, tmp_path: Path, data: bytes) -> None:
    from kubegce.cli.main import cli

    path = tmp_path / "in.yaml"
    path.write_bytes(data)
    start = time.monotonic()
    r = CliRunner().invoke(cli, ["create", "-f", str(path)])
    assert time.monotonic() - start < 15.0  # a bound against blow-ups, not a speed figure
    assert r.exception is None or isinstance(r.exception, UserError | SystemExit), repr(r.exception)[:300]
    if isinstance(r.exception, UserError):
        assert len(str(r.exception)) < 2000
    assert not list(Path(state[len("file://") :]).rglob("*.obj"))


# --------------------------------------------------------------------------- the traceback list
KOPS_SHAPES = [
    ("subnets: 5", "spec.subnets: must be a list"),
    ("subnets: [5]", "spec.subnets[0]: must be a mapping"),
    ("cloudConfig: yes", "spec.cloudConfig: must be a mapping"),
    ("cloudConfig: [gceServiceAccount]", "spec.cloudConfig: must be a mapping"),
    ("networking: 5", "spec.networking: must be a mapping"),
    ("networking: [calico]", "spec.networking: must be a mapping"),
    ("cloudProvider: {gce: 5}", "spec.cloudProvider.gce: must be a mapping"),
    ("nonMasqueradeCIDR: [1]", "spec.nonMasqueradeCIDR"),
    ("1: x", "spec.1: not a kOps field"),
    ("kubernetesVersion: 1.33", "kubernetesVersion"),
]


@pytest.mark.parametrize(("line", "expected"), KOPS_SHAPES)
def test_kops_fields_of_the_wrong_shape_are_messages(line: str, expected: str) -> None:
    text = KOPS.replace("  networking: {calico: {}}\n", "") if line.startswith("networking") else KOPS
    if line.startswith("cloudProvider"):  # one cloudProvider key: a second one is refused as a duplicate
        text = text.replace("  cloudProvider: gce\n", "")
    assert expected in refused(text.replace("SPEC", line))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("metadata: {name: k.example.com}", "metadata: [1]", "document 1 metadata: must be a mapping"),
        ("metadata: {name: k.example.com}", "metadata:", "metadata.name"),
        ("labels: {kops.k8s.io/cluster: k.example.com}", "labels: 5", "metadata.labels: must be a mapping"),
        ("spec: {role: Master, machineType: e2-standard-2, zones: [us-central1-a]}", "spec: 5",
         "document 2 spec: must be a mapping"),
        ("zones: [us-central1-a]}", "zones: 5}", "spec.zones"),
        ("zones: [us-central1-a]}", "zones: [[a]]}", "spec.zones"),
    ],
)  # fmt: skip
def test_kops_documents_of_the_wrong_shape_are_messages(old: str, new: str, expected: str) -> None:
    assert expected in refused(kops("").replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("metadata: {name: demo.example.com}", "metadata:", "metadata: must be a mapping"),
        ("metadata: {name: demo.example.com}", "metadata: [1]", "metadata: must be a mapping"),
        ("  zones: [us-central1-a]", "  zones: us-central1-a", "spec.zones: must be a list, written [a, b]"),
        ("kind: Cluster", "kind: [" + "x," * 2000 + "]", "kind must be Cluster or InstanceGroup (got a list"),
        ("  project: my-proj", "  project: my-proj\n  " + "k" * 1000 + ": 1", "unknown field"),
    ],
)
def test_kubegce_documents_of_the_wrong_shape_are_messages(old: str, new: str, expected: str) -> None:
    text = refused(BASE.replace(old, new, 1))
    assert expected in text
    assert_short(text, "k" * 1000)


@pytest.mark.parametrize(
    ("name", "part_type", "field"),
    [
        ("a.sh\nContent-Type: text/html", "text/x-shellscript", "additionalUserData[0].name"),
        ("a.cfg", "text/cloud-config\nX-Injected: 1", "additionalUserData[0].type"),
        ("../../etc/passwd", "text/x-shellscript", "additionalUserData[0].name"),
        ("a b.sh", "text/x-shellscript", "additionalUserData[0].name"),
        ("", "text/x-shellscript", "additionalUserData[0].name"),
        (LONG, "text/x-shellscript", "additionalUserData[0].name"),
        ("a.cfg", "application/x-foo", "additionalUserData[0].type"),
        ("a.cfg", "text/cloud-confg", "did you mean 'text/cloud-config'"),
        ("a.cfg", "TEXT/CLOUD-CONFIG", "did you mean 'text/cloud-config'"),
        ("a.cfg", "", "additionalUserData[0].type"),
    ],
)
def test_additional_user_data_name_and_type(name: str, part_type: str, field: str) -> None:
    part = UserDataPart(name=name, type=part_type, content="#cloud-config\n")
    text = problems_of(
        lambda b: setattr(b.instance_groups[1].spec, "bootstrap", BootstrapSpec(additional_user_data=[part]))
    )
    assert field in text
    assert_short(text, LONG)


def test_newline_in_a_user_data_name_is_refused_before_rendering() -> None:
    from kubegce.boot.plans import render_cluster_boot
    from kubegce.images.catalog import Catalog

    b = make_bundle(image="ubuntu-os-cloud/ubuntu-2404-lts-amd64")
    part = UserDataPart(name="a.cfg\nX: y", type="text/cloud-config", content="#cloud-config\n")
    b.instance_groups[1].spec.bootstrap = BootstrapSpec(additional_user_data=[part])
    with pytest.raises(SpecError, match="additionalUserData"):
        render_cluster_boot(b, Catalog.load())


@pytest.mark.parametrize("part_type", ["text/x-shellscript", "text/cloud-config", "text/cloud-boothook",
                                       "text/x-include-url", "text/part-handler", "text/jinja2", "text/upstart-job",
                                       "text/plain"])  # fmt: skip
def test_known_user_data_types_pass(part_type: str) -> None:
    part = UserDataPart(name="part-1.cfg", type=part_type, content="#cloud-config\n")
    assert (
        problems_of(
            lambda b: setattr(b.instance_groups[1].spec, "bootstrap", BootstrapSpec(additional_user_data=[part]))
        )
        == ""
    )


@pytest.mark.parametrize(
    "url",
    ["ftp://mirror.example.com", "https://mirror.example.com/$(id)", "https://mirror.example.com/a b",
     "https://mirror.example.com/`id`", "https://mirror.example.com/\n", "http://mirror.example.com:99999",
     "file://opt/mirror", "file:///opt/../etc", "file:///opt/$(id)", "https://mirror.example.com/?a=b", "javascript:alert(1)", "mirror.example.com",
     "https://", "https://m.example.com/'", "https://m.example.com/\"", "https://" + LONG],
)  # fmt: skip
def test_assets_mirror_must_be_an_http_url(url: str) -> None:
    text = problems_of(lambda b: setattr(b.cluster.spec.assets, "mirror", url))
    assert "spec.assets.mirror" in text and "http(s)://HOST" in text
    assert_short(text, url)


@pytest.mark.parametrize(
    "url",
    [
        "https://mirror.example.com/k8s/",
        "http://10.0.0.5:8080",
        "https://[fd00::1]:443/m",
        "file:///opt/kubegce-lab/mirror",
    ],
)
def test_assets_mirror_urls_pass(url: str) -> None:
    assert problems_of(lambda b: setattr(b.cluster.spec.assets, "mirror", url)) == ""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"calico": "abc"}, "manifestSha256.calico"),
        ({"calico": "A" * 64}, "64 lowercase hex"),
        ({"calico": "a" * 63}, "64 lowercase hex"),
        ({"calico": "g" * 64}, "64 lowercase hex"),
        ({"calico": "a" * 64 + "; rm -rf /"}, "64 lowercase hex"),
        ({"calicoo": "a" * 64}, "did you mean 'calico'"),
        ({"ccm": LONG}, "manifestSha256.ccm"),
    ],
)
def test_manifest_sha256_is_64_hex(values: dict[str, str], expected: str) -> None:
    text = problems_of(lambda b: setattr(b.cluster.spec.assets, "manifest_sha256", values))
    assert expected in text
    assert_short(text, LONG)


def test_manifest_sha256_passes() -> None:
    digests = {"calico": "0" * 64, "cilium": "a" * 64, "ccm": "0123456789abcdef" * 4}
    assert problems_of(lambda b: setattr(b.cluster.spec.assets, "manifest_sha256", digests)) == ""


@pytest.mark.parametrize(
    "labels", [{"bad key!": "x"}, {"team": "has space"}, {"a/b/c": "x"}, {"": "x"}, {"x": LONG}, {LONG: "x"}]
)
def test_metadata_labels_follow_kubernetes_rules(labels: dict[str, str]) -> None:
    text = problems_of(lambda b: setattr(b.cluster.metadata, "labels", labels))
    assert "metadata.labels" in text
    assert_short(text, LONG)
    text = problems_of(lambda b: setattr(b.instance_groups[1].metadata, "labels", labels))
    assert "instancegroup nodes: metadata.labels" in text


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        ("metadata.name", lambda b: setattr(b.cluster.metadata, "name", LONG)),
        ("spec.project", lambda b: setattr(b.cluster.spec, "project", LONG)),
        ("spec.zones[0]", lambda b: setattr(b.cluster.spec, "zones", [LONG])),
        ("spec.kubernetesVersion", lambda b: setattr(b.cluster.spec, "kubernetes_version", "1." + "3" * 5000 + ".1")),
        ("spec.image", lambda b: setattr(b.instance_groups[1].spec, "image", "p/" + LONG)),
        ("spec.machineType", lambda b: setattr(b.instance_groups[1].spec, "machine_type", "e2-" + LONG)),
        ("spec.machineType", lambda b: setattr(b.instance_groups[1].spec, "machine_type", LONG)),
        ("spec.taints[0]", lambda b: setattr(b.instance_groups[1].spec, "taints", [LONG])),
        ("spec.cloudLabels", lambda b: setattr(b.cluster.spec, "cloud_labels", {f"k{i}": "v" for i in range(100)})),
        ("spec.networking.podCIDR", lambda b: setattr(b.cluster.spec.networking, "pod_cidr", LONG)),
    ],
)  # fmt: skip
def test_huge_values_are_refused_in_short_messages(field: str, mutate: Callable[[ClusterBundle], Any]) -> None:
    start = time.monotonic()
    text = problems_of(mutate)
    assert time.monotonic() - start < 15.0  # a bound against blow-ups (93 s before), not a speed figure
    assert field in text
    assert_short(text, LONG)


def test_many_problems_are_capped() -> None:
    labels = {f"Bad{i}": "x" for i in range(5000)}
    problems = validate_bundle(make_bundle(cloud_labels=labels))
    assert len(problems) <= 41 and "more problems" in problems[-1]


# --------------------------------------------------------------------------- control planes
def test_control_plane_group_of_size_zero_is_refused() -> None:
    def zero(b: ClusterBundle) -> None:
        b.instance_groups[0].spec.min_size = b.instance_groups[0].spec.max_size = 0

    assert "instancegroup control-plane: spec.minSize: a control-plane group needs at least 1" in problems_of(zero)


@pytest.mark.parametrize("count", [0, -1])
def test_control_plane_count_zero_names_the_flag(count: int) -> None:
    with pytest.raises(UserError, match="--control-plane-count"):
        make_bundle(control_plane_count=count)


def test_even_control_plane_count_warns_about_quorum() -> None:
    from kubegce.spec.validate import bundle_warnings

    b = make_bundle(control_plane_count=2)
    assert validate_bundle(b) == []
    (warning,) = bundle_warnings(b)
    assert "etcd" in warning and "quorum" in warning and "odd" in warning
    assert bundle_warnings(make_bundle(control_plane_count=3)) == []
    text = BASE.replace("spec: {role: ControlPlane}", "spec: {role: ControlPlane, minSize: 2, maxSize: 2}")
    (loaded,), warnings = load(text)
    assert not any("quorum" in w for w in warnings)  # the service warns, once (test_hardening_leftovers)
    assert bundle_warnings(loaded)


# --------------------------------------------------------------------------- misleading messages
def test_two_identical_cluster_documents_say_duplicate() -> None:
    first = BASE.split("---")[0]
    text = refused(BASE + "---\n" + first)
    assert "duplicate Cluster document" in text and "name no cluster" not in text


def test_kops_weave_is_named_with_the_supported_list() -> None:
    for line in ("networking: weave", "networking: {weave: {}}"):
        text = refused(KOPS.replace("  networking: {calico: {}}\n", "").replace("SPEC", line))
        assert "'weave'" in text and "calico" in text and "cilium" in text
        assert "a is not supported" not in text


def test_yaml_errors_name_the_file_and_line() -> None:
    with pytest.raises(UserError) as err:
        parse_documents("a: 1\nb: [\n", "cluster.yaml")
    assert "cluster.yaml" in str(err.value) and "line" in str(err.value)
    assert "<unicode string>" not in str(err.value)


def test_yaml_without_control_plane_is_told_what_to_write_in_yaml() -> None:
    text = refused(BASE.replace("spec: {role: ControlPlane}", "spec: {role: Node}"))
    assert "role: ControlPlane" in text and "--control-plane-count" not in text


@pytest.mark.parametrize("value", ["a,b", "us-central1-a,us-central1-b", "us-central1-a"])
def test_set_a_list_with_commas_says_how_lists_are_written(value: str) -> None:
    doc = make_bundle().cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
    with pytest.raises(UserError) as err:
        apply_edits(doc, [f"spec.zones={value}"], [])
    assert "spec.zones" in str(err.value) and f"[{value}]" in str(err.value)


def test_set_a_deeply_nested_value_is_refused() -> None:
    doc = make_bundle().cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
    for value in ("[" * 5000 + "]" * 5000, "&a [*a]", "x" * 100_000):
        with pytest.raises(UserError):
            apply_edits(doc, [f"spec.cloudLabels={value}"], [])


def test_set_values_that_are_not_yaml_stay_text() -> None:
    doc = make_bundle().cluster.model_dump(mode="json", by_alias=True, exclude_none=True)
    apply_edits(doc, ["spec.kubernetesVersion=1.33", "spec.zones=[us-central1-a, us-central1-b]"], [])
    assert doc["spec"]["kubernetesVersion"] == "1.33" and doc["spec"]["zones"] == ["us-central1-a", "us-central1-b"]


@pytest.mark.parametrize("zone", ["US-CENTRAL1-A", "Us-Central1-a", " us-central1-a"])
def test_an_uppercase_zone_gets_one_message(zone: str) -> None:
    problems = validate_bundle(make_bundle(zones=[zone]))
    assert len(problems) == 1, problems
    assert "spec.zones[0]" in problems[0] and "us-central1-a" in problems[0]


# --------------------------------------------------------------------------- kOps unknown fields
@pytest.mark.parametrize(
    ("spec_line", "expected"),
    [
        ("subnetz: []", "spec.subnetz: not a kOps field; did you mean 'subnets'?"),
        ("kubernetesVersoin: 1.33.1", "did you mean 'kubernetesVersion'?"),
        ("cloudConfig: {gceServiceAcount: a@p.iam.gserviceaccount.com}", "did you mean 'gceServiceAccount'?"),
        ("sshAcess: [10.0.0.0/8]", "did you mean 'sshAccess'?"),
    ],
)
def test_kops_misspelt_fields_are_refused(spec_line: str, expected: str) -> None:
    assert expected in refused(kops(spec_line))


def test_kops_misspelt_group_field_is_refused() -> None:
    text = refused(kops("").replace("machineType: e2-standard-2", "machinetype: e2-standard-2"))
    assert "spec.machinetype: not a kOps field; did you mean 'machineType'?" in text


def test_kops_known_but_unimplemented_fields_still_warn() -> None:
    _, warnings = load(kops("etcdClusters: [{name: main}]\n  kubeAPIServer: {}"))
    assert len(warnings) == 1 and "etcdClusters" in warnings[0] and "kubeAPIServer" in warnings[0]


# --------------------------------------------------------------------------- issue 11: zones and machine types
@pytest.mark.parametrize(
    ("zone", "nearest"),
    [
        ("us-centrl1-a", "us-central1-a"),
        ("mars-north9-z", "north"),
        ("us-central1-z", "us-central1-"),
        ("europe-west1-a", "europe-west1-b"),  # europe-west1 has b, c, d
        ("us-central1", "us-central1-a"),
        ("us-central9-a", "us-central1-"),
    ],
)
def test_unknown_zones_are_refused_naming_the_nearest(zone: str, nearest: str) -> None:
    problems = validate_bundle(make_bundle(zones=[zone]))
    assert len(problems) == 1, problems
    assert "spec.zones[0]" in problems[0] and "not a GCE zone; nearest known:" in problems[0]
    assert nearest in problems[0].split("nearest known:")[1]


def test_zones_in_two_regions_are_refused() -> None:
    text = problems_of(lambda b: None, zones=["us-central1-a", "us-east1-b"])
    assert "2 regions (us-central1, us-east1)" in text


def test_known_zones_can_come_from_the_api() -> None:
    b = make_bundle(zones=["us-central1-a"])
    assert validate_bundle(b, known_zones={"us-central1-a"}) == []
    assert "not a GCE zone" in "\n".join(validate_bundle(b, known_zones={"us-central1-b"}))


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("e2-mediumm", "did you mean 'e2-medium'"),
        ("e2-standrd-4", "did you mean 'e2-standard-4'"),
        ("n2-hihgmem-8", "did you mean 'n2-highmem-8'"),
        ("e3-medium", "did you mean 'e2-medium'"),
        ("E2-medium", "not a GCE machine type"),
        ("e2-medium-", "not a GCE machine type"),
        ("e2-standard-4; rm", "not a GCE machine type"),
        ("custom-4", "is not a custom machine type"),
        ("zz-custom-4-8192", "unknown machine family 'zz'"),
        ("n2-custom-4", "is not a custom machine type"),
        ("e2-standard-4-bogus", "not a machine type of the e2 series"),
    ],
)
def test_misspelt_machine_types_are_refused(machine: str, expected: str) -> None:
    text = problems_of(lambda b: setattr(b.instance_groups[1].spec, "machine_type", machine))
    assert "spec.machineType" in text and expected in text, text


@pytest.mark.parametrize(
    "machine",
    ["e2-medium", "e2-micro", "e2-small", "f1-micro", "g1-small", "n1-standard-1", "n2-standard-6", "n2d-highcpu-224",
     "c3-standard-4-lssd", "c3-highcpu-192-metal", "a3-highgpu-8g", "a2-ultragpu-1g", "x4-megamem-960-metal",
     "z3-highmem-176-standardlssd", "m2-hypermem-416", "t2a-standard-1", "custom-4-8192", "n2-custom-4-8192-ext",
     "e2-custom-medium-4096", "n4-highmem-80", "c4a-standard-72"],
)  # fmt: skip
def test_machine_types_that_exist_or_are_well_formed_pass(machine: str) -> None:
    assert problems_of(lambda b: setattr(b.instance_groups[1].spec, "machine_type", machine)) == ""
