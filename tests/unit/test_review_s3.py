"""An adversarial pass over editor mode, endpoint options and the JSON API path: each test failed
before its fix (hostile editors, option placement, API answers a proxy or a broken server gives)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.unit.test_edit_editor import CLUSTER, edit, env, objects

__all__ = ["env"]  # the fixture, used by name

SCRIPT = "#!/bin/sh\necho one\n# a comment the script needs\nexit 0\n"


def kubegce(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_editor_keeps_comment_lines_inside_a_script(env: dict[str, str]) -> None:
    """Lines starting with '#' inside a multi-line string are content, not comments to drop."""
    r = kubegce(env, "edit", "ig", CLUSTER, "nodes", "--set",
                f"spec.bootstrap.additionalUserData=[{{name: extra.sh, content: {json.dumps(SCRIPT)}}}]")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = edit(env, [{"replace": ["maxSize: 2", "maxSize: 3"]}], "instancegroup", CLUSTER, "nodes")
    assert r.returncode == 0 and "updated" in r.stderr, r.stderr
    groups = json.loads(kubegce(env, "get", "ig", CLUSTER, "-o", "json").stdout)
    nodes = next(g for g in groups if g["metadata"]["name"] == "nodes")
    assert nodes["spec"]["maxSize"] == 3
    assert nodes["spec"]["bootstrap"]["additionalUserData"][0]["content"] == SCRIPT


def test_editor_block_scalar_keeps_its_shebang(env: dict[str, str]) -> None:
    block = "    additionalUserData:\n    - name: a.sh\n      content: |\n        #!/bin/sh\n        exit 0\n"
    r = edit(env, [{"replace": ["    additionalUserData: []\n", block]}], "instancegroup", CLUSTER, "nodes")
    assert r.returncode == 0, r.stderr
    groups = json.loads(kubegce(env, "get", "ig", CLUSTER, "-o", "json").stdout)
    nodes = next(g for g in groups if g["metadata"]["name"] == "nodes")
    assert nodes["spec"]["bootstrap"]["additionalUserData"][0]["content"] == "#!/bin/sh\nexit 0\n"


HOSTILE_EDITORS = {
    "deletes the file": "import os, sys; os.remove(sys.argv[-1])",
    "leaves a directory": "import os, sys; os.remove(sys.argv[-1]); os.mkdir(sys.argv[-1])",
    "writes 3 MiB": "import sys; open(sys.argv[-1], 'w').write('a: ' + 'x' * (3 << 20))",
}


@pytest.mark.parametrize("script", HOSTILE_EDITORS.values(), ids=HOSTILE_EDITORS.keys())
def test_hostile_editor_cancels_without_a_traceback(env: dict[str, str], tmp_path: Path, script: str) -> None:
    editor = tmp_path / "hostile.py"
    editor.write_text(script)
    before = objects(env)
    r = subprocess.run([sys.executable, "-m", "kubegce", "edit", "cluster", CLUSTER], capture_output=True,
                       text=True, env={**env, "KUBE_EDITOR": f"{sys.executable} {editor}"}, timeout=120)  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr
    assert "cancelled, nothing written" in r.stderr
    assert r.returncode == 0
    assert objects(env) == before


# ---------------------------------------------------------------------- --state / --endpoint placement
@pytest.mark.parametrize("argv", [
    ["get", "clusters", "--state"],
    ["get", "clusters", "--endpoint"],
    ["edit", "cluster", CLUSTER, "--set", "--endpoint"],
])  # fmt: skip
def test_trailing_global_option_without_a_value(env: dict[str, str], argv: list[str]) -> None:
    """It was moved in front of the verb and took the verb as its value ("No such command 'clusters'")."""
    r = kubegce(env, *argv)
    assert r.returncode == 2 and f"Option '{argv[-1]}' requires an argument" in r.stderr, r.stderr
    assert "No such command" not in r.stderr


def test_the_global_option_written_last_wins() -> None:
    from kubegce.cli.main import hoist_global_options

    argv = ["--endpoint", "http://a:1", "get", "instances", "x", "--endpoint", "http://b:2"]
    assert hoist_global_options(argv) == ["--endpoint", "http://a:1", "--endpoint", "http://b:2", "get",
                                          "instances", "x"]  # fmt: skip
    assert hoist_global_options(["get", "clusters", "--", "--state", "x"]) == ["get", "clusters", "--", "--state", "x"]


@pytest.mark.parametrize("argv", [["--endpoint=", "get", "instances", CLUSTER],
                                  ["get", "instances", CLUSTER, "--endpoint", ""]])  # fmt: skip
def test_an_empty_endpoint_is_refused(env: dict[str, str], argv: list[str]) -> None:
    """`--endpoint="$EMULATOR"` with the variable unset must not quietly mean the real Compute API."""
    env = {k: v for k, v in env.items() if k != "KUBEGCE_COMPUTE_ENDPOINT"}
    r = kubegce(env, *argv)
    assert r.returncode == 2 and "--endpoint is empty" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("url", ["http://admin:hunter22@127.0.0.1:8780", "admin:hunter22@127.0.0.1:8780"])
def test_an_endpoint_password_is_not_echoed(url: str) -> None:
    from kubegce.errors import UserError
    from kubegce.net import check_endpoint

    with pytest.raises(UserError, match="user:password") as info:
        check_endpoint(url, "--endpoint")
    assert "hunter22" not in str(info.value)


# ---------------------------------------------------------------------- API errors no verb handles
@pytest.mark.parametrize("fail", [("zones.list", 403), ("machineTypes.get", 403), ("networks.list", 404)])
def test_an_api_refusal_while_planning_is_one_line(env: dict[str, str], fail: tuple[str, int]) -> None:
    """A 403 on the first calls of a plan (wrong project, API not enabled, missing roles) was a traceback."""
    from kubegce.emulator.compute import FaultConfig
    from kubegce.emulator.server import RunningEmulator

    with RunningEmulator(0, FaultConfig(fail_calls=[(fail[0], 1, fail[1])]), boot_seconds=1.0) as emu:
        r = kubegce(env, "update", "cluster", CLUSTER, "--endpoint", emu.endpoint)
        calls = emu.state.calls.counts
    assert calls.get(fail[0]) == 1, calls  # the emulator names the call (zones.list was "unknown")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"the Google API refused a call: {fail[1]}" in r.stderr and "check spec.project" in r.stderr


# ---------------------------------------------------------------------- the JSON path's error shapes
@pytest.fixture(scope="module")
def answering() -> Iterator[tuple[str, dict[str, tuple[int, str, bytes]]]]:
    """A server that answers every call with ``answer["now"]``: (status, content type, body)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer: dict[str, tuple[int, str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, ctype, body = answer["now"]
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


def _gce_error(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message,
                                 "errors": [{"message": message, "domain": "global", "reason": reason}]}}).encode()  # fmt: skip


