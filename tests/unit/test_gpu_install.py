"""GPU node groups, the node side (issue 24): the driver install chosen from each image's GPU profile
(catalog data, every catalog image), spec.gpu's driver version and taint and what is refused, the
labels and taint kubeadm registers, containerd's nvidia runtime or CDI, the device plugin, and a
driver version change reaching the group's template (so `rolling-update` rolls it)."""

from __future__ import annotations

import base64
import shlex
import subprocess
import tomllib

import pytest
import yaml

from kubegce.boot.gpu import (
    device_plugin_objects,
    device_plugin_settings,
    gpu_settings,
    version_warnings,
)
from kubegce.boot.kubeadm import kubelet_args, registration_taints
from kubegce.boot.plans import render_cluster_boot
from kubegce.boot.render import template
from kubegce.boot.versions import components
from kubegce.errors import SpecError
from kubegce.images.catalog import Catalog
from kubegce.images.gpu_profiles import gpu_profile, gpu_profiles
from kubegce.spec import releases
from kubegce.spec.models import (
    GPU_TAINT,
    GPU_TOOLKIT_LABEL,
    ClusterBundle,
    GroupGpuSpec,
    GuestAccelerator,
    InstanceGroup,
    Role,
)
from kubegce.spec.validate import validate_bundle
from tests.conftest import make_bundle

UBUNTU = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
DEBIAN = "debian-cloud/debian-12"
ROCKY = "rocky-linux-cloud/rocky-linux-9"
COS = "cos-cloud/cos-stable"


def gpu_bundle(image: str = ROCKY, machine_type: str = "g2-standard-8", model: str = "") -> ClusterBundle:
    b = make_bundle(image)
    n = nodes(b)
    n.spec.machine_type = machine_type
    if model:
        n.spec.guest_accelerators = [GuestAccelerator(type=model, count=1)]
    return b


def nodes(b: ClusterBundle) -> InstanceGroup:
    return next(g for g in b.instance_groups if g.spec.role == Role.NODE)


def settings(b: ClusterBundle) -> dict[str, str | int | list[str]]:
    image = Catalog.load().resolve(nodes(b).spec.image)
    return dict(gpu_settings(b, nodes(b), image.profile))


def node_config(b: ClusterBundle) -> str:
    boot = render_cluster_boot(b, Catalog.load())
    return next(g for g in boot.groups if g.group.spec.role == Role.NODE).payload.node_config.text


# ---------------------------------------------------------------- the per-image choice
def test_every_catalog_image_gets_its_profiles_install_or_a_refusal() -> None:
    """Property over the catalog: each image's group renders its profile's method and packages with
    the version in place, or is refused before anything is rendered."""
    catalog = Catalog.load()
    for p in catalog.profiles:
        ref = f"{p.project}/{p.families[0]}" if p.families else ""
        if not ref or "arm64" in ref:
            continue
        b = gpu_bundle(ref)
        g = gpu_profile(p)
        assert g is not None
        if not g.supported:
            with pytest.raises(SpecError, match="takes no GPUs here"):
                render_cluster_boot(b, catalog)
            continue
        s = dict(gpu_settings(b, nodes(b), p))
        assert s["KUBEGCE_GPU"] == 1 and s["KUBEGCE_GPU_METHOD"] == g.method, ref
        assert s["KUBEGCE_GPU_SECURE_BOOT_OK"] == (1 if g.secure_boot else 0)
        packages = s["KUBEGCE_GPU_DRIVER_PACKAGES"]
        assert isinstance(packages, list) and packages, ref
        assert not any("{" in w for w in packages), packages  # every placeholder of ours filled
        assert s["KUBEGCE_GPU_TOOLKIT"] == g.toolkit


