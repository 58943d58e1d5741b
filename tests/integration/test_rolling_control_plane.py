"""Control planes replaced one at a time against the emulator keep their etcd disk, name and IP;
without the stateful policy the IP changes and the recreated member refuses its etcd data."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kubegce import service
from kubegce.boot import protocol
from kubegce.cloud.model import ETCD_DEVICE_NAME
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.service.rolling_control_plane import ControlPlaneRollError, roll_control_plane_group
from tests.conftest import make_bundle
from tests.integration.test_apply import CATALOG, target_for

pytestmark = pytest.mark.integration
ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def control_plane_migs(emu: RunningEmulator) -> list[tuple[str, str]]:
    with emu.state.lock:
        return sorted((k[1].split("/")[1], k[3]) for k, r in emu.state.resources.items()
                      if k[2] == "instanceGroupManagers" and "statefulPolicy" in r)  # fmt: skip


def members(emu: RunningEmulator, mig: str) -> list[dict[str, Any]]:
    with emu.state.lock:
        return [dict(r) for r in emu.state.resources.values() if str(r.get("_mig", "")).endswith(f"/{mig}")]


def identity(instance: dict[str, Any]) -> tuple[str, str, str, str]:
    """(name, id, internal IP, etcd disk)"""
    etcd = next(d["source"] for d in instance["disks"] if d["deviceName"] == ETCD_DEVICE_NAME)
    return instance["name"], instance["id"], instance["networkInterfaces"][0]["networkIP"], etcd


def boot_disk(instance: dict[str, Any]) -> str:
    return str(next(d["source"] for d in instance["disks"] if d["boot"]))


@pytest.fixture
def cluster() -> Any:
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=0.6) as emu:
        target = target_for(emu)
        bundle = make_bundle(zones=ZONES, control_plane_count=3)
        cp = service.plan(bundle, CATALOG, target=target)
        assert all(r.ok for r in service.apply(target, cp))
        yield emu, target


def test_control_planes_replaced_one_at_a_time_keep_disk_name_and_ip(cluster: Any) -> None:
    emu, target = cluster
    migs = control_plane_migs(emu)
    assert len(migs) == 3
    before = {zone: members(emu, mig)[0] for zone, mig in migs}
    names = {mig for _, mig in migs}
    # sample the groups while rolling: never more than one control plane down at a time
    down_max = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal down_max
        while not stop.is_set():
            with emu.state.lock:
                cps = [r for r in emu.state.resources.values() if str(r.get("_mig", "")).rsplit("/", 1)[-1] in names]
                down = sum(1 for r in cps if emu.state.boot.status(r) != "RUNNING" or emu.state.boot.elapsed(r) < 0.6)
            down_max = max(down_max, down)
            stop.wait(0.02)

    time.sleep(0.7)  # the first boots end
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for zone, mig in migs:
            done = roll_control_plane_group(target.clients, "my-proj", zone, mig, poll_s=0.05, timeout_s=30)
            assert [r.name for r in done] == [before[zone]["name"]]
            assert done[0].address == before[zone]["networkInterfaces"][0]["networkIP"]
    finally:
        stop.set()
        sampler.join()
    assert down_max == 1
    for zone, mig in migs:
        (after,) = members(emu, mig)
        old = before[zone]
        name, old_id, ip, disk = identity(old)
        assert identity(after) == (name, after["id"], ip, disk) and after["id"] != old_id
        assert boot_disk(after) == boot_disk(old)  # same name, but a fresh disk:
        with emu.state.lock:
            etcd_disk = next(r for k, r in emu.state.resources.items() if k[2] == "disks" and r["selfLink"] == disk)
            assert etcd_disk["_etcd"]["advertiseAddress"] == ip
        assert after["_etcd"]["state"] == "restore"


def test_without_the_policy_the_ip_changes_and_the_member_refuses(cluster: Any) -> None:
    emu, target = cluster
    zone, mig = control_plane_migs(emu)[0]
    with emu.state.lock:  # a group made before control planes were stateful
        res = next(r for k, r in emu.state.resources.items() if k[2] == "instanceGroupManagers" and k[3] == mig)
        res["statefulPolicy"] = {"preservedState": {"disks": {ETCD_DEVICE_NAME: {"autoDelete": "NEVER"}}}}
    (old,) = members(emu, mig)
    with pytest.raises(ControlPlaneRollError) as err:
        roll_control_plane_group(target.clients, "my-proj", zone, mig, poll_s=0.05, timeout_s=30)
    (after,) = members(emu, mig)
    assert after["networkInterfaces"][0]["networkIP"] != old["networkInterfaces"][0]["networkIP"]
    assert err.value.phase == protocol.FAILED
    assert protocol.ETCD_ADDRESS_MISMATCH in err.value.error
    assert old["networkInterfaces"][0]["networkIP"] in err.value.error
    assert "diagnose" in str(err.value)


def test_existing_group_becomes_stateful_in_place(cluster: Any) -> None:
    emu, target = cluster
    zone, mig = control_plane_migs(emu)[0]
    with emu.state.lock:
        res = next(r for k, r in emu.state.resources.items() if k[2] == "instanceGroupManagers" and k[3] == mig)
        del res["statefulPolicy"]
    bundle = make_bundle(zones=ZONES, control_plane_count=3)
    cp = service.plan(bundle, CATALOG, target=target)
    changes = [(c.action, c.key.name, [f.path for f in c.fields]) for c in cp.diff.changes]
    assert changes == [("update", mig, ["statefulPolicy"])]
    assert all(r.ok for r in service.apply(target, cp))
    assert service.plan(bundle, CATALOG, target=target).diff.empty


def test_a_rerun_waits_for_the_instance_mid_recreation_and_never_recreates_it_twice(cluster: Any) -> None:
    emu, target = cluster
    zone, mig = control_plane_migs(emu)[0]
    time.sleep(0.7)
    (old,) = members(emu, mig)
    c = target.clients.compute
    body = c.InstanceGroupManagersRecreateInstancesRequest(
        instances=[f"projects/my-proj/zones/{zone}/instances/{old['name']}"]
    )
    target.clients.instance_group_managers.recreate_instances_unary(  # the run killed right after this call
        project="my-proj", zone=zone, instance_group_manager=mig,
        instance_group_managers_recreate_instances_request_resource=body)  # fmt: skip
    done = roll_control_plane_group(target.clients, "my-proj", zone, mig, instances=[old["name"]],
                                    poll_s=0.05, timeout_s=30)  # fmt: skip
    assert done == []
    with emu.state.lock:
        assert emu.state.calls.counts["instanceGroupManagers.recreateInstances"] == 1
    (after,) = members(emu, mig)
    assert identity(after)[2:] == identity(old)[2:] and after["id"] != old["id"]
    assert emu.state.boot.elapsed(after) > 0.6  # it was waited for until it joined


def test_health_through_the_emulators_kubernetes_api(tmp_path: Any) -> None:
    from kubegce.emulator.kube import KubeApiServer, KubeState
    from kubegce.kube.client import KubeClient
    from kubegce.service.rolling_control_plane import kube_control_plane_problems, kube_get_for

    state = KubeState()
    server = KubeApiServer(state).start()
    client = KubeClient.from_url(server.url)
    try:
        get = kube_get_for(client)
        assert kube_control_plane_problems(get) == ["no control-plane node registered"]
        for name in ("cp-a-1x2y", "cp-b-3z4w"):
            state.node_joined(name, {"node-role.kubernetes.io/control-plane": ""})
            state.start_static_pods(name)
        state.node_joined("nodes-a-5v6u", {})
        assert kube_control_plane_problems(get) == []
        state.set_node_ready("cp-b-3z4w", False)  # its static pods are not Ready with it
        assert kube_control_plane_problems(get) == ["node cp-b-3z4w not Ready", "etcd pod etcd-cp-b-3z4w not Ready",
                                                    "kube-apiserver pod kube-apiserver-cp-b-3z4w not Ready"]  # fmt: skip
        state.set_node_ready("cp-b-3z4w", True)
        state.set_pod_ready("kube-system", "etcd-cp-a-1x2y", False)
        assert kube_control_plane_problems(get) == ["etcd pod etcd-cp-a-1x2y not Ready"]
        state.stop_static_pods("cp-a-1x2y")
        assert kube_control_plane_problems(get) == ["no etcd pod on control-plane node cp-a-1x2y",
                                                    "no kube-apiserver pod on control-plane node cp-a-1x2y"]  # fmt: skip
    finally:
        client.close()
        server.stop()


@pytest.fixture
def kube_cluster() -> Any:
    """One control plane and its node group, with the simulated cluster's Kubernetes API; the
    control plane's machine type changed (its instance is stale)."""
    from kubegce.kube.client import KubeClient

    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.5, kube=True) as emu:
        assert emu.cluster is not None
        target = target_for(emu)
        bundle = make_bundle(zones=ZONES[:1], control_plane_count=1)
        assert all(r.ok for r in service.apply(target, service.plan(bundle, CATALOG, target=target)))
        deadline = time.monotonic() + 10
        while not any(n.startswith("control-plane") for n in emu.cluster.kube.snapshot().nodes):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cp_group = next(g for g in bundle.instance_groups if g.name == "control-plane")
        cp_group.spec.machine_type = "e2-standard-4"
        assert all(r.ok for r in service.apply(target, service.plan(bundle, CATALOG, target=target)))
        client = KubeClient.from_url(emu.cluster.url)
        try:
            yield emu, target, bundle, client
        finally:
            client.close()