SAME_AS_THE_LIBRARY = {
    "400 text": (400, "text/plain", b"bad request"),
    "502 html": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "409 alreadyExists": (409, "application/json", _gce_error(409, "alreadyExists", "already exists")),
    "403 rateLimitExceeded": (403, "application/json", _gce_error(403, "rateLimitExceeded", "Rate Limit Exceeded")),
    "404 empty": (404, "application/json", b""),
}


@pytest.mark.parametrize("shape", SAME_AS_THE_LIBRARY.values(), ids=SAME_AS_THE_LIBRARY.keys())
def test_json_path_errors_are_the_librarys(answering: tuple[str, dict[str, tuple[int, str, bytes]]],
                                           shape: tuple[int, str, bytes]) -> None:  # fmt: skip
    from kubegce.cloud.gce.client import ComputeClients

    url, answer = answering
    answer["now"] = shape
    clients = ComputeClients.create(url)
    with pytest.raises(Exception) as by_json:
        clients.rest("POST", "projects/p/global/networks", {"name": "n"})
    with pytest.raises(Exception) as by_library:
        clients.kinds["networks"].insert_unary(project="p", network_resource=clients.compute.Network(name="n"),
                                               retry=None)  # fmt: skip
    assert type(by_json.value) is type(by_library.value)
    assert str(by_json.value) == str(by_library.value)
    assert getattr(by_json.value, "errors", None) == getattr(by_library.value, "errors", None)


