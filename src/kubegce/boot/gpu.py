"""What a GPU group's node gets (docs/gpus.md): its NVIDIA driver install, rendered from the image's
GPU profile (images/catalog.yaml ``gpu_profiles``) into node-config settings that lib/gpu.sh runs;
its labels; and the NVIDIA device plugin the first control plane applies.

Nothing here branches on a distribution: the profile says which packages, repositories and lock
pattern, and lib/gpu.sh dispatches on the profile's method only (as install_packages does on the
package manager).

The device plugin's objects are data (`boot/templates/nvidia-device-plugin.yaml`, written from
NVIDIA/k8s-device-plugin's static deployment, deployments/static/nvidia-device-plugin.yml, at the
version below); kubegce parses that file and changes it in Python: the image under
spec.assets.containerRegistry when set, and one DaemonSet per container-toolkit kind (the nvidia
runtime the toolkit packages install, or CDI specs the plugin writes where the root is read-only),
each selecting its nodes by the label kubegce gives them. Nothing is fetched, so no sha256 is pinned.
"""

from __future__ import annotations

import base64
import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kubegce.images.catalog import ImageProfile
from kubegce.images.gpu_profiles import GpuProfile, gpu_profile, gpu_profiles, gpu_toolkit
from kubegce.spec import gce_accelerators
from kubegce.spec.gpu import driver_branch, driver_version, gpus_of
from kubegce.spec.models import GPU_PRESENT_LABEL, GPU_TOOLKIT_LABEL, ClusterBundle, InstanceGroup, Role

NVIDIA_DEVICE_PLUGIN_VERSION = "0.17.4"
DEVICE_PLUGIN_FILE = "nvidia-device-plugin.yaml"
UPSTREAM_REGISTRY = "nvcr.io"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubegce"}
# the method a node with GPUs but an image the catalog cannot place gets: the image must bring the
# driver (and the toolkit); the node checks they are there and reports the driver's version
IMAGE_METHOD = "image"

Setting = tuple[str, str | int | list[str]]


def _fill(words: tuple[str, ...], branch: str, version: str) -> list[str]:
    cos = f"R{branch}" if version == branch else version  # cos-extensions: -version=R580 or an exact one
    return [w.replace("{branch}", branch).replace("{version}", version).replace("{cos_version}", cos) for w in words]


def chosen_version(profile: GpuProfile, wanted: str) -> str:
    """The version the profile installs for a wanted one: as given (exact), its branch (branch), or
    "" (none: the image's own)."""
    if profile.pin == "exact":
        return wanted
    return driver_branch(wanted) if profile.pin == "branch" else ""


def installed_branch(g: GpuProfile, profile: ImageProfile | None, wanted: str) -> str:
    """The branch a node of this image gets: the release's own (pin none, when the catalog knows
    it), else the wanted one's."""
    own = g.branch_of(profile.version) if profile is not None and g.pin == "none" else None
    return own or driver_branch(wanted)


def gpu_problems(bundle: ClusterBundle, group: InstanceGroup, profile: ImageProfile | None) -> list[str]:
    """What the group's image cannot drive: the branch its release ships (pin none) against the GPU."""
    gpus = gpus_of(group)
    g = gpu_profile(profile)
    if gpus is None or g is None or not g.supported or g.pin != "none" or profile is None:
        return []
    own = g.branch_of(profile.version)
    if own is None:
        return []
    if problem := gce_accelerators.branch_problem(gpus.model, int(own)):
        return [f"spec.image: {profile.label} installs its release's NVIDIA driver, branch {own}, and {problem}; "
                "use a newer release or an image whose driver version can be chosen (Ubuntu, COS, the RHEL family)"]  # fmt: skip
    return []


def plan_warnings(group: InstanceGroup) -> list[str]:
    if group.spec.machine_type in gce_accelerators.NVSWITCH_SHAPES:
        return [f"spec.machineType: {group.spec.machine_type} links its GPUs through NVSwitch; multi-GPU jobs need "
                "NVIDIA's fabric manager, which kubegce does not install yet (docs/gpus.md): install it in a "
                "spec.bootstrap.additionalUserData part"]  # fmt: skip
    return []


def toolkit_kind(profile: ImageProfile | None) -> str:
    g = gpu_profile(profile)
    return g.toolkit if g is not None else "packages"


def node_labels(group: InstanceGroup, profile: ImageProfile | None) -> dict[str, str]:
    """The labels kubegce adds to a GPU group's nodes beyond spec.gpu's (which device plugin runs there)."""
    return {GPU_TOOLKIT_LABEL: toolkit_kind(profile)} if gpus_of(group) is not None else {}