def test_each_profile_installs_its_own_way() -> None:
    assert settings(gpu_bundle(UBUNTU))["KUBEGCE_GPU_DRIVER_PACKAGES"] == [
        "nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server",
        "linux-modules-nvidia-580-server-open-@KERNEL@",  # the running kernel's modules
        "linux-modules-nvidia-580-server-open-@FLAVOUR@"]  # and the next kernels' (a kernel update)  # fmt: skip
    d = settings(gpu_bundle(DEBIAN))
    assert d["KUBEGCE_GPU_REPOS"] == ["+contrib", "+non-free", "+non-free-firmware"]
    assert d["KUBEGCE_GPU_HEADER_PACKAGES"] == ["linux-headers-@KERNEL@", "linux-headers-@FLAVOUR@"]
    assert d["KUBEGCE_GPU_DRIVER_VERSION"] == ""
    r = settings(gpu_bundle(ROCKY))
    assert r["KUBEGCE_GPU_METHOD"] == "dnf-nvidia" and r["KUBEGCE_GPU_DRIVER_PACKAGES"] == ["nvidia-open-580*"]
    assert r["KUBEGCE_GPU_LOCK"] == "*nvidia*580*" and "kernel-devel-@KERNEL@" in str(r["KUBEGCE_GPU_HEADER_PACKAGES"])
    c = settings(gpu_bundle(COS))
    assert c["KUBEGCE_GPU_DRIVER_PACKAGES"] == ["-version=R580"] and c["KUBEGCE_GPU_TOOLKIT"] == "cdi"
    assert c["KUBEGCE_GPU_DRIVER_ROOT"] == "/var/lib/nvidia"


def test_pascal_and_volta_take_the_proprietary_modules() -> None:
    b = gpu_bundle(UBUNTU, "n1-standard-8", "nvidia-tesla-v100")
    s = settings(b)
    assert s["KUBEGCE_GPU_MODULES"] == "proprietary"
    assert "nvidia-headless-no-dkms-580-server" in list(s["KUBEGCE_GPU_DRIVER_PACKAGES"])  # type: ignore[arg-type]
    assert settings(gpu_bundle(ROCKY, "n1-standard-8", "nvidia-tesla-p4"))["KUBEGCE_GPU_DRIVER_PACKAGES"] == [
        "cuda-drivers-580*"
    ]
    assert settings(gpu_bundle(ROCKY, "n1-standard-8", "nvidia-tesla-t4"))["KUBEGCE_GPU_MODULES"] == "open"


def test_an_exact_driver_version_where_the_image_allows_it() -> None:
    b = gpu_bundle(ROCKY)
    b.cluster.spec.gpu.driver_version = "580.95.05"
    s = settings(b)
    assert (
        s["KUBEGCE_GPU_DRIVER_PACKAGES"] == ["nvidia-open-580.95.05*"] and s["KUBEGCE_GPU_LOCK"] == "*nvidia*580.95.05*"
    )
    c = gpu_bundle(COS)
    c.cluster.spec.gpu.driver_version = "580.95.05"
    assert settings(c)["KUBEGCE_GPU_DRIVER_PACKAGES"] == ["-version=580.95.05"]
    u = gpu_bundle(UBUNTU)
    u.cluster.spec.gpu.driver_version = "580.95.05"
    image = Catalog.load().resolve(UBUNTU).profile
    assert settings(u)["KUBEGCE_GPU_DRIVER_VERSION"] == "580"  # Ubuntu pins the branch
    assert "pins the branch only" in version_warnings(u, nodes(u), image)[0]
    d = gpu_bundle(DEBIAN)
    nodes(d).spec.gpu = GroupGpuSpec(driver_version="570")
    assert "is not used" in version_warnings(d, nodes(d), Catalog.load().resolve(DEBIAN).profile)[0]
    boot = render_cluster_boot(d, Catalog.load())
    assert any("driverVersion 570 is not used on" in w for w in boot.warnings), boot.warnings


def test_a_group_without_gpus_gets_none_of_it() -> None:
    b = make_bundle()
    assert settings(b) == {"KUBEGCE_GPU": 0}
    assert "nvidia" not in str(kubelet_args(b, nodes(b))) and registration_taints(b, nodes(b)) == []


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("version", ["58", "580.95.05.1", "latest", "580\nrm -rf /", "${IFS}580", "580 ", "R580"])
def test_a_malformed_driver_version_is_refused_naming_the_field(version: str) -> None:
    b = gpu_bundle()
    b.cluster.spec.gpu.driver_version = version
    problems = validate_bundle(b)
    assert len(problems) == 1 and problems[0].startswith("spec.gpu.driverVersion:"), problems
    assert "\n" not in problems[0]  # shown quoted, escaped
    nodes(b).spec.gpu = GroupGpuSpec(driver_version=version)
    b.cluster.spec.gpu.driver_version = ""
    (problem,) = validate_bundle(b)
    assert problem.startswith("instancegroup nodes: spec.gpu.driverVersion:")


