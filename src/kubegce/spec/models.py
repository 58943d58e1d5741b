"""Cluster and InstanceGroup documents (apiVersion kubegce.io/v1alpha1).

Field names are camelCase in documents, as in kOps; Python attributes are snake_case.
Unknown fields are rejected (see :mod:`kubegce.spec.loader` for the user-facing messages).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from kubegce.defaults import DEFAULT_IMAGE, DEFAULT_NODE_MACHINE_TYPE
from kubegce.spec import releases

API_VERSION = "kubegce.io/v1alpha1"
CLUSTER_LABEL = "kubegce.io/cluster"
DEFAULT_KUBERNETES_VERSION = releases.DEFAULT_VERSION


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
    )


class Role(StrEnum):
    CONTROL_PLANE = "ControlPlane"
    NODE = "Node"


class BootChannel(StrEnum):
    AUTO = "auto"
    STARTUP_SCRIPT = "startup-script"
    USER_DATA = "user-data"
    BOTH = "both"


class UserDataPart(SpecModel):
    """One part of kOps-style additional user data."""

    name: str
    type: str = "text/x-shellscript"
    content: str


class BootstrapSpec(SpecModel):
    channel: BootChannel = BootChannel.AUTO
    install_cloud_init: bool = False
    additional_user_data: list[UserDataPart] = Field(default_factory=list)


class SubnetSpec(SpecModel):
    name: str
    region: str
    cidr: str


class NetworkingSpec(SpecModel):
    plugin: Literal["calico", "cilium", "none"] = "calico"  # none: bring your own pod network
    pod_cidr: str = Field("100.96.0.0/11", alias="podCIDR")
    service_cidr: str = Field("100.64.0.0/13", alias="serviceCIDR")


class AssetsSpec(SpecModel):
    """Where nodes download binaries and manifests. A mirror serves the upstream paths."""

    mirror: str | None = None
    # kOps's spec.assets.containerRegistry: where every Kubernetes image (kubeadm's imageRepository,
    # containerd's sandbox image) is pulled from instead of registry.k8s.io
    container_registry: str | None = None
    # sha256 of the pod network and cloud-controller-manager manifests; nodes refuse unpinned ones
    manifest_sha256: dict[str, str] = Field(default_factory=dict)


class EtcdBackupRetention(SpecModel):
    """Which backups the backup job keeps (kOps's spirit; src/kubegce/backups/retention.py):
    every backup younger than ``all``, the newest of each UTC hour younger than ``hourly``, the
    newest of each UTC day younger than ``daily``; the newest backup always. Durations: 90m, 24h,
    30d; 0 turns a tier off."""

    all: str = "1h"
    hourly: str = "168h"
    daily: str = "30d"


class EtcdBackupSpec(SpecModel):
    """Scheduled etcd snapshots into the cluster's part of the state store (docs/disaster-recovery.md)."""

    enabled: bool = True
    interval: str = "15m"  # as kOps's etcd-manager; at least 1m
    retention: EtcdBackupRetention = Field(default_factory=EtcdBackupRetention)


class EtcdSpec(SpecModel):
    backup: EtcdBackupSpec = Field(default_factory=EtcdBackupSpec)


# The StorageClasses kubegce creates for the GCE PD CSI driver (docs/storage.md), named as GKE's.
PD_CSI_PROVISIONER = "pd.csi.storage.gke.io"
DEFAULT_STORAGE_CLASS = "standard-rwo"  # pd-balanced; the cluster's default class unless renamed or ""
PREMIUM_STORAGE_CLASS = "premium-rwo"  # pd-ssd; never the default


class PDCSIDriverSpec(SpecModel):
    enabled: bool = True  # kOps's cloudConfig.gcpPDCSIDriver.enabled


class StorageSpec(SpecModel):
    """The GCE Persistent Disk CSI driver and kubegce's StorageClasses (docs/storage.md)."""

    pd_csi_driver: PDCSIDriverSpec = Field(default_factory=PDCSIDriverSpec, alias="pdCSIDriver")
    # the pd-balanced class annotated as the cluster's default; "" (null on input): none is created
    # (kept as "": documents are written without null values, which would bring the default back)
    default_storage_class: str = DEFAULT_STORAGE_CLASS

    @field_validator("default_storage_class", mode="before")
    @classmethod
    def _null_is_no_class(cls, value: object) -> object:
        return "" if value is None else value


class ObjectMeta(SpecModel):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class ClusterAutoscalerSpec(SpecModel):
    """The Kubernetes cluster autoscaler on the control plane (docs/autoscaling.md): opt-in; it
    scales each autoscaled group's zonal MIGs between their shares of minSize and maxSize.
    Durations as the autoscaler takes them (10m, 1h30m); the image follows the Kubernetes minor
    (spec/releases.py CLUSTER_AUTOSCALER) unless ``image`` pins one."""

    enabled: bool = False
    expander: str = "least-waste"
    scale_down_utilization_threshold: float = 0.5
    scale_down_delay_after_add: str = "10m"
    scale_down_unneeded_time: str = "10m"
    skip_nodes_with_local_storage: bool = True
    balance_similar_node_groups: bool = True  # one MIG per zone: keep the zones of a group even
    image: str | None = None


# GPU node groups (docs/gpus.md). The NVIDIA driver branch every GPU group gets unless
# spec.gpu.driverVersion says otherwise: R580, NVIDIA's long-term support branch, the newest that
# still drives the Pascal and Volta GPUs N1 types take (P4, P100, V100) and new enough for B200/GB200.
DEFAULT_GPU_DRIVER_BRANCH = "580"
GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"  # GKE's taint for GPU nodes; GPU pods need a toleration for it
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"  # what the device plugin's DaemonSet selects
GPU_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"  # GKE's: the GPU model, for nodeSelectors written for GKE
GPU_TOOLKIT_LABEL = "kubegce.io/nvidia-toolkit"  # packages | cdi: which device plugin DaemonSet runs there


class DevicePluginSpec(SpecModel):
    enabled: bool = True  # the NVIDIA device plugin DaemonSet (runs on GPU nodes only)


class GpuSpec(SpecModel):
    """The cluster's GPU settings; a group's spec.gpu overrides driverVersion and taint."""

    # "" means DEFAULT_GPU_DRIVER_BRANCH; a branch (580) or an exact version (580.95.05)
    driver_version: str = ""
    taint: bool = True  # GPU nodes register with nvidia.com/gpu=present:NoSchedule
    device_plugin: DevicePluginSpec = Field(default_factory=DevicePluginSpec)


class GroupGpuSpec(SpecModel):
    driver_version: str | None = None  # default: the cluster's spec.gpu.driverVersion
    taint: bool | None = None  # default: the cluster's spec.gpu.taint


class ClusterSpec(SpecModel):
    project: str
    zones: list[str]
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    network_cidr: str = Field("10.0.0.0/16", alias="networkCIDR")
    subnets: list[SubnetSpec] = Field(default_factory=list)
    networking: NetworkingSpec = Field(default_factory=NetworkingSpec)
    topology: Literal["public", "private"] = "public"
    ssh_access: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    kubernetes_api_access: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    cloud_labels: dict[str, str] = Field(default_factory=dict)
    service_account: str = "default"
    cloud_controller_manager: bool = False
    ssh_public_key: str | None = None
    assets: AssetsSpec = Field(default_factory=AssetsSpec)
    etcd: EtcdSpec = Field(default_factory=EtcdSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    cluster_autoscaler: ClusterAutoscalerSpec = Field(default_factory=ClusterAutoscalerSpec)
    gpu: GpuSpec = Field(default_factory=GpuSpec)


class Cluster(SpecModel):
    api_version: Literal["kubegce.io/v1alpha1"] = "kubegce.io/v1alpha1"
    kind: Literal["Cluster"] = "Cluster"
    metadata: ObjectMeta
    spec: ClusterSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class ProvisioningModel(StrEnum):
    """GCE's scheduling.provisioningModel: STANDARD, or SPOT (preemptible at any time, 30 s notice)."""

    STANDARD = "STANDARD"
    SPOT = "SPOT"


class GuestAccelerator(SpecModel):
    """GPUs attached to an N1 machine type (GCE's guestAccelerators; spec/gce_accelerators.py)."""

    type: str
    count: int = 1


# The label a Spot group's nodes carry (GKE's name, so workloads written for GKE select or avoid
# Spot nodes unchanged); the kubelet may set it (not a kubernetes.io key).
SPOT_NODE_LABEL = "cloud.google.com/gke-spot"


class InstanceGroupSpec(SpecModel):
    role: Role
    machine_type: str = DEFAULT_NODE_MACHINE_TYPE
    image: str = DEFAULT_IMAGE
    min_size: int = 1
    max_size: int = 1
    zones: list[str] = Field(default_factory=list)
    # zonal: one managed instance group per zone; regional: one regional MIG over the group's zones
    zone_distribution: Literal["zonal", "regional"] = "zonal"
    # kOps's autoscale: None (the default) autoscales a node group when the cluster autoscaler is
    # enabled and maxSize > minSize; false keeps the group at minSize; control planes never
    autoscale: bool | None = None
    root_volume_size: int = 50
    node_labels: dict[str, str] = Field(default_factory=dict)
    taints: list[str] = Field(default_factory=list)
    cloud_labels: dict[str, str] = Field(default_factory=dict)
    service_account: str | None = None  # default: the cluster's spec.serviceAccount
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    # Spot VMs (docs/spot.md): kOps's gcpProvisioningModel. instanceTerminationAction is what GCE
    # does on preemption (SPOT only; default DELETE: the MIG recreates the VM from its template).
    provisioning_model: ProvisioningModel = ProvisioningModel.STANDARD
    instance_termination_action: Literal["STOP", "DELETE"] | None = None
    # Spot control planes are refused (a zone's Spot capacity can go at once: etcd loses quorum);
    # this is the force, kept in the spec so every later command honours it.
    allow_spot_control_plane: bool = False
    # GPUs for an N1 machine type; accelerator-optimized types (a2/a3/a4/g2 ...) come with theirs
    guest_accelerators: list[GuestAccelerator] = Field(default_factory=list)
    gpu: GroupGpuSpec | None = None  # the group's driver version and taint (docs/gpus.md)


class InstanceGroup(SpecModel):
    api_version: Literal["kubegce.io/v1alpha1"] = "kubegce.io/v1alpha1"
    kind: Literal["InstanceGroup"] = "InstanceGroup"
    metadata: ObjectMeta
    spec: InstanceGroupSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class ClusterBundle(SpecModel):
    """A cluster with its instance groups: the unit every command works on."""

    cluster: Cluster
    instance_groups: list[InstanceGroup]

    def group(self, name: str) -> InstanceGroup | None:
        return next((g for g in self.instance_groups if g.name == name), None)
