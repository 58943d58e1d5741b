"""Drain, cordon and node readiness through the real `kubernetes` client, against the emulator's
Kubernetes API on 127.0.0.1 (issue 13)."""

from __future__ import annotations

import json
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegce.emulator.kube import KubeApiServer, KubeState
from kubegce.errors import UserError
from kubegce.kube import drain as kd
from kubegce.kube.client import KubeApiError, KubeClient
from kubegce.kube.selectors import SelectorError, parse_label_selector, selector_matches

FAST = 0.02  # poll interval for the tests


@pytest.fixture
def state() -> KubeState:
    st = KubeState(reschedule_delay_s=0.15, seed=1)
    for name in ("node-a", "node-b", "node-c"):
        st.node_joined(name, {"kubegce/group": "nodes"})
    return st


@pytest.fixture
def server(state: KubeState) -> Iterator[KubeApiServer]:
    srv = KubeApiServer(state).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: KubeApiServer) -> Iterator[KubeClient]:
    c = KubeClient.from_url(server.url)
    yield c
    c.close()


def raw(srv: KubeApiServer, method: str, path: str, body: Any = None, content_type: str = "application/json",
        token: str | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(srv.url + path, method=method, data=data, headers={"Content-Type": content_type})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_answers_parse_with_the_client_models(state: KubeState, client: KubeClient) -> None:
    state.node_joined("cp-1", {"node-role.kubernetes.io/control-plane": ""}, ready=False)
    state.add_daemonset("kube-proxy")
    state.add_replicaset("web", 2, labels={"app": "web"}, nodes=["node-a"])
    state.add_pdb("web", match_labels={"app": "web"}, min_available="50%")
    nodes = client.core.list_node().items
    assert [n.metadata.name for n in nodes] == ["cp-1", "node-a", "node-b", "node-c"]
    cp = client.core.read_node("cp-1")
    assert cp.status.conditions[0].type == "Ready" and cp.status.conditions[0].status == "False"
    assert cp.spec.taints[0].key == "node-role.kubernetes.io/control-plane" and cp.status.node_info.kubelet_version
    assert kd.nodes_ready(client) == {"cp-1": False, "node-a": True, "node-b": True, "node-c": True}
    pods = client.core.list_pod_for_all_namespaces().items
    assert len(pods) == 2 + 4  # web on node-a, kube-proxy everywhere (it tolerates the control-plane taint)
    web = [p for p in pods if p.metadata.labels.get("app") == "web"]
    assert {p.spec.node_name for p in web} == {"node-a"}
    assert web[0].metadata.owner_references[0].kind == "ReplicaSet" and web[0].status.phase == "Running"
    assert [c.status for c in web[0].status.conditions if c.type == "Ready"] == ["True"]
    on_b = client.core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-b").items
    assert [p.metadata.owner_references[0].kind for p in on_b] == ["DaemonSet"]
    one = client.core.read_namespaced_pod(web[0].metadata.name, "default")
    assert one.metadata.uid == web[0].metadata.uid
    assert len(client.core.list_namespaced_pod("default", label_selector="app in (web,db)").items) == 2
    pdb = client.policy.list_pod_disruption_budget_for_all_namespaces().items[0]
    assert (pdb.status.expected_pods, pdb.status.current_healthy, pdb.status.desired_healthy) == (2, 2, 1)
    assert pdb.status.disruptions_allowed == 1 and pdb.spec.min_available == "50%"
    assert {ns.metadata.name for ns in client.core.list_namespace().items} >= {"default", "kube-system"}
    assert client.models.VersionApi(client.api_client).get_code().git_version.startswith("v1.")
    resources = {r.name for r in client.core.get_api_resources().resources}
    assert {"nodes", "pods", "pods/eviction"} <= resources


def test_drain_evicts_replicaset_pods_and_leaves_daemonset_and_mirror_pods(
    state: KubeState, client: KubeClient
) -> None:
    state.add_daemonset("kube-proxy")
    state.add_replicaset("web", 2, nodes=["node-a"])
    state.add_pod("etcd-node-a", namespace="kube-system", node="node-a",
                  annotations={"kubernetes.io/config.mirror": "abc"})  # fmt: skip
    state.add_pod("bare", node="node-a")
    events: list[kd.DrainEvent] = []
    result = kd.drain(client, "node-a", timeout_s=20, poll_s=FAST, progress=events.append)
    assert sorted(p.split("/")[1].split("-")[0] for p in result.evicted) == ["bare", "web", "web"]
    assert sorted(result.skipped) == sorted(
        f"kube-system/{p.name}" for p in state.snapshot().pods_on("node-a")
    )  # only the DaemonSet and mirror pods remain
    assert {e.kind for e in events} >= {"cordoned", "evicted", "skipped", "gone", "drained"}
    snap = state.snapshot()
    assert snap.nodes["node-a"].unschedulable
    assert {(e.pod.split("-")[0], e.node) for e in snap.evictions} == {("web", "node-a"), ("bare", "node-a")}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the ReplicaSet's replacements run elsewhere; the bare pod is gone for good
        web = [p for p in state.snapshot().pods if p.owner_name == "web"]
        if len(web) == 2 and all(p.ready for p in web):
            break
        time.sleep(FAST)
    assert len(web) == 2 and all(p.ready and p.node in ("node-b", "node-c") for p in web)
    assert not any(p.name == "bare" for p in state.snapshot().pods)


def test_pdb_at_its_minimum_blocks_until_the_timeout(state: KubeState, client: KubeClient) -> None:
    state.add_replicaset("db", 2, labels={"app": "db"}, nodes=["node-a", "node-b"])
    state.add_pdb("db-budget", match_labels={"app": "db"}, min_available=2)
    started = time.monotonic()
    with pytest.raises(kd.DrainTimeout) as caught:
        kd.drain(client, "node-a", timeout_s=0.3, poll_s=FAST)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    (pod,) = [p for p in state.snapshot().pods_on("node-a")]
    assert f"default/{pod.name}" in message and "PodDisruptionBudget default/db-budget" in message
    assert "needs 2 healthy pods and has 2" in message and "--drain-timeout" in message
    assert list(caught.value.remaining) == [f"default/{pod.name}"]
    assert state.snapshot().nodes["node-a"].unschedulable and not state.snapshot().evictions


def test_pdb_allowing_one_at_a_time_lets_the_drain_finish(state: KubeState, client: KubeClient) -> None:
    state.add_replicaset("web", 3, labels={"app": "web"}, nodes=["node-a", "node-a", "node-b"])
    state.add_pdb("web", match_labels={"app": "web"}, max_unavailable=1)
    ready_at_eviction: list[int] = []

    events: list[kd.DrainEvent] = []

    def watch(event: kd.DrainEvent) -> None:
        events.append(event)
        if event.kind == "evicted":
            ready_at_eviction.append(sum(p.ready for p in state.snapshot().pods if p.owner_name == "web"))

    result = kd.drain(client, "node-a", timeout_s=20, poll_s=FAST, progress=watch)
    assert len(result.evicted) == 2
    assert ready_at_eviction == [2, 2]  # never more than one web pod unavailable
    assert any(e.kind == "blocked" and "PodDisruptionBudget default/web" in e.message for e in events)
    assert not [p for p in state.snapshot().pods_on("node-a") if p.owner_name == "web"]


def test_terminating_pods_are_waited_for(client: KubeClient, server: KubeApiServer) -> None:
    server.state.termination_s = 0.2
    server.state.add_replicaset("slow", 1, nodes=["node-b"])
    events: list[kd.DrainEvent] = []
    kd.drain(client, "node-b", timeout_s=20, poll_s=FAST, progress=events.append)
    kinds = [e.kind for e in events]
    assert kinds.index("evicted") < kinds.index("gone") < kinds.index("drained")
    assert not [p for p in server.state.snapshot().pods_on("node-b") if p.owner_name == "slow"]


def test_cordon_uncordon_round_trip(state: KubeState, client: KubeClient) -> None:
    assert kd.cordon(client, "node-b") is True
    assert kd.cordon(client, "node-b") is False
    assert client.core.read_node("node-b").spec.unschedulable is True
    states = kd.node_states(client)
    assert states["node-b"].cordoned and not states["node-a"].cordoned and states["node-b"].ready
    assert (
        states["node-b"].kubelet_version.startswith("v1.")
        and states["node-b"].condition == "Ready=True (KubeletReady: kubelet is posting ready status)"
    )
    state.add_pod("p", owner_kind="ReplicaSet", owner_name="rs")
    state.add_pod("q", owner_kind="ReplicaSet", owner_name="rs")
    state.add_pod("r", owner_kind="ReplicaSet", owner_name="rs")
    assert "node-b" not in {p.node for p in state.snapshot().pods}  # the scheduler avoids a cordoned node
    assert kd.uncordon(client, "node-b") is True
    assert kd.uncordon(client, "node-b") is False
    assert not client.core.read_node("node-b").spec.unschedulable
    assert not state.snapshot().nodes["node-b"].unschedulable
    with pytest.raises(UserError, match="no node nope is registered"):
        kd.cordon(client, "nope")


def test_unreachable_server_is_a_user_error_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    client = KubeClient.from_url(f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        kd.nodes_ready(client)
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "Connection refused" in message and "listing nodes" in message
    assert not isinstance(caught.value, KubeApiError)


def test_kubeconfig_token_and_bad_files(state: KubeState, tmp_path: Path) -> None:
    srv = KubeApiServer(state, token="s3cret-test-token").start()  # noqa: S106 - a test value
    try:
        path = srv.write_kubeconfig(tmp_path / "kubeconfig")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        client = KubeClient.from_kubeconfig(path)
        assert client.server == srv.url and sorted(kd.nodes_ready(client)) == ["node-a", "node-b", "node-c"]
        assert raw(srv, "GET", "/api/v1/nodes")[0] == 401
        assert raw(srv, "GET", "/version")[0] == 200
        wrong = KubeClient.from_url(srv.url, token="wrong")  # noqa: S106
        with pytest.raises(UserError, match="refused the credentials"):
            kd.nodes_ready(wrong)
    finally:
        srv.stop()
    with pytest.raises(UserError, match="does not exist"):
        KubeClient.from_kubeconfig(tmp_path / "missing")
    (tmp_path / "bad").write_text("clusters: [\n")
    with pytest.raises(UserError, match="cannot load kubeconfig"):
        KubeClient.from_kubeconfig(tmp_path / "bad")


def test_wait_ready_and_node_lifecycle(state: KubeState, client: KubeClient) -> None:
    state.node_joined("node-d", ready=False)
    with pytest.raises(UserError) as caught:
        kd.wait_ready(client, ["node-a", "node-d", "node-e"], timeout_s=0.1, poll_s=FAST)
    assert "node-d: Ready=False" in str(caught.value) and "node-e: not registered" in str(caught.value)
    assert "node-a" not in str(caught.value)
    state.set_node_ready("node-d", True)
    kd.wait_ready(client, ["node-a", "node-d"], timeout_s=5, poll_s=FAST)
    state.add_pod("db-0", node="node-d", owner_kind="StatefulSet", owner_name="db")
    state.add_daemonset("kube-proxy")
    assert kd.delete_node(client, "node-d") is True and kd.delete_node(client, "node-d") is False
    snap = state.snapshot()
    assert "node-d" not in snap.nodes
    (db,) = [p for p in snap.pods if p.owner_name == "db"]
    assert db.name == "db-0" and db.phase == "Pending"  # a StatefulSet pod comes back under its name
    state.node_gone("node-c")
    assert not state.snapshot().pods_on("node-c") and "node-c" not in state.snapshot().nodes


def test_api_errors_are_status_objects(state: KubeState, server: KubeApiServer, client: KubeClient) -> None:
    status, body = raw(server, "GET", "/api/v1/pods?fieldSelector=spec.host%3Dx")
    assert status == 400 and body["kind"] == "Status" and body["message"] == "field label not supported: spec.host"
    status, body = raw(server, "GET", "/api/v1/namespaces/default/pods/nope")
    assert (status, body["reason"], body["details"]["kind"]) == (404, "NotFound", "pods")
    assert raw(server, "GET", "/api/v1/secrets")[0] == 404
    assert raw(server, "PUT", "/api/v1/nodes/node-a", {})[1]["reason"] == "MethodNotAllowed"
    status, body = raw(
        server, "PATCH", "/api/v1/nodes/node-a", {"spec": {"unschedulable": True}}, "application/apply-patch+yaml"
    )
    assert status == 415
    status, body = raw(
        server, "PATCH", "/api/v1/nodes/node-a", {"spec": {"unschedulable": True}}, "application/json-patch+json"
    )
    assert status == 400  # a JSON patch is a list
    ops = [{"op": "add", "path": "/spec/unschedulable", "value": True}]
    assert raw(server, "PATCH", "/api/v1/nodes/node-a", ops, "application/json-patch+json")[0] == 200
    assert state.snapshot().nodes["node-a"].unschedulable
    patch = {"metadata": {"resourceVersion": "1"}, "spec": {"unschedulable": False}}
    assert raw(server, "PATCH", "/api/v1/nodes/node-a", patch, "application/merge-patch+json")[0] == 409
    bad = {"spec": {"unschedulable": "yes"}}
    status, body = raw(server, "PATCH", "/api/v1/nodes/node-a", bad, "application/strategic-merge-patch+json")
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.unschedulable"
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"},
           "spec": {"maxUnavailable": "150%", "selector": {"matchLabels": {"app": "x"}}}}  # fmt: skip
    status, body = raw(server, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
    assert status == 422 and "100%" in body["message"]
    pdb["spec"]["maxUnavailable"] = 1  # type: ignore[index]
    assert raw(server, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)[0] == 201
    assert (
        raw(server, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)[1]["reason"]
        == "AlreadyExists"
    )
    assert raw(server, "POST", "/apis/policy/v1/namespaces/nope/poddisruptionbudgets", pdb)[0] == 404
    assert client.policy.read_namespaced_pod_disruption_budget("x", "default").spec.max_unavailable == 1
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}
    state.add_pod("p", node="node-b")
    assert raw(server, "POST", "/api/v1/namespaces/default/pods/p/eviction", eviction)[0] == 400
    assert raw(server, "GET", "/api/v1/nodes?watch=true")[0] == 400
    with pytest.raises(KubeApiError) as caught:
        client.call("evicting", client.core.create_namespaced_pod_eviction, "gone", "default",
                    client.models.V1Eviction(metadata=client.models.V1ObjectMeta(name="gone")))  # fmt: skip
    assert caught.value.status == 404 and "evicting" in str(caught.value) and server.url in str(caught.value)


def test_pdb_rules_for_unhealthy_and_pending_pods(state: KubeState, client: KubeClient) -> None:
    state.add_pod("w1", node="node-a", labels={"app": "w"})
    state.add_pod("w2", node="node-b", labels={"app": "w"})
    state.add_pod("w3", node="node-c", labels={"app": "w"}, ready=False)
    state.add_pdb("w", match_labels={"app": "w"}, min_available=2)

    def evict(name: str) -> int:
        body = client.models.V1Eviction(metadata=client.models.V1ObjectMeta(name=name, namespace="default"))
        try:
            client.call("evicting", client.core.create_namespaced_pod_eviction, name, "default", body)
        except KubeApiError as exc:
            return exc.status
        return 201

    assert evict("w1") == 429  # 2 Ready, 2 needed
    assert evict("w3") == 201  # not Ready, and the budget is healthy: it may go
    state.add_pdb("w-too", match_labels={"app": "w"}, max_unavailable="50%")
    assert evict("w2") == 500  # two budgets for one pod: refused, as by a real server


def test_selectors() -> None:
    labels = {"app": "web", "tier": "front"}
    assert parse_label_selector("")(labels)
    assert parse_label_selector("app=web,tier!=back")(labels)
    assert parse_label_selector("app in (web, db), !missing, tier")(labels)
    assert not parse_label_selector("app notin (web)")(labels)
    assert not parse_label_selector("app==db")(labels)
    with pytest.raises(SelectorError):
        parse_label_selector("a b")
    assert selector_matches({}, labels) and not selector_matches(None, labels)
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}], "matchLabels": {"app": "web"}}
    assert selector_matches(expr, labels)
    assert not selector_matches({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, labels)


@pytest.mark.parametrize("length", ["junk", "-1", "99999999999"])
def test_kube_api_refuses_a_junk_content_length(server: KubeApiServer, state: KubeState, length: str) -> None:
    """A bad Content-Length is a 400 Status, not a 500 (and the server keeps serving)."""
    host, port = server.url.split("://", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                     "Content-Type: application/json\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Content-Length" in answer
    assert raw(server, "GET", "/api/v1/nodes")[0] == 200
