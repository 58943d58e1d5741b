"""The GCE PD CSI driver against the emulator (docs/storage.md): a cluster created with the defaults
(no mirror, no pin: kubegce renders the driver itself) gets kubegce's StorageClasses, and a claim made with the
`kubernetes` client binds once a worker node runs; with the driver opted out a claim stays Pending."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kubegce import service
from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator
from kubegce.images.catalog import Catalog
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import FileStateStore

pytestmark = pytest.mark.integration
NAME = "storage.example.com"
CATALOG = Catalog.load()
KUBECONFIG: Any = config  # (the client's config module has no types)


def claim(name: str, storage_class: str | None = None) -> client.V1PersistentVolumeClaim:
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], storage_class_name=storage_class,
            resources=client.V1VolumeResourceRequirements(requests={"storage": "10Gi"}),
        ),
    )  # fmt: skip


@pytest.mark.parametrize("driver", [True, False], ids=["driver", "opted-out"])
def test_a_claim_binds_only_with_the_driver(state: str, tmp_path: Path, driver: bool) -> None:
    with RunningEmulator(0, FaultConfig(operation_ms=0), boot_seconds=0.4, kube=True) as emu:
        assert emu.cluster is not None
        repo = ClusterRepository(FileStateStore(Path(state.removeprefix("file://"))))
        bundle = bundle_from_options(CreateClusterOptions(name=NAME, project="my-proj", zones=["us-central1-a"]))
        s = bundle.cluster.spec
        s.assets.manifest_sha256 = {"calico": "a" * 64}
        s.storage.pd_csi_driver.enabled = driver
        repo.create(bundle)
        target = service.connect(emu.endpoint, "my-proj", NAME)
        assert all(r.ok for r in service.apply(target, service.plan(repo.get(NAME).bundle, CATALOG, target=target)))
        api: Any = client.CoreV1Api(
            KUBECONFIG.new_client_from_config(str(emu.cluster.write_kubeconfig(tmp_path / "kc")))
        )
        storage: Any = client.StorageV1Api(api.api_client)

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(emu.cluster.kube.snapshot().nodes) < 2:
            time.sleep(0.1)  # the control plane and the worker joined
        time.sleep(0.3)  # a sync after the last join
        classes = {c.metadata.name: c for c in storage.list_storage_class().items}
        made = api.create_namespaced_persistent_volume_claim("default", claim("data"))
        ssd = api.create_namespaced_persistent_volume_claim("default", claim("fast", "premium-rwo"))
        if not driver:
            assert classes == {} and storage.list_csi_driver().items == []
            assert made.status.phase == "Pending" and made.spec.storage_class_name is None
            time.sleep(0.3)
            assert api.read_namespaced_persistent_volume_claim("data", "default").status.phase == "Pending"
            assert api.read_namespaced_persistent_volume_claim("fast", "default").status.phase == "Pending"
            assert api.list_persistent_volume().items == []
            return
        assert set(classes) == {"standard-rwo", "premium-rwo"}
        std = classes["standard-rwo"]
        assert std.provisioner == "pd.csi.storage.gke.io" and std.parameters == {"type": "pd-balanced"}
        assert std.volume_binding_mode == "WaitForFirstConsumer" and std.allow_volume_expansion is True
        assert std.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
        assert [d.metadata.name for d in storage.list_csi_driver().items] == ["pd.csi.storage.gke.io"]
        assert made.spec.storage_class_name == "standard-rwo"  # the default class, given at creation
        for pvc in (made, ssd):
            got = api.read_namespaced_persistent_volume_claim(pvc.metadata.name, "default")
            assert got.status.phase == "Bound" and got.status.capacity == {"storage": "10Gi"}
            worker = got.metadata.annotations["volume.kubernetes.io/selected-node"]
            assert "nodes" in worker  # the first consumer's node: a worker, not the control plane
            pv = api.read_persistent_volume(got.spec.volume_name)
            assert pv.spec.claim_ref.name == pvc.metadata.name and pv.spec.csi.driver == "pd.csi.storage.gke.io"
            assert pv.spec.csi.volume_handle.endswith(f"/zones/us-central1-a/disks/{got.spec.volume_name}")
            assert pv.spec.storage_class_name == pvc.spec.storage_class_name or pvc is made
        api.delete_namespaced_persistent_volume_claim("data", "default")
        assert len(api.list_persistent_volume().items) == 1  # reclaimPolicy Delete: its volume went with it