def recreations(emu: RunningEmulator) -> int:
    with emu.state.lock:
        return emu.state.calls.counts.get("instanceGroupManagers.recreateInstances", 0)


def test_the_roll_waits_for_the_etcd_pod_and_stops_when_it_stays_unready(kube_cluster: Any) -> None:
    """The emulator's API serves kubeadm's static pods: an etcd pod that is not Ready holds the
    control-plane roll (nothing is recreated) and, past --validation-timeout, stops it saying so."""
    from kubegce.service import rolling
    from kubegce.service.rolling_control_plane import ControlPlaneUnhealthy

    emu, target, bundle, client = kube_cluster
    kube = emu.cluster.kube
    (cp,) = [n for n in kube.snapshot().nodes if n.startswith("control-plane")]
    pods = {p.name: p for p in kube.snapshot().pods if p.namespace == "kube-system"}
    assert pods[f"etcd-{cp}"].ready and pods[f"kube-apiserver-{cp}"].ready and pods[f"etcd-{cp}"].node == cp
    kube.set_pod_ready("kube-system", f"etcd-{cp}", False)
    groups = rolling.select_groups(bundle, ["control-plane"])
    settings = rolling.Settings(validation_timeout_s=1.0, poll_s=0.1)
    with pytest.raises(ControlPlaneUnhealthy) as err:
        rolling.rolling_update(rolling.Roller(target, bundle, kube=client, settings=settings), groups)
    assert str(err.value).startswith(
        f"the control plane (MIG a-control-plane-demo-example-com) was not healthy before recreating {cp} within 1s "
        f"(--validation-timeout): etcd pod etcd-{cp} not Ready."
    )
    assert f"`kubegce validate cluster {bundle.cluster.name}`" in str(err.value)
    assert recreations(emu) == 0

    # Ready again a second into the next roll: the roll waited for it, then recreated the member;
    # meanwhile the recreated node was NotReady in Kubernetes and came back with new static pods.
    settings = rolling.Settings(validation_timeout_s=20.0, poll_s=0.1)
    seen_not_ready = threading.Event()
    done: dict[str, int] = {}
    roll = threading.Thread(target=lambda: done.update(rolling.rolling_update(
        rolling.Roller(target, bundle, kube=client, settings=settings), groups)))  # fmt: skip
    roll.start()
    time.sleep(1.0)
    assert recreations(emu) == 0
    kube.set_pod_ready("kube-system", f"etcd-{cp}", True)
    while roll.is_alive():
        node = kube.snapshot().nodes.get(cp)
        if node is not None and not node.ready:
            seen_not_ready.set()
        time.sleep(0.02)
    roll.join()
    assert done == {"control-plane": 1} and recreations(emu) == 1
    assert seen_not_ready.is_set()
    after = {p.name: p for p in kube.snapshot().pods if p.namespace == "kube-system"}
    assert after[f"etcd-{cp}"].ready and after[f"kube-apiserver-{cp}"].ready