@pytest.mark.parametrize(("machine_type", "model", "version", "why"), [
    ("a4-highgpu-8g", "", "550", "needs driver branch 570"),
    ("n1-standard-8", "nvidia-tesla-v100", "590", "last one that drives it"),
    ("g2-standard-8", "", "470", "needs driver branch 525"),
])  # fmt: skip
def test_a_branch_the_gpu_cannot_run_is_refused(machine_type: str, model: str, version: str, why: str) -> None:
    b = gpu_bundle(ROCKY, machine_type, model)
    b.cluster.spec.gpu.driver_version = version
    (problem,) = validate_bundle(b)
    assert why in problem and "spec.gpu.driverVersion" in problem


def test_gpu_settings_on_a_group_without_gpus_and_our_labels_are_refused() -> None:
    b = make_bundle()
    nodes(b).spec.gpu = GroupGpuSpec(taint=False)
    nodes(b).spec.node_labels = {"nvidia.com/gpu.present": "true"}
    problems = validate_bundle(b)
    assert any("spec.gpu: the group has no GPUs" in p for p in problems)
    assert any("spec.nodeLabels.nvidia.com/gpu.present: kubegce sets it" in p for p in problems)


# ---------------------------------------------------------------- labels, taint
def test_gpu_nodes_register_with_labels_and_the_taint_and_it_can_be_turned_off() -> None:
    b = gpu_bundle(COS)
    text = node_config(b)
    kubeadm = next(line for line in text.splitlines() if line.startswith("KUBEGCE_KUBEADM_CONFIG_B64="))
    docs = list(yaml.safe_load_all(base64.b64decode(shlex.split(kubeadm.split("=", 1)[1])[0])))
    reg = docs[-1]["nodeRegistration"]
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in reg["taints"]
    labels = next(a["value"] for a in reg["kubeletExtraArgs"] if a["name"] == "node-labels")
    assert "nvidia.com/gpu.present=true" in labels and "cloud.google.com/gke-accelerator=nvidia-l4" in labels
    assert f"{GPU_TOOLKIT_LABEL}=cdi" in labels
    b.cluster.spec.gpu.taint = False
    assert registration_taints(b, nodes(b)) == []
    nodes(b).spec.gpu = GroupGpuSpec(taint=True)
    assert registration_taints(b, nodes(b)) == [GPU_TAINT]
    nodes(b).spec.taints = ["nvidia.com/gpu=mine:NoExecute"]  # the user's own taint of that key wins
    assert registration_taints(b, nodes(b)) == ["nvidia.com/gpu=mine:NoExecute"]


def test_a_gpu_control_plane_keeps_kubeadms_taint() -> None:
    b = make_bundle()
    cp = next(g for g in b.instance_groups if g.spec.role == Role.CONTROL_PLANE)
    cp.spec.machine_type = "g2-standard-8"
    assert registration_taints(b, cp) == ["node-role.kubernetes.io/control-plane:NoSchedule", GPU_TAINT]


