"""A GPU group's node in the boot lab (lib/gpu.sh): the driver step boots on the lab's Debian roots
with the package manager, the package queries, cos-extensions and nvidia-smi stood in
(lab/templates/gpu-stand-in.sh), and fake NVIDIA PCI devices and UEFI's SecureBoot variable in the
boot's /sys. Each image's GPU profile takes its own branch; the calls recorded show which."""

from __future__ import annotations

import os
from typing import Any

import pytest

from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import BootResult, LabMachine, lab_bundle, render_node_metadata

pytestmark = pytest.mark.bootlab

UBUNTU = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
DEBIAN = "debian-cloud/debian-12"
ROCKY = "rocky-linux-cloud/rocky-linux-9"
COS = "cos-cloud/cos-stable"
LAB_PROFILE = {UBUNTU: "cloud-init+agent", DEBIAN: "agent-only", ROCKY: "agent-only", COS: "cos-like"}
KERNEL = os.uname().release  # the lab's kernel is the host's: lib/gpu.sh's $(uname -r)
FLAVOUR = KERNEL.split("-", 2)[2] if KERNEL.count("-") >= 2 else KERNEL  # @FLAVOUR@: ${kernel#*-*-}
L4: dict[str, Any] = {"machine_type": "g2-standard-8"}  # comes with one nvidia-l4 (open modules)
T4: dict[str, Any] = {"machine_type": "n1-standard-8", "accelerators": [("nvidia-tesla-t4", 1)]}
V100: dict[str, Any] = {
    "machine_type": "n1-standard-8",
    "accelerators": [("nvidia-tesla-v100", 1)],
}  # proprietary modules
READY = "ready 580.95.05"  # the nvidia-smi stand-in's version
# an image's own deb822 sources (the lab's root has none): Debian's profile adds its components here
DEBIAN_SOURCES = "/etc/apt/sources.list.d/debian.sources"
DEBIAN_SOURCES_TEXT = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"
ROCKY_OS_RELEASE = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.6"\n'
READ = ["/etc/containerd/config.toml", "/var/lib/kubelet/kubeadm-flags.env", "/etc/kubegce/kubeadm.yaml",
        DEBIAN_SOURCES, "/etc/apt/sources.list.d/nvidia-container-toolkit.list"]  # fmt: skip


def gpu_machine(image: str, gpus: int = 1, secure_boot: bool = False, group: dict[str, Any] | None = None,
                nouveau: bool = False) -> LabMachine:  # fmt: skip
    metadata, _ = render_node_metadata(lab_bundle(image, **(group or L4)))
    return LabMachine(PROFILES[LAB_PROFILE[image]], metadata, gpus=gpus, secure_boot=secure_boot, nouveau=nouveau)


def boot(image: str, *, gpus: int = 1, secure_boot: bool = False, lab_env: dict[str, str] | None = None,
         group: dict[str, Any] | None = None) -> BootResult:  # fmt: skip
    overrides = {DEBIAN_SOURCES: DEBIAN_SOURCES_TEXT}
    if image == ROCKY:  # the RHEL family's branch on the Debian root: @MAJOR@ is os-release's
        overrides["/etc/os-release"] = ROCKY_OS_RELEASE
    with gpu_machine(image, gpus, secure_boot, group) as m:
        return m.boot(read_files=READ, overrides=overrides, lab_env=lab_env)


def assert_joined_with_gpu(result: BootResult, toolkit: str) -> None:
    assert result.guest_attributes["phase"] == "joined", result.runner_output[-3000:]
    assert result.guest_attributes["gpu"] == READY
    assert "nvidia-smi --query-gpu=driver_version --format=csv,noheader" in result.calls
    flags = result.raw["files"]["/var/lib/kubelet/kubeadm-flags.env"]
    for label in ("nvidia.com/gpu.present=true", f"kubegce.io/nvidia-toolkit={toolkit}",
                  "cloud.google.com/gke-accelerator=nvidia-"):  # fmt: skip
        assert label in flags, flags
    join = result.raw["files"]["/etc/kubegce/kubeadm.yaml"]
    assert "key: nvidia.com/gpu\n    effect: NoSchedule" in join, join
    config = result.raw["files"]["/etc/containerd/config.toml"]
    if toolkit == "cdi":
        assert "enable_cdi = true" in config and "default_runtime_name" not in config, config
    else:
        assert 'default_runtime_name = "nvidia"' in config, config
        assert 'BinaryName = "/usr/bin/nvidia-container-runtime"' in config
        assert any(c.startswith("nvidia-ctk config --in-place") for c in result.calls)  # devices as volume mounts