def test_a_forced_roll_killed_after_a_control_plane_was_replaced_does_not_replace_it_again(cluster: Any) -> None:
    """Issue 25 item 5: --force replaces members whatever their template, and a recreated control
    plane keeps its name, so the roll records each member's instance id before recreating it; the
    rerun of a killed roll skips a member whose recorded instance is gone."""
    emu, target = cluster
    zone, mig = control_plane_migs(emu)[0]
    time.sleep(0.7)
    (old,) = members(emu, mig)
    recorded: dict[str, str] = {}

    def record(name: str, instance_id: str) -> None:
        recorded[name] = instance_id

    first = roll_control_plane_group(target.clients, "my-proj", zone, mig, instances=[old["name"]], poll_s=0.05,
                                     timeout_s=30, replaced=recorded, record=record)  # fmt: skip
    assert [r.name for r in first] == [old["name"]] and recorded == {old["name"]: old["id"]}
    # the run is killed here, before it clears its marker; the rerun reads the same marker
    again = roll_control_plane_group(target.clients, "my-proj", zone, mig, instances=[old["name"]], poll_s=0.05,
                                     timeout_s=30, replaced=dict(recorded), record=record)  # fmt: skip
    assert again == []
    with emu.state.lock:
        assert emu.state.calls.counts["instanceGroupManagers.recreateInstances"] == 1
    # killed after recording but before the recreate call: the member still has the recorded id
    (now,) = members(emu, mig)
    redo = roll_control_plane_group(target.clients, "my-proj", zone, mig, instances=[now["name"]], poll_s=0.05,
                                    timeout_s=30, replaced={now["name"]: now["id"]}, record=record)  # fmt: skip
    assert [r.name for r in redo] == [now["name"]]


