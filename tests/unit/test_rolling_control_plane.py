"""The control-plane health the roll waits for, read from a Kubernetes API's answers."""

from __future__ import annotations

from typing import Any

from kubegce.service.rolling_control_plane import ControlPlaneRollError, kube_control_plane_problems


def obj(name: str, ready: bool, node: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"nodeName": node},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}  # fmt: skip


def api(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> Any:
    def get(path: str) -> dict[str, Any]:
        if path.startswith("/api/v1/nodes?labelSelector=node-role.kubernetes.io/control-plane"):
            return {"items": nodes}
        prefix = "/api/v1/namespaces/kube-system/pods?labelSelector=component%3D"
        assert path.startswith(prefix), path
        component = path.removeprefix(prefix)
        return {"items": [p for p in pods if p["metadata"]["name"].startswith(component + "-cp")]}

    return get


def static_pods(i: int, etcd_ready: bool = True) -> list[dict[str, Any]]:
    return [obj(f"etcd-cp-{i}", etcd_ready, f"cp-{i}"), obj(f"kube-apiserver-cp-{i}", True, f"cp-{i}")]


def test_healthy_when_every_control_plane_and_its_static_pods_are_ready() -> None:
    nodes = [obj(f"cp-{i}", True) for i in range(3)]
    assert kube_control_plane_problems(api(nodes, [p for i in range(3) for p in static_pods(i)])) == []


def test_a_missing_or_unready_etcd_member_is_a_problem() -> None:
    nodes = [obj(f"cp-{i}", True) for i in range(3)]
    problems = kube_control_plane_problems(api(nodes, static_pods(0) + static_pods(1, etcd_ready=False)))
    assert problems == [
        "etcd pod etcd-cp-1 not Ready",
        "no etcd pod on control-plane node cp-2",
        "no kube-apiserver pod on control-plane node cp-2",
    ]
    assert kube_control_plane_problems(api([obj("cp-0", False)], static_pods(0))) == ["node cp-0 not Ready"]
    assert kube_control_plane_problems(api([], [])) == ["no control-plane node registered"]


def test_the_error_names_the_instance_phase_and_cause() -> None:
    err = ControlPlaneRollError("cp-a-1x2y", "failed", "kubeadm_join: etcd-address-mismatch: ...")
    assert str(err) == ("control plane cp-a-1x2y did not rejoin: phase failed; `kubegce diagnose` names the cause "
                        "(kubeadm_join: etcd-address-mismatch: ...)")  # fmt: skip
