"""The real kubectl against the emulator's Kubernetes API (issue 20): the calls a rolling update
makes (kubegce makes them with the `kubernetes` Python client; an operator makes the same ones with
kubectl while debugging): list nodes and pods, cordon, label, drain through the eviction
subresource with a PodDisruptionBudget and a DaemonSet, uncordon.

kubectl is Debian's/Google's build on this machine (`kubectl version --client`: 1.30 here). What
the emulator does not serve, said plainly: ConfigMaps and Secrets, which the bootstrap reads and
patches on control planes (`kubeadm-config`, bootstrap-token Secrets); those calls run in the boot
lab against stand-ins, and against a real API server only in scripts/check-gcp.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegce.emulator.kube import CONTROL_PLANE_LABEL, KubeApiServer, KubeState

pytestmark = pytest.mark.integration


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[tuple[KubeState, list[str]]]:
    binary = shutil.which("kubectl")
    if binary is None:
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail("kubectl is missing (Debian's kubernetes-client)")
        pytest.skip("kubectl is not installed")
    state = KubeState(reschedule_delay_s=0.1)
    server = KubeApiServer(state, 0)
    server.start()
    try:
        state.node_joined("cp-1", {CONTROL_PLANE_LABEL: ""})
        for n in ("node-1", "node-2"):
            state.node_joined(n, {})
        state.add_daemonset("node-agent")
        state.add_replicaset("web", 4, nodes=["node-1", "node-2"])
        state.add_pdb("web", match_labels={"app": "web"}, max_unavailable=1)
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        yield state, [binary, "--kubeconfig", str(kubeconfig)]
    finally:
        server.stop()


def run(cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)


def test_kubectl_lists_and_discovers(kubectl: tuple[KubeState, list[str]]) -> None:
    _, cmd = kubectl
    nodes = run(cmd, "get", "nodes", "-o", "json")
    assert nodes.returncode == 0, nodes.stderr
    items = json.loads(nodes.stdout)["items"]
    assert sorted(i["metadata"]["name"] for i in items) == ["cp-1", "node-1", "node-2"]
    ready = {i["metadata"]["name"]: [c["status"] for c in i["status"]["conditions"] if c["type"] == "Ready"]
             for i in items}  # fmt: skip
    assert all(v == ["True"] for v in ready.values())
    pods = run(cmd, "get", "pods", "-A", "-o", "json")
    assert pods.returncode == 0, pods.stderr
    assert sum(1 for p in json.loads(pods.stdout)["items"] if p["metadata"]["name"].startswith("web")) == 4
    by_node = run(cmd, "get", "pods", "-A", "--field-selector", "spec.nodeName=node-1", "-o", "name")
    assert by_node.returncode == 0 and by_node.stdout.count("pod/") >= 2, by_node.stderr
    resources = run(cmd, "api-resources")
    assert resources.returncode == 0 and "poddisruptionbudgets" in resources.stdout, resources.stderr


def test_kubectl_cordons_labels_drains_and_uncordons(kubectl: tuple[KubeState, list[str]]) -> None:
    state, cmd = kubectl
    assert run(cmd, "cordon", "node-1").returncode == 0
    assert state.snapshot().nodes["node-1"].unschedulable
    label = run(cmd, "label", "node", "node-1", "kubegce.io/rolling=replacing", "--overwrite")
    assert label.returncode == 0, label.stderr
    drain = run(cmd, "drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s")
    assert drain.returncode == 0, drain.stderr
    snap = state.snapshot()
    assert not [p for p in snap.pods_on("node-1") if p.name.startswith("web")]  # evicted, PDB respected
    assert snap.evictions  # through the eviction subresource, as kubectl drain does
    assert run(cmd, "uncordon", "node-1").returncode == 0
    assert not state.snapshot().nodes["node-1"].unschedulable


def test_kubectl_gets_the_apis_real_errors(kubectl: tuple[KubeState, list[str]]) -> None:
    _, cmd = kubectl
    missing = run(cmd, "get", "node", "no-such-node")
    assert missing.returncode == 1 and 'nodes "no-such-node" not found' in missing.stderr