def test_the_roller_keeps_replaced_control_planes_in_the_force_marker(tmp_path: Any) -> None:
    from kubegce.service.rolling import Roller, Settings
    from kubegce.state.layout import rolling_marker_key
    from kubegce.state.store import open_store

    store = open_store(f"file://{tmp_path}/state")
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.1) as emu:
        bundle = make_bundle(zones=ZONES[:1])
        roller = Roller(target_for(emu), bundle, store=store, settings=Settings(force=True))
        roller.load_force_marker([])
        roller.record_replacing("cp-a", "123")
        again = Roller(target_for(emu), bundle, store=store, settings=Settings(force=True))
        again.load_force_marker([])
    assert again.replaced == {"cp-a": "123"}
    assert store.read(rolling_marker_key(bundle.cluster.name)) is not None


def test_two_rolls_at_once_the_second_is_refused_before_it_changes_anything(cluster: Any, tmp_path: Any) -> None:
    """Issue 25 item 4: a roll holds the cluster's lease; a second roll (or an apply) of the same
    cluster says who holds it and touches nothing."""
    from kubegce.service.rolling import Roller, Settings, rolling_update
    from kubegce.state.lease import LeaseHeld, cluster_lease
    from kubegce.state.store import open_store

    emu, target = cluster
    store = open_store(f"file://{tmp_path}/state")
    bundle = make_bundle(zones=ZONES, control_plane_count=3)
    with cluster_lease(store, bundle.cluster.name, "rolling-update"):
        roller = Roller(target, bundle, store=store, settings=Settings(force=True, poll_s=0.05))
        with pytest.raises(LeaseHeld, match="rolling-update by .* pid"):
            rolling_update(roller, list(bundle.instance_groups))
        cp = service.plan(bundle, CATALOG, target=target)
        with pytest.raises(LeaseHeld):
            service.apply(target, cp, repo=service_repo(store))
    with emu.state.lock:
        assert emu.state.calls.counts.get("instanceGroupManagers.recreateInstances", 0) == 0
        assert emu.state.calls.counts.get("instanceGroupManagers.deleteInstances", 0) == 0
    assert store.read(f"{bundle.cluster.name}/rolling-update/force.json") is None  # nothing written


def service_repo(store: Any) -> Any:
    from kubegce.state.clusters import ClusterRepository

    return ClusterRepository(store)