@pytest.mark.parametrize("shape", [(200, "application/json", b""), (200, "text/html", b"<html>login</html>" * 999),
                                   (200, "application/json", b"[1, 2]"), (204, "application/json", b"")])  # fmt: skip
def test_json_path_non_object_answers_are_api_errors(answering: tuple[str, dict[str, tuple[int, str, bytes]]],
                                                     shape: tuple[int, str, bytes]) -> None:  # fmt: skip
    """An empty or HTML 2xx (a proxy's page) was requests' JSONDecodeError; a list said 'None POST ...'."""
    from google.api_core.exceptions import GoogleAPICallError

    from kubegce.cloud.gce.client import ComputeClients

    url, answer = answering
    answer["now"] = shape
    with pytest.raises(GoogleAPICallError) as info:
        ComputeClients.create(url).rest("POST", "projects/p/global/networks", {"name": "n"})
    text = str(info.value)
    assert text.startswith(f"{shape[0]} POST {url}/compute/v1/projects/p/global/networks: the answer is ")
    assert "not a JSON object" in text and "login" not in text and len(text) < 300


def test_an_operation_that_ends_in_error_reads_the_same_from_either_form() -> None:
    from kubegce.cloud.gce.api import GceApi, OperationError, op_state
    from kubegce.cloud.gce.lib import load_compute
    from kubegce.cloud.resources import ResourceKey

    op = {"name": "operation-1", "zone": "https://x/compute/v1/projects/p/zones/us-central1-a", "status": "DONE",
          "error": {"errors": [{"code": "QUOTA_EXCEEDED", "message": "Quota 'CPUS' exceeded."}]},
          "httpErrorStatusCode": 403}  # fmt: skip
    library = load_compute().Operation.from_json(json.dumps(op))
    assert op_state(op) == op_state(library)
    api = GceApi(cast(Any, None), "p", "marker", "c")
    key = ResourceKey("instance_group_manager", "us-central1-a", "a-nodes")
    for form in (op, library):
        with pytest.raises(OperationError) as info:
            api.wait(form, key)
        assert str(info.value) == f"{key}: QUOTA_EXCEEDED: Quota 'CPUS' exceeded." and info.value.code == 403


def test_apply_progress_prints_api_errors_literally(capsys: pytest.CaptureFixture[str]) -> None:
    """An error text holding '[/x]' made rich raise MarkupError mid-apply; '[bold]' was styled; a huge
    error page was printed whole."""
    from kubegce.cli.progress import ConsoleProgress
    from kubegce.cloud.executor import TaskResult

    progress = ConsoleProgress(2)
    hostile = "400 POST u: Invalid value for field [/compute] and [bold]x[/bold]\n" + "<p>page</p>" * 10_000
    results = [TaskResult("a", "create network/n", False, hostile), TaskResult("b", "create x/[red]", False, "[/]")]
    for r in results:
        progress.finished(r)
    progress.summary(results)
    err = capsys.readouterr().err
    assert "[/compute] and [bold]x[/bold] <p>page</p>" in err and "create x/[red]: [/]" in err
    assert len(err) < 3000


@pytest.mark.parametrize("verb", [["get", "clusters"], ["get", "ig"], ["edit", "cluster"], ["delete", "cluster"],
                                  ["update", "cluster"], ["replace", "-f"]])  # fmt: skip
def test_a_huge_cluster_name_is_refused_in_one_short_line(env: dict[str, str], tmp_path: Path,
                                                          verb: list[str]) -> None:  # fmt: skip
    """A 5,000-character name reached the file system: OSError ENAMETOOLONG, a traceback."""
    name = "x" * 5000
    if verb[0] == "replace":
        doc = tmp_path / "huge.yaml"
        got = kubegce(env, "get", "cluster", CLUSTER, "-o", "yaml").stdout
        doc.write_text(got.replace(f"name: {CLUSTER}", f"name: {name}", 1))
        name = str(doc)
    r = kubegce(env, *verb, name)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-500:]
    assert len(r.stderr) < 600, r.stderr


@pytest.mark.parametrize("argv", [["version"], ["completion", "bash"], ["get", "clusters", "--help"],
                                  ["get", "clusters"]])  # fmt: skip
