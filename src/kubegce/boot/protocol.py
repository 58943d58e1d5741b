"""What a booting node tells the world: the bootstrap's phases and steps, its guest attributes and
its serial-console line format, in one place.

The bootstrap (templates/lib/*.sh) writes these; the emulator's simulated boot writes them too;
``kubegce diagnose``, the boot lab and the emulator read them with :func:`parse_phase_line`. The
shell side gets the names rendered into it (:func:`shell_constants`), and a unit test checks that
every phase and step the script uses is one of these and that every one of these is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE_PREFIX = "kubegce-boot:"

# Phases in the order a node reaches them; FAILED may replace any of them, DONE is printed when
# a later run finds the node already initialized.
STARTED = "started"
PREPARED = "prepared"
INSTALLED = "installed"
JOINED = "joined"
FAILED = "failed"
DONE = "done"
PROGRESS_PHASES = (STARTED, PREPARED, INSTALLED, JOINED)
PHASES = (*PROGRESS_PHASES, FAILED, DONE)
REPORTED_PHASES = (*PROGRESS_PHASES, FAILED)  # the ones written to the phase guest attribute

# The bootstrap's steps (shell functions), in the order they run; each leaves a done marker.
STEPS = (
    "fetch_config",
    "detect_distro",
    "prepare_host",
    "install_gpu_driver",
    "install_gpu_toolkit",
    "install_binaries",
    "configure_services",
    "fetch_secrets",
    "kubeadm_join",
    "install_addons",
    "run_user_parts",
    "install_cloud_init",
)
# Not steps with markers, but names CURRENT_STEP takes (an error there is reported with them).
PSEUDO_STEPS = ("init", "reapply_volatile_etc", "mount_etcd_disk", "refresh_api_address", "check_gpu_driver")
# The last step before each progress phase is reported.
STEP_BEFORE_PHASE = {PREPARED: "prepare_host", INSTALLED: "configure_services", JOINED: "install_addons"}
DOWNLOAD_STEPS = frozenset({"install_binaries"})
GPU_STEPS = frozenset({"install_gpu_driver", "install_gpu_toolkit"})
JOIN_STEPS = frozenset({"fetch_secrets", "kubeadm_join", "install_addons"})

# Guest attributes (namespace/key) the bootstrap writes.
ATTRIBUTE_NAMESPACE = "kubegce"
ATTR_PHASE = "phase"
ATTR_ERROR = "error"
ATTR_WARNING = "warning"
ATTR_BACKUP = "backup"  # a control plane's etcd backup job: "ok ID" or "CAUSE: why" (lib/backup.sh)
ATTR_GPU = "gpu"  # a GPU node's driver phase: "installing VERSION", "ready VERSION" or "CAUSE: why" (lib/gpu.sh)
ATTRIBUTE_KEYS = (ATTR_PHASE, ATTR_ERROR, ATTR_WARNING, ATTR_BACKUP, ATTR_GPU)
PROBE_NAMESPACE = "kubegce-probe"

# A control plane that boots on a kept etcd disk (lib/etcd.sh) restores its member instead of
# running kubeadm init/join; when the address recorded on the disk is not the instance's own it
# refuses, and its error starts with this word (diagnose's cause of the same name).
ETCD_ADDRESS_MISMATCH = "etcd-address-mismatch"

# etcd backups and restores (lib/backup.sh, lib/restore.sh; diagnose's causes of the same names):
# the backup job's failures go to the backup guest attribute, a restore's to the error attribute.
BACKUP_STORE_UNWRITABLE = "backup-store-unwritable"
BACKUP_ETCD_UNHEALTHY = "backup-etcd-unhealthy"
RESTORE_CHECKSUM_MISMATCH = "restore-checksum-mismatch"
RESTORE_ETCD_VERSION = "restore-etcd-version"
ETCD_RESTORE = "etcd-restore"  # the console line of a control plane in a restore round: leader|member
ETCD_RESTORED = "etcd-member-restored"


# A GPU node's driver install (lib/gpu.sh; diagnose's causes of the same names). A failure stops the
# bootstrap (a GPU node without its driver would join and idle, tainted): the error attribute and the
# gpu attribute both start with the cause.
GPU_INSTALLING = "installing"
GPU_READY = "ready"
GPU_NO_DEVICE = "gpu-no-device"  # no NVIDIA PCI device: the instance has no GPU attached
GPU_SECURE_BOOT = "gpu-secure-boot"  # secure boot is on and the image's driver modules are unsigned
GPU_KERNEL_HEADERS = "gpu-kernel-headers"  # no headers (or prebuilt modules) for the running kernel
GPU_DRIVER_INSTALL = "gpu-driver-install"  # the driver's packages or extension did not install
GPU_DRIVER_LOAD = "gpu-driver-load"  # installed, but nvidia-smi cannot talk to the GPUs
GPU_TOOLKIT = "gpu-toolkit"  # the NVIDIA container toolkit did not install
GPU_CAUSES = (GPU_NO_DEVICE, GPU_SECURE_BOOT, GPU_KERNEL_HEADERS, GPU_DRIVER_INSTALL, GPU_DRIVER_LOAD, GPU_TOOLKIT)


@dataclass(frozen=True)
class GpuStatus:
    state: str  # installing | ready | one of GPU_CAUSES
    detail: str = ""  # the version, or why


def parse_gpu_status(text: str) -> GpuStatus | None:
    """The gpu guest attribute's value, or None for an empty or unknown one."""
    head, _, rest = text.strip().partition(" ")
    if head in (GPU_INSTALLING, GPU_READY):
        return GpuStatus(head, rest.strip())
    cause, sep, why = text.strip().partition(":")
    if sep and cause in GPU_CAUSES:
        return GpuStatus(cause, why.strip())
    return None