def gpu_settings(bundle: ClusterBundle, group: InstanceGroup, profile: ImageProfile | None) -> list[Setting]:
    """The node config's GPU lines (lib/gpu.sh); KUBEGCE_GPU=0 for a group without GPUs."""
    gpus = gpus_of(group)
    if gpus is None:
        return [("KUBEGCE_GPU", 0)]
    g = gpu_profile(profile)
    wanted = driver_version(bundle, group)
    t = gpu_toolkit()
    common: list[Setting] = [
        ("KUBEGCE_GPU", 1),
        ("KUBEGCE_GPU_MODEL", gpus.model),
        ("KUBEGCE_GPU_COUNT", gpus.count),
        ("KUBEGCE_GPU_TOOLKIT_PACKAGES", list(t.packages)),
        ("KUBEGCE_GPU_TOOLKIT_APT_SOURCE", t.apt_source),
        ("KUBEGCE_GPU_TOOLKIT_APT_KEY", t.apt_key),
        ("KUBEGCE_GPU_TOOLKIT_DNF_REPO", t.dnf_repo),
        ("KUBEGCE_GPU_RUNTIME", t.runtime),
    ]
    if g is None or not g.supported:  # an image the catalog cannot place: it brings the driver
        return [*common, ("KUBEGCE_GPU_METHOD", IMAGE_METHOD), ("KUBEGCE_GPU_DRIVER_VERSION", ""),
                ("KUBEGCE_GPU_TOOLKIT", "packages"), ("KUBEGCE_GPU_DRIVER_ROOT", "/"),
                ("KUBEGCE_GPU_SECURE_BOOT_OK", 1)]  # fmt: skip
    version = chosen_version(g, wanted)
    branch = installed_branch(g, profile, wanted)
    kind = "open" if gce_accelerators.open_modules(gpus.model, int(branch)) else "proprietary"
    fill_version = version or branch
    return [
        *common,
        ("KUBEGCE_GPU_METHOD", g.method),
        ("KUBEGCE_GPU_PROFILE", g.name),
        ("KUBEGCE_GPU_DRIVER_VERSION", version),
        ("KUBEGCE_GPU_MODULES", kind),
        ("KUBEGCE_GPU_DRIVER_PACKAGES", _fill(g.driver[kind], branch, fill_version)),
        ("KUBEGCE_GPU_HEADER_PACKAGES", list(g.headers)),
        ("KUBEGCE_GPU_REPOS", list(g.repos)),
        ("KUBEGCE_GPU_LOCK", _fill((g.lock,), branch, fill_version)[0] if g.lock and version else ""),
        ("KUBEGCE_GPU_SECURE_BOOT_OK", 1 if g.secure_boot else 0),
        ("KUBEGCE_GPU_TOOLKIT", g.toolkit),
        ("KUBEGCE_GPU_DRIVER_ROOT", g.driver_root),
    ]


def version_warnings(bundle: ClusterBundle, group: InstanceGroup, profile: ImageProfile | None) -> list[str]:
    """What spec.gpu.driverVersion cannot get on this image (the profile's pin)."""
    g = gpu_profile(profile)
    if gpus_of(group) is None or g is None or not g.supported:
        return []
    own = group.spec.gpu.driver_version if group.spec.gpu else None
    asked = own or bundle.cluster.spec.gpu.driver_version
    label = profile.label if profile else group.spec.image
    if g.pin == "none" and asked:
        return [f"spec.gpu.driverVersion {asked} is not used on {label}: it installs its release's own NVIDIA "
                "driver (docs/gpus.md)"]  # fmt: skip
    if g.pin == "branch" and asked and asked != driver_branch(asked):
        return [f"spec.gpu.driverVersion {asked}: {label} pins the branch only; its nodes get the newest "
                f"{driver_branch(asked)} build of the archive"]  # fmt: skip
    return []


# ---------------------------------------------------------------- the device plugin
@cache
def _upstream() -> tuple[dict[str, Any], ...]:
    text = resources.files("kubegce.boot").joinpath("templates", DEVICE_PLUGIN_FILE).read_text()
    return tuple(o for o in yaml.safe_load_all(text) if o)


