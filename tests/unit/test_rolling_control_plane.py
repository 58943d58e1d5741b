"""The control-plane health the roll waits for, read from a Kubernetes API's answers."""

from __future__ import annotations

from typing import Any

from kubegce.service.rolling_control_plane import ControlPlaneRollError, kube_control_plane_problems


def obj(name: str, ready: bool) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}  # fmt: skip


def api(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> Any:
    def get(path: str) -> dict[str, Any]:
        if path.startswith("/api/v1/nodes?labelSelector=node-role.kubernetes.io/control-plane"):
            return {"items": nodes}
        assert path == "/api/v1/namespaces/kube-system/pods?labelSelector=component%3Detcd", path
        return {"items": pods}

    return get


def test_healthy_when_every_control_plane_and_etcd_member_is_ready() -> None:
    nodes = [obj(f"cp-{i}", True) for i in range(3)]
    assert kube_control_plane_problems(api(nodes, [obj(f"etcd-cp-{i}", True) for i in range(3)])) == []


def test_a_missing_or_unready_etcd_member_is_a_problem() -> None:
    nodes = [obj(f"cp-{i}", True) for i in range(3)]
    problems = kube_control_plane_problems(api(nodes, [obj("etcd-cp-0", True), obj("etcd-cp-1", False)]))
    assert problems == ["etcd pod etcd-cp-1 not Ready", "2 etcd member pods for 3 control-plane nodes"]
    assert kube_control_plane_problems(api(nodes, []), etcd_pods=False) == []
    assert kube_control_plane_problems(api([obj("cp-0", False)], []), etcd_pods=False) == ["node cp-0 not Ready"]
    assert kube_control_plane_problems(api([], []), etcd_pods=False) == ["no control-plane node registered"]


def test_the_error_names_the_instance_phase_and_cause() -> None:
    err = ControlPlaneRollError("cp-a-1x2y", "failed", "kubeadm_join: etcd-address-mismatch: ...")
    assert str(err) == ("control plane cp-a-1x2y did not rejoin: phase failed; `kubegce diagnose` names the cause "
                        "(kubeadm_join: etcd-address-mismatch: ...)")  # fmt: skip