def test_a_bad_endpoint_in_the_environment_does_not_break_offline_verbs(env: dict[str, str],
                                                                       argv: list[str]) -> None:  # fmt: skip
    """`kubegce completion bash` in a shell's start-up file failed when KUBEGCE_COMPUTE_ENDPOINT had a typo."""
    r = kubegce({**env, "KUBEGCE_COMPUTE_ENDPOINT": "127.0.0.1:8780"}, *argv)
    assert r.returncode == 0 and "error" not in r.stderr, r.stderr


def test_a_bad_endpoint_in_the_environment_still_stops_cloud_verbs(env: dict[str, str]) -> None:
    r = kubegce({**env, "KUBEGCE_COMPUTE_ENDPOINT": "127.0.0.1:8780"}, "get", "instances", CLUSTER)
    assert r.returncode == 2 and "KUBEGCE_COMPUTE_ENDPOINT '127.0.0.1:8780'" in r.stderr and "no scheme" in r.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_timeouts_must_be_finite(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """KUBEGCE_READ_TIMEOUT=nan (or inf) meant no timeout: a silent endpoint hung for ever."""
    from kubegce.errors import UserError
    from kubegce.net import timeouts

    monkeypatch.setenv("KUBEGCE_READ_TIMEOUT", value)
    with pytest.raises(UserError, match="KUBEGCE_READ_TIMEOUT"):
        timeouts()


def test_a_replace_that_loses_half_way_says_what_it_already_wrote(env: dict[str, str]) -> None:
    """A conflict after the group was written said only 'changed since you read it; re-run' (exit 3),
    which reads as 'nothing written'."""
    from kubegce.errors import ConflictError
    from kubegce.images.catalog import Catalog
    from kubegce.service import replace_clusters
    from kubegce.spec.loader import load_bundles, parse_documents
    from kubegce.state.clusters import ClusterRepository
    from kubegce.state.store import open_store

    out = kubegce(env, "get", "cluster", CLUSTER, "-o", "yaml").stdout
    changed = out.replace("maxSize: 2", "maxSize: 5").replace("kubernetesVersion: 1.36.4", "kubernetesVersion: 1.36.2")
    bundles, _ = load_bundles(parse_documents(changed, "x"), "x")
    repo = ClusterRepository(open_store(env["KUBEGCE_STATE"]))
    real_save_cluster = repo.save_cluster

    def someone_writes_first(stored):  # type: ignore[no-untyped-def]
        assert kubegce(env, "edit", "cluster", CLUSTER, "--set", "spec.kubernetesVersion=1.36.3").returncode == 0
        real_save_cluster(stored)

    repo.save_cluster = someone_writes_first  # type: ignore[method-assign]
    with pytest.raises(ConflictError, match=f"already replaced before that: instancegroup {CLUSTER}/nodes"):
        replace_clusters(repo, bundles, Catalog.load(None))


def test_get_instancegroups_yaml_is_read_back_by_replace(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 11 section 3: `get instancegroups NAME -o yaml` documents are accepted back by `replace -f`
    (it said 'no Cluster document found'); each names its cluster by label, as kOps's do."""
    groups = kubegce(env, "get", "instancegroups", CLUSTER, "-o", "yaml").stdout
    assert groups.count(f"kubegce.io/cluster: {CLUSTER}") == 2
    r = subprocess.run([sys.executable, "-m", "kubegce", "replace", "-f", "-"], input=groups, capture_output=True,
                       text=True, env=env, timeout=120)  # fmt: skip
    assert r.returncode == 0 and "no change" in r.stderr, r.stderr
    (tmp_path / "ig.yaml").write_text(groups.replace("maxSize: 2", "maxSize: 4"))
    r = kubegce(env, "replace", "-f", str(tmp_path / "ig.yaml"))
    assert r.returncode == 0 and f"replaced instancegroup {CLUSTER}/nodes" in r.stderr, r.stderr
    stored = kubegce(env, "get", "cluster", CLUSTER, "-o", "yaml").stdout
    assert "maxSize: 4" in stored and "kubegce.io/cluster" not in stored  # the label is not stored
    (tmp_path / "other.yaml").write_text(groups.replace(CLUSTER, "other.example.com"))
    r = kubegce(env, "replace", "-f", str(tmp_path / "other.yaml"))
    assert r.returncode == 4 and "'other.example.com' not found" in r.stderr, r.stderr