def assert_failed(result: BootResult, cause: str) -> None:
    assert result.guest_attributes["phase"] == "failed", result.runner_output[-3000:]
    assert result.guest_attributes["gpu"].startswith(f"{cause}: "), result.guest_attributes
    assert "install_gpu_driver" in result.guest_attributes["error"]
    assert not any(c.startswith("kubeadm") for c in result.calls)  # a GPU node without its driver does not join


def test_ubuntu_installs_the_precompiled_signed_modules_and_keeps_secure_boot() -> None:
    result = boot(UBUNTU, secure_boot=True)
    assert_joined_with_gpu(result, "packages")
    assert f"apt-cache show linux-modules-nvidia-580-server-open-{KERNEL}" in result.calls
    driver = ("apt-get install -y -q --no-install-recommends nvidia-headless-no-dkms-580-server-open "
              f"nvidia-utils-580-server linux-modules-nvidia-580-server-open-{KERNEL} "
              f"linux-modules-nvidia-580-server-open-{FLAVOUR}")  # fmt: skip
    assert driver in result.calls
    assert not any("linux-headers" in c or "dkms" in c.replace("no-dkms", "") for c in result.calls)
    assert result.raw["files"][DEBIAN_SOURCES] == DEBIAN_SOURCES_TEXT  # no components added
    assert "apt-get install -y -q --no-install-recommends nvidia-container-toolkit" in result.calls
    assert (
        "nvidia.github.io/libnvidia-container/stable/deb/amd64 /"
        in (result.raw["files"]["/etc/apt/sources.list.d/nvidia-container-toolkit.list"])
    )


def test_debian_adds_non_free_and_builds_the_open_dkms_modules() -> None:
    result = boot(DEBIAN, group=T4)
    assert_joined_with_gpu(result, "packages")
    assert "Components: main contrib non-free non-free-firmware\n" in result.raw["files"][DEBIAN_SOURCES]
    headers = f"apt-get install -y -q --no-install-recommends linux-headers-{KERNEL} linux-headers-{FLAVOUR}"
    driver = "apt-get install -y -q --no-install-recommends nvidia-open-kernel-dkms nvidia-smi libcuda1 firmware-misc-nonfree"
    assert headers in result.calls and driver in result.calls
    assert result.calls.index(headers) < result.calls.index(driver)
    assert (
        "--node-labels=cloud.google.com/gke-accelerator=nvidia-tesla-t4,"
        in result.raw["files"]["/var/lib/kubelet/kubeadm-flags.env"]
    )


def test_rocky_takes_nvidias_cuda_repository_and_locks_the_version() -> None:
    result = boot(ROCKY)
    assert_joined_with_gpu(result, "packages")
    calls = result.calls
    expected = [
        "dnf install -y -q https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm",
        "curl --silent --show-error --fail --location --retry 5 --max-time 60 -o /etc/yum.repos.d/cuda-rhel9.repo "
        "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/cuda-rhel9.repo",
        f"dnf list -q --available kernel-devel-{KERNEL}",
        f"dnf install -y -q kernel-devel-{KERNEL} kernel-headers-{KERNEL}",
        "dnf install -y -q nvidia-open-580*",
        "dnf install -y -q python3-dnf-plugin-versionlock",
        "dnf versionlock add *nvidia*580*",
        "nvidia-smi --query-gpu=driver_version --format=csv,noheader",
        "dnf install -y -q nvidia-container-toolkit",
    ]
    assert [c for c in calls if c in expected] == expected, calls
    assert not any(c.startswith(("apt-get", "apt-cache")) for c in calls)