def etcd_mismatch_error(recorded: str, current: str) -> str:
    """The error a control plane reports when its etcd disk names another address (lib/etcd.sh)."""
    return (f"{ETCD_ADDRESS_MISMATCH}: the etcd data disk records advertise address {recorded}, "
            f"this instance has {current}")  # fmt: skip


def etcd_restored_line(address: str) -> str:
    return f"{LINE_PREFIX} {ETCD_RESTORED} address={address}: existing etcd member, no kubeadm init/join"  # what `kubegce images probe` reads (templates/probe.sh)


def attribute_path(key: str) -> str:
    """The guest-attribute query path of one of our keys: ``kubegce/phase``."""
    return f"{ATTRIBUTE_NAMESPACE}/{key}"


PHASE_LINE = re.compile(
    re.escape(LINE_PREFIX)
    + r" phase=(?P<phase>\w+)(?: elapsed=(?P<elapsed>\d+)s)?(?: step=(?P<step>\S+))?(?: error=(?P<error>.*))?"
)
DONE_LINE = re.compile(re.escape(LINE_PREFIX) + r" (?:phase=done .*already initialized|done elapsed=)")


@dataclass(frozen=True)
class PhaseLine:
    phase: str
    elapsed: int | None = None
    step: str = ""
    error: str = ""


def phase_line(phase: str, elapsed: int, *, step: str = "", error: str = "") -> str:
    """A phase line as the bootstrap prints it (report_phase in lib/common.sh)."""
    text = f"{LINE_PREFIX} phase={phase} elapsed={elapsed}s"
    if error:
        text += f" step={step} error={error}"
    return text


def step_line(step: str) -> str:
    return f"{LINE_PREFIX} step={step}"


def done_line(elapsed: int, config_sha256: str) -> str:
    return f"{LINE_PREFIX} done elapsed={elapsed}s config={config_sha256}"


def already_done_line(config_sha256: str) -> str:
    return f"{LINE_PREFIX} phase={DONE} config={config_sha256} already initialized; nothing to do"


def parse_phase_line(text: str) -> PhaseLine | None:
    """The phase line anywhere in ``text`` (a console line with any prefix), or None."""
    m = PHASE_LINE.search(text)
    if m is None:
        return None
    elapsed = m.group("elapsed")
    return PhaseLine(
        m.group("phase"), int(elapsed) if elapsed else None, m.group("step") or "", (m.group("error") or "").strip()
    )


def is_done_line(text: str) -> bool:
    return DONE_LINE.search(text) is not None


def shell_constants() -> str:
    """The names above as shell assignments, rendered into the bootstrap."""
    values = {
        "KUBEGCE_LOG_PREFIX": LINE_PREFIX,
        "KUBEGCE_ATTRIBUTE_NAMESPACE": ATTRIBUTE_NAMESPACE,
        "KUBEGCE_ATTR_PHASE": ATTR_PHASE,
        "KUBEGCE_ATTR_ERROR": ATTR_ERROR,
        "KUBEGCE_ATTR_WARNING": ATTR_WARNING,
        "KUBEGCE_ETCD_ADDRESS_MISMATCH": ETCD_ADDRESS_MISMATCH,
        "KUBEGCE_ETCD_RESTORED": ETCD_RESTORED,
        "KUBEGCE_ATTR_BACKUP": ATTR_BACKUP,
        "KUBEGCE_BACKUP_STORE_UNWRITABLE": BACKUP_STORE_UNWRITABLE,
        "KUBEGCE_BACKUP_ETCD_UNHEALTHY": BACKUP_ETCD_UNHEALTHY,
        "KUBEGCE_RESTORE_CHECKSUM_MISMATCH": RESTORE_CHECKSUM_MISMATCH,
        "KUBEGCE_RESTORE_ETCD_VERSION": RESTORE_ETCD_VERSION,
        "KUBEGCE_ETCD_RESTORE": ETCD_RESTORE,
        "KUBEGCE_ATTR_GPU": ATTR_GPU,
        "KUBEGCE_GPU_STATE_INSTALLING": GPU_INSTALLING,
        "KUBEGCE_GPU_STATE_READY": GPU_READY,
        "KUBEGCE_CAUSE_GPU_NO_DEVICE": GPU_NO_DEVICE,
        "KUBEGCE_CAUSE_GPU_SECURE_BOOT": GPU_SECURE_BOOT,
        "KUBEGCE_CAUSE_GPU_KERNEL_HEADERS": GPU_KERNEL_HEADERS,
        "KUBEGCE_CAUSE_GPU_DRIVER_INSTALL": GPU_DRIVER_INSTALL,
        "KUBEGCE_CAUSE_GPU_DRIVER_LOAD": GPU_DRIVER_LOAD,
        "KUBEGCE_CAUSE_GPU_TOOLKIT": GPU_TOOLKIT,
    }
    return "\n".join(f"{k}={v}" for k, v in values.items())