# ---------------------------------------------------------------- containerd
def _containerd(version: str, toolkit: str) -> dict[str, object]:
    parts = components(version)
    env = {"KUBEGCE_CONTAINERD_CONFIG_VERSION": str(parts.containerd_config_version),
           "KUBEGCE_SANDBOX_IMAGE": parts.pause_image, "KUBEGCE_BIN_DIR": "/usr/local/bin",
           "KUBEGCE_CNI_BIN_DIR": "/opt/cni/bin", "PATH": "/usr/bin:/bin", "KUBEGCE_GPU": "1",
           "KUBEGCE_GPU_TOOLKIT": toolkit, "KUBEGCE_GPU_RUNTIME": "/usr/bin/nvidia-container-runtime"}  # fmt: skip
    res = subprocess.run(["bash", "-c", template("lib/binaries.sh") + "\ncontainerd_config"], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return tomllib.loads(res.stdout)


@pytest.mark.parametrize("version", sorted({m.latest for m in releases.MINORS}))
def test_containerd_runs_the_nvidia_runtime_by_default_or_cdi(version: str) -> None:
    cfg = _containerd(version, "packages")
    cri_name = "io.containerd.cri.v1.runtime" if cfg["version"] == 3 else "io.containerd.grpc.v1.cri"
    cri = cfg["plugins"][cri_name]  # type: ignore[index]
    assert cri["containerd"]["default_runtime_name"] == "nvidia"
    nvidia = cri["containerd"]["runtimes"]["nvidia"]
    assert nvidia["runtime_type"] == "io.containerd.runc.v2"
    assert nvidia["options"] == {"SystemdCgroup": True, "BinaryName": "/usr/bin/nvidia-container-runtime"}
    assert cri["containerd"]["runtimes"]["runc"]["options"]["BinaryName"] == "/usr/local/bin/runc"
    cdi = _containerd(version, "cdi")["plugins"][cri_name]  # type: ignore[index]
    assert cdi["enable_cdi"] is True and "/var/run/cdi" in cdi["cdi_spec_dirs"]
    assert "default_runtime_name" not in cdi["containerd"]


# ---------------------------------------------------------------- the device plugin
def test_the_device_plugin_runs_per_toolkit_on_gpu_nodes_only() -> None:
    b = gpu_bundle()
    objs = device_plugin_objects(b)
    assert [o["metadata"]["name"] for o in objs] == ["nvidia-device-plugin-packages", "nvidia-device-plugin-cdi"]
    for o in objs:
        pod = o["spec"]["template"]
        assert pod["spec"]["nodeSelector"]["nvidia.com/gpu.present"] == "true"
        assert o["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert {"key": "nvidia.com/gpu", "operator": "Exists"} in pod["spec"]["tolerations"]  # any value, effect
        assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"} in pod["spec"]["tolerations"]
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["FAIL_ON_INIT_ERROR"] == "true"
        (c,) = pod["spec"]["containers"]
        assert c["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v")
    cdi = objs[1]["spec"]["template"]["spec"]["containers"][0]
    cdi_env = {e["name"]: e["value"] for e in cdi["env"]}
    assert cdi_env["DEVICE_LIST_STRATEGY"] == "cdi-cri" and cdi_env["NVIDIA_DRIVER_ROOT"] == "/var/lib/nvidia"
    assert cdi["securityContext"] == {"privileged": True}
    packages = objs[0]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in packages["env"]}["DEVICE_LIST_STRATEGY"] == "volume-mounts"
    assert packages["securityContext"]["allowPrivilegeEscalation"] is False
    b.cluster.spec.assets.container_registry = "mirror.example.com:5000/k8s"
    assert all(o["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "mirror.example.com:5000/k8s/nvidia/k8s-device-plugin:") for o in device_plugin_objects(b))  # fmt: skip
    cp = next(g for g in b.instance_groups if g.spec.role == Role.CONTROL_PLANE)
    assert dict(device_plugin_settings(b, cp))["KUBEGCE_DEVICE_PLUGIN_B64"]
    assert dict(device_plugin_settings(b, nodes(b)))["KUBEGCE_DEVICE_PLUGIN_B64"] == ""  # workers: not carried
    b.cluster.spec.gpu.device_plugin.enabled = False
    assert device_plugin_objects(b) == [] and dict(device_plugin_settings(b, cp))["KUBEGCE_DEVICE_PLUGIN_B64"] == ""


def test_only_one_cdi_driver_root_in_the_catalog() -> None:
    roots = {p.driver_root for p in gpu_profiles().values() if p.supported and p.toolkit == "cdi"}
    assert roots == {"/var/lib/nvidia"}


# ---------------------------------------------------------------- rolling update
def test_a_driver_version_change_changes_the_groups_node_config() -> None:
    """The node config's hash is in the group's template (metadata or its object's URL and sha256),
    so a driver change makes a new template and `rolling-update cluster` replaces the group's VMs."""
    b = gpu_bundle()
    before = node_config(b)
    b.cluster.spec.gpu.driver_version = "580.95.05"
    after = node_config(b)
    assert before != after and "nvidia-open-580.95.05*" in after
    cp_before = render_cluster_boot(gpu_bundle(), Catalog.load()).groups[0].payload.node_config.text
    cp_after = render_cluster_boot(b, Catalog.load()).groups[0].payload.node_config.text
    assert cp_before == cp_after  # the control planes (no GPUs) do not roll


# ---------------------------------------------------------------- kOps import
def test_kops_guest_accelerators_import() -> None:
    from kubegce.spec.loader import load_bundles
    from tests.unit.test_spot import kops_documents

    ig = {
        "machineType": "n1-standard-8",
        "guestAccelerators": [{"acceleratorType": "nvidia-tesla-t4", "acceleratorCount": 2}],
    }
    bundles, warnings = load_bundles(kops_documents(ig), "kops.yaml")
    g = bundles[0].group("nodes")
    assert g is not None and [(a.type, a.count) for a in g.spec.guest_accelerators] == [("nvidia-tesla-t4", 2)]
    assert not any("guestAccelerators" in w for w in warnings)
    with pytest.raises(SpecError, match=r"spec.guestAccelerators\[0\]: must be a mapping"):
        load_bundles(kops_documents({"guestAccelerators": ["nvidia-tesla-t4"]}), "kops.yaml")


# ---------------------------------------------------------------- with Spot
def test_a_spot_gpu_group_is_both() -> None:
    from kubegce.cloud.model import scheduling
    from kubegce.spec.models import ProvisioningModel

    b = gpu_bundle(UBUNTU)
    nodes(b).spec.provisioning_model = ProvisioningModel.SPOT
    assert validate_bundle(b) == []
    assert scheduling(nodes(b))["provisioningModel"] == "SPOT"
    assert scheduling(nodes(b))["onHostMaintenance"] == "TERMINATE"
    labels = kubelet_args(b, nodes(b))["node-labels"]
    assert "cloud.google.com/gke-spot=true" in labels and "nvidia.com/gpu.present=true" in labels
    assert settings(b)["KUBEGCE_GPU"] == 1


# ---------------------------------------------------------------- what the image's own driver can drive
@pytest.mark.parametrize(("image", "machine_type", "model", "refused"), [
    ("debian-cloud/debian-12", "a4-highgpu-8g", "", "branch 535, and nvidia-b200 needs driver branch 570"),
    ("debian-cloud/debian-13", "a4-highgpu-8g", "", "branch 550, and nvidia-b200 needs driver branch 570"),
    ("debian-cloud/debian-12", "g2-standard-8", "", ""),
])  # fmt: skip
def test_debian_groups_are_checked_against_the_branch_their_release_ships(
    image: str, machine_type: str, model: str, refused: str
) -> None:
    b = gpu_bundle(image, machine_type, model)
    if refused:
        with pytest.raises(SpecError, match=refused):
            render_cluster_boot(b, Catalog.load())
    else:
        render_cluster_boot(b, Catalog.load())


def test_debian_11_takes_the_proprietary_modules_its_470_has() -> None:
    """Open modules start with R515: bullseye's 470 drives a T4 with the proprietary ones."""
    s = settings(gpu_bundle("debian-cloud/debian-11", "n1-standard-8", "nvidia-tesla-t4"))
    assert s["KUBEGCE_GPU_MODULES"] == "proprietary" and "nvidia-kernel-dkms" in str(s["KUBEGCE_GPU_DRIVER_PACKAGES"])


def test_a_branch_before_open_modules_takes_the_proprietary_ones() -> None:
    b = gpu_bundle(ROCKY, "n1-standard-8", "nvidia-tesla-t4")
    b.cluster.spec.gpu.driver_version = "470"
    assert settings(b)["KUBEGCE_GPU_MODULES"] == "proprietary"


def test_nvswitch_shapes_warn_that_the_fabric_manager_is_not_installed() -> None:
    boot = render_cluster_boot(gpu_bundle(ROCKY, "a3-highgpu-8g"), Catalog.load())
    assert any("fabric manager" in w for w in boot.warnings)
    assert not any("fabric manager" in w for w in render_cluster_boot(gpu_bundle(), Catalog.load()).warnings)


def test_the_toolkit_label_is_kubegces_too() -> None:
    b = gpu_bundle()
    nodes(b).spec.node_labels = {"kubegce.io/nvidia-toolkit": "cdi"}
    assert any("kubegce sets it" in p for p in validate_bundle(b))