def test_cos_installs_through_cos_extensions_with_cdi_and_reloads_after_a_reboot() -> None:
    with gpu_machine(COS, secure_boot=True) as m:  # COS's modules are signed: secure boot stays on
        first = m.boot(read_files=READ)
        second = m.boot()
        third = m.boot(lab_env={"KUBEGCE_LAB_FAIL_PACKAGES": "gpu"})  # the reload fails: say so
    assert_joined_with_gpu(first, "cdi")
    install = "cos-extensions install gpu -- -version=R580"
    assert [c for c in first.calls if ("nvidia" in c or c.startswith("cos-extensions")) and not c.startswith("kubelet")] == [
        install, "mount --bind /var/lib/nvidia /var/lib/nvidia", "mount -o remount,exec /var/lib/nvidia",
        "nvidia-smi --query-gpu=driver_version --format=csv,noheader",
    ]  # fmt: skip
    assert "noexec" not in first.raw["mounts"]["/var/lib/nvidia"].split(",")  # the driver's files run
    assert not any(c.startswith(("apt-get", "dnf", "curl")) for c in first.calls)  # no toolkit on a read-only root
    # the reboot: the bootstrap is done, but COS's driver does not come back by itself
    assert second.guest_attributes["phase"] == "joined" and second.runs == []
    assert install in second.calls and "mount -o remount,exec /var/lib/nvidia" in second.calls
    assert "noexec" not in second.raw["mounts"]["/var/lib/nvidia"].split(",")
    assert second.guest_attributes["gpu"] == READY
    assert third.guest_attributes["phase"] == "failed"
    assert third.guest_attributes["gpu"].startswith("gpu-driver-install: after a reboot"), third.guest_attributes


def test_no_nvidia_device_fails_the_driver_step() -> None:
    result = boot(DEBIAN, gpus=0)
    assert_failed(result, "gpu-no-device")
    assert "1 nvidia-l4" in result.guest_attributes["gpu"]
    assert not any("nvidia" in c for c in result.calls)


@pytest.mark.parametrize("image", [DEBIAN, ROCKY])
def test_secure_boot_refuses_unsigned_dkms_modules(image: str) -> None:
    result = boot(image, secure_boot=True)
    assert_failed(result, "gpu-secure-boot")
    assert not any("nvidia" in c or "kernel-devel" in c or "linux-headers" in c for c in result.calls)


@pytest.mark.parametrize(
    ("image", "missing", "group"),
    [(DEBIAN, f"linux-headers-{KERNEL}", T4), (UBUNTU, f"linux-modules-nvidia-580-server-{KERNEL}", V100)],
    ids=["debian-headers", "ubuntu-v100-proprietary-modules"],
)
def test_a_kernel_without_its_packages_is_the_kernel_headers_cause(
    image: str, missing: str, group: dict[str, Any]
) -> None:
    result = boot(image, lab_env={"KUBEGCE_LAB_MISSING_PACKAGES": missing}, group=group)
    assert_failed(result, "gpu-kernel-headers")
    assert missing in result.guest_attributes["gpu"]
    assert f"apt-cache show {missing}" in result.calls
    assert not any(c.startswith("apt-get install") and "nvidia" in c for c in result.calls)


def test_a_driver_package_that_does_not_install_is_the_driver_install_cause() -> None:
    result = boot(ROCKY, lab_env={"KUBEGCE_LAB_FAIL_PACKAGES": "nvidia-open-580*"})
    assert_failed(result, "gpu-driver-install")
    assert "dnf install -y -q nvidia-open-580*" in result.calls
    assert "nvidia-smi --query-gpu=driver_version --format=csv,noheader" not in result.calls


def test_nouveau_is_blacklisted_with_one_reboot_then_the_install_resumes() -> None:
    with gpu_machine(ROCKY, nouveau=True) as m:
        first = m.boot(
            overrides={"/etc/os-release": ROCKY_OS_RELEASE}, read_files=["/etc/modprobe.d/kubegce-nouveau.conf"]
        )
        second = m.boot(overrides={"/etc/os-release": ROCKY_OS_RELEASE})
    assert "blacklist nouveau" in first.raw["files"]["/etc/modprobe.d/kubegce-nouveau.conf"]
    assert "systemctl reboot" in first.calls, first.runner_output[-3000:]
    assert not any("nvidia-open" in c for c in first.calls)  # nothing installed beside nouveau
    assert second.runs and second.guest_attributes["phase"] == "joined", second.runner_output[-3000:]
    assert second.guest_attributes["gpu"] == READY
    assert "dnf install -y -q nvidia-open-580*" in second.calls