def device_plugin_objects(bundle: ClusterBundle) -> list[dict[str, Any]]:
    """The device plugin's DaemonSets (one per toolkit kind); none when spec.gpu.devicePlugin is off."""
    s = bundle.cluster.spec
    if not s.gpu.device_plugin.enabled:
        return []
    registry = (s.assets.container_registry or "").rstrip("/")  # validated: HOST[:PORT][/PATH]
    out = []
    for upstream in _upstream():
        for kind in ("packages", "cdi"):
            o = copy.deepcopy(upstream)
            o["metadata"]["name"] = f"{o['metadata']['name']}-{kind}"
            o["metadata"].setdefault("labels", {}).update(MANAGED_BY)
            o["spec"]["selector"]["matchLabels"]["kubegce.io/toolkit"] = kind
            pod = o["spec"]["template"]
            pod["metadata"]["labels"]["kubegce.io/toolkit"] = kind
            pod["spec"]["nodeSelector"] = {GPU_PRESENT_LABEL: "true", GPU_TOOLKIT_LABEL: kind}
            # GPU nodes of any taint kubegce gives them: the GPU taint whatever its value or effect
            # (a group may set its own), and a control plane's
            pod["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"},
                                          {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]  # fmt: skip
            for c in pod["spec"]["containers"]:
                image = str(c["image"])
                if not image.startswith(f"{UPSTREAM_REGISTRY}/"):  # the file's invariant (unit-tested)
                    raise ValueError(
                        f"{DEVICE_PLUGIN_FILE}: {c['name']} image {image} is not under {UPSTREAM_REGISTRY}"
                    )
                if registry:
                    c["image"] = registry + image.removeprefix(UPSTREAM_REGISTRY)
                # a plugin that cannot start says so (its DaemonSet runs on GPU nodes only)
                c["env"] = [e for e in c.get("env", []) if e["name"] != "FAIL_ON_INIT_ERROR"]
                c["env"].append({"name": "FAIL_ON_INIT_ERROR", "value": "true"})
                if kind == "cdi":
                    _cdi(pod["spec"], c)
                else:
                    _volume_mounts(pod["spec"], c)
            out.append(o)
    return out


def cdi_driver_root() -> str:
    """Where the driver is on the images whose toolkit is cdi (COS: /var/lib/nvidia)."""
    roots = {p.driver_root for p in gpu_profiles().values() if p.supported and p.toolkit == "cdi"}
    if len(roots) != 1:  # one cdi DaemonSet serves them all (unit-tested)
        raise ValueError(f"catalog.yaml gpu_profiles: the cdi profiles have driver roots {sorted(roots)}; one expected")
    return roots.pop()


def _volume_mounts(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """The nvidia runtime is containerd's default on these nodes; the plugin hands out devices as
    volume mounts, and the runtime is set (lib/gpu.sh) to refuse NVIDIA_VISIBLE_DEVICES from
    unprivileged pods, so a pod that did not ask for nvidia.com/gpu sees no GPU (NVIDIA's
    hardening: the device plugin's volume-mounts strategy)."""
    container["env"].append({"name": "DEVICE_LIST_STRATEGY", "value": "volume-mounts"})
    container["volumeMounts"].append({"name": "cdi-devices", "mountPath": "/var/run/nvidia-container-devices"})
    pod["volumes"].append({"name": "cdi-devices", "hostPath": {"path": "/var/run/nvidia-container-devices",
                                                              "type": "DirectoryOrCreate"}})  # fmt: skip


def _cdi(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """No nvidia runtime on these nodes (a read-only root takes no toolkit packages): the plugin
    writes CDI specs for the driver under the profile's driver root into /var/run/cdi, and
    containerd's CDI support (enable_cdi, lib/binaries.sh) injects the devices (docs/gpus.md)."""
    # CDI spec writing and the devices need the plugin privileged (NVIDIA's Helm chart runs it so)
    container["securityContext"] = {"privileged": True}
    container.setdefault("env", []).extend([
        {"name": "DEVICE_LIST_STRATEGY", "value": "cdi-cri"},
        {"name": "NVIDIA_DRIVER_ROOT", "value": cdi_driver_root()},
        {"name": "DRIVER_ROOT_CTR_PATH", "value": "/driver-root"},
    ])  # fmt: skip
    container["volumeMounts"] += [{"name": "cdi-specs", "mountPath": "/var/run/cdi"},
                                  {"name": "driver-root", "mountPath": "/driver-root", "readOnly": True}]  # fmt: skip
    pod["volumes"] += [{"name": "cdi-specs", "hostPath": {"path": "/var/run/cdi", "type": "DirectoryOrCreate"}},
                       {"name": "driver-root", "hostPath": {"path": cdi_driver_root()}}]  # fmt: skip


def render_device_plugin(bundle: ClusterBundle) -> str:
    objs = device_plugin_objects(bundle)
    return yaml.safe_dump_all(objs, sort_keys=False) if objs else ""


def device_plugin_settings(bundle: ClusterBundle, group: InstanceGroup) -> list[Setting]:
    """The first control plane applies the device plugin (lib/join.sh install_device_plugin); only
    control planes carry it, base64, so no value of it is ever shell text."""
    if group.spec.role != Role.CONTROL_PLANE:
        return [("KUBEGCE_DEVICE_PLUGIN_B64", "")]
    text = render_device_plugin(bundle)
    return [("KUBEGCE_DEVICE_PLUGIN_B64", base64.b64encode(text.encode()).decode() if text else ""),
            ("KUBEGCE_DEVICE_PLUGIN_VERSION", NVIDIA_DEVICE_PLUGIN_VERSION if text else "")]  # fmt: skip
