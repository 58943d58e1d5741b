"""Read a node's serial console (and, when known, its metadata, image and guest attributes) and say
why it did not initialize: a cause code, an explanation, the evidence lines, and the fix.

The cause codes are an interface: ok, still-running, no-init-channel, mime-in-startup-script,
cloud-init-error, ignition-failed, bootstrap-failed, download-failed, join-failed,
etcd-address-mismatch, unsupported-distro, bootstrap-not-started, unknown, restore-checksum-mismatch,
restore-etcd-version, backup-store-unwritable, backup-etcd-unhealthy, and a GPU node's driver
install (lib/gpu.sh): gpu-no-device, gpu-secure-boot, gpu-kernel-headers, gpu-driver-install,
gpu-driver-load, gpu-toolkit (from the failed phase line of step install_gpu_driver or
install_gpu_toolkit whose error starts with the cause, or the gpu guest attribute). Rules match the real programs' log lines (google guest agent's
metadata script runner, cloud-init, Ignition) and the bootstrap's own `kubegce-boot:` lines; a
log none of them explains gives `unknown` with its last error-looking lines.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from kubegce.boot import protocol
from kubegce.images.catalog import ImageProfile

CAUSES = (
    "ok", "still-running", "no-init-channel", "mime-in-startup-script", "cloud-init-error", "ignition-failed",
    "bootstrap-failed", "download-failed", "join-failed", "etcd-address-mismatch", "unsupported-distro", "bootstrap-not-started", "unknown",
    protocol.RESTORE_CHECKSUM_MISMATCH, protocol.RESTORE_ETCD_VERSION, protocol.BACKUP_STORE_UNWRITABLE,
    protocol.BACKUP_ETCD_UNHEALTHY, *protocol.GPU_CAUSES,
)  # fmt: skip

PHASE = protocol.PHASE_LINE
DONE = protocol.DONE_LINE
RUNNER_START = re.compile(r"Starting startup scripts")
RUNNER_NONE = re.compile(r"No startup scripts to run\.")
MIME_EXEC = re.compile(
    r"line \d+: (?:Content-Type:|MIME-Version:|Content-Transfer-Encoding:|--=+\S*)\S*: command not found"
)
CLOUD_INIT = re.compile(r"cloud-init(?:\[\d+\])?:|Cloud-init v\. ")
CLOUD_INIT_ERRORS = (
    re.compile(r"Invalid cloud-config provided"),
    re.compile(r"Running module (?P<module>[\w-]+) \(.*\) failed"),
    re.compile(r"Failed to run module (?P<module>[\w-]+)"),
    re.compile(r"\[CRITICAL\]"),
    re.compile(r"Unhandled non-multipart"),
    re.compile(r"Failed running (?:/var/lib/cloud/instance/scripts/\S+|\S+ \[\d+\])"),
)
CLOUD_INIT_NOISE = re.compile(r"Running module (ssh|keys-to-console|set-passwords)\b")
IGNITION_FAILED = re.compile(r"Ignition failed: (?P<why>.*)")
IGNITION_DETAIL = re.compile(
    r"(?:CRITICAL|ERROR)\s*: (?!Ignition failed|failed to acquire config)|failed to fetch config"
)
UNSUPPORTED = re.compile(r"unsupported distro: (?P<what>.*)")
DOWNLOAD = re.compile(
    r"checksum mismatch for|curl: \(\d+\)|Could not resolve host|Failed to fetch|Temporary failure resolving"
)
ERRORISH = re.compile(r"error|fail|fatal|denied|refus|cannot|unable|panic|traceback", re.IGNORECASE)
JOIN_STEPS = protocol.JOIN_STEPS
RESTORE_CAUSES = {
    protocol.RESTORE_CHECKSUM_MISMATCH: "the snapshot it downloaded does not have the sha256 of the restore "
    "marker (the backup's manifest): the snapshot in the state store was changed or damaged after it was taken.",
    protocol.RESTORE_ETCD_VERSION: "the backup was taken with an etcd whose version this control plane's etcd "
    "cannot restore (another major version, a newer minor, or more than one minor older).",
}
BACKUP_CAUSES = {
    protocol.BACKUP_STORE_UNWRITABLE: "The control plane's service account cannot write the cluster's backups "
    "in the state bucket: give it roles/storage.objectUser on the bucket (docs/disaster-recovery.md).",
    protocol.BACKUP_ETCD_UNHEALTHY: "Its local etcd member does not answer a health check, so it takes no "
    "backup; if it is the leader, the cluster has no new backups: check `kubegce validate cluster` and the "
    "etcd static pod's logs.",
}
DOWNLOAD_STEPS = protocol.DOWNLOAD_STEPS
GPU_STEPS = protocol.GPU_STEPS
# what each GPU cause means (lib/gpu.sh, docs/gpus.md); the fixes are built in _gpu_fix
GPU_CAUSE_TEXT = {
    protocol.GPU_NO_DEVICE: "the instance has no NVIDIA GPU on its PCI bus: its instance template attached none "
    "(the group has no spec.guestAccelerators, or an old template), or GCE created it without the GPU.",
    protocol.GPU_SECURE_BOOT: "secure boot is on (a Shielded VM with secure boot) and this image's NVIDIA kernel "
    "modules are unsigned DKMS builds, which the kernel refuses to load.",
    protocol.GPU_KERNEL_HEADERS: "the running kernel has no headers (or prebuilt NVIDIA modules) in the image's "
    "package archive: the image is older than its repositories, whose kernel packages moved on.",
    protocol.GPU_DRIVER_INSTALL: "the NVIDIA driver's packages (or COS's driver extension) did not install: the "
    "node could not reach the driver's repositories, or the version asked for does not exist there.",
    protocol.GPU_DRIVER_LOAD: "the driver installed, but nvidia-smi cannot talk to the GPUs: the kernel modules "
    "did not load, or do not drive this GPU (the open modules need Turing or newer; Pascal and Volta need the "
    "proprietary ones, R580 at most).",
    protocol.GPU_TOOLKIT: "the driver is ready, but the NVIDIA container toolkit did not install: containerd has "
    "no nvidia runtime, so no pod can use the GPUs.",
}


@dataclass
class Evidence:
    line: int
    text: str


@dataclass
class Diagnosis:
    cause: str
    explanation: str
    evidence: list[Evidence] = field(default_factory=list)
    fix: str = ""
    phase: str = ""
    step: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause, "explanation": self.explanation,
            "evidence": [asdict(e) for e in self.evidence], "fix": self.fix,
            "phase": self.phase, "step": self.step, "error": self.error,
        }  # fmt: skip


@dataclass
class Context:
    """What is known beside the serial log; every field optional."""

    metadata: dict[str, str] | None = None
    image: ImageProfile | None = None
    image_ref: str = ""
    guest_attributes: dict[str, str] | None = None
    instance: str = "INSTANCE"
    zone: str = "ZONE"
    cluster: str = ""
    group: str = ""


def _find(lines: list[str], pattern: re.Pattern[str]) -> list[Evidence]:
    return [Evidence(i + 1, ln.rstrip()) for i, ln in enumerate(lines) if pattern.search(ln)]


def _cluster_name(ctx: Context) -> str:
    return ctx.cluster or (ctx.metadata or {}).get("cluster-name", "CLUSTER")


def _cluster_cmd(ctx: Context, setting: str) -> str:
    cluster = _cluster_name(ctx)
    return f"kubegce edit cluster {cluster} --set {setting} && kubegce update cluster {cluster} --yes"


def _edit_cmd(ctx: Context, setting: str) -> str:
    cluster = _cluster_name(ctx)
    group = ctx.group or (ctx.metadata or {}).get("kubegce-instance-group", "GROUP")
    return (f"kubegce edit instancegroup {cluster} {group} --set {setting} && "
            f"kubegce update cluster {cluster} --yes")  # fmt: skip


def gpu_cause(error: str) -> str | None:
    """The GPU cause an error (``CAUSE: why``, or a step's ``STEP: CAUSE: why``) starts with."""
    text = error.strip()
    for _ in range(2):
        status = protocol.parse_gpu_status(text)
        if status is not None and status.state in protocol.GPU_CAUSES:
            return status.state
        head, sep, rest = text.partition(":")
        if not sep or head not in (*protocol.STEPS, *protocol.PSEUDO_STEPS):
            break
        text = rest.strip()
    return None


def _gpu_fix(cause: str, ctx: Context) -> str:
    reset = f"gcloud compute instances reset {ctx.instance} --zone {ctx.zone}"
    cluster = _cluster_name(ctx)
    recreate = (f"kubegce update cluster {cluster} --yes, then recreate the instance "
                f"(gcloud compute instances delete {ctx.instance} --zone {ctx.zone} --quiet; its group makes it "
                "again)")  # fmt: skip
    if cause == protocol.GPU_NO_DEVICE:
        return (f"Check what the instance has: `gcloud compute instances describe {ctx.instance} --zone {ctx.zone} "
                "--format='value(machineType,guestAccelerators)'`. If it has no GPU, give the group its GPUs "
                "(spec.guestAccelerators on an N1 type, or a GPU machine type such as g2-standard-8) and "
                f"re-render its template: {recreate}; if the zone has no GPU capacity, move the group to a zone "
                "that has (`gcloud compute accelerator-types list --filter=zone:ZONE`)")  # fmt: skip
    if cause == protocol.GPU_SECURE_BOOT:
        return (f"Turn secure boot off for the group's VMs (`gcloud compute instances stop {ctx.instance} --zone "
                f"{ctx.zone} && gcloud compute instances update {ctx.instance} --zone {ctx.zone} "
                "--no-shielded-secure-boot`, and the same in the template or the organization's policy), or use "
                "an image whose NVIDIA modules are signed (Ubuntu, COS): "
                + _edit_cmd(ctx, "spec.image=ubuntu-os-cloud/ubuntu-2404-lts-amd64"))  # fmt: skip
    if cause == protocol.GPU_KERNEL_HEADERS:
        return ("Boot a newer image of the family, whose kernel the archive has headers (or prebuilt modules) for: "
                "point spec.image at the family, not a dated image name ("
                + _edit_cmd(ctx, "spec.image=PROJECT/FAMILY") + f"), then {recreate}")  # fmt: skip
    if cause == protocol.GPU_DRIVER_INSTALL:
        return ("Give the node egress to the driver's repositories (an external IP or Cloud NAT; NVIDIA's CUDA "
                "repository, the distribution's archive, or COS's driver bucket), and ask for a version they have: "
                "a branch rather than an exact version (" + _edit_cmd(ctx, "spec.gpu.driverVersion=580")
                + f"); on COS `cos-extensions list` on the node shows the versions built for its milestone. "
                f"Then {reset}")  # fmt: skip
    if cause == protocol.GPU_DRIVER_LOAD:
        return ("Read the kernel's reason on the node (`dmesg | grep -i -e nvrm -e nvidia`). Check that the driver "
                "branch drives the group's GPU model (docs/gpus.md: Pascal and Volta need R580 or older, "
                "proprietary modules): " + _edit_cmd(ctx, "spec.gpu.driverVersion=580")
                + f"; then {reset}")  # fmt: skip
    return ("Give the node egress to NVIDIA's container toolkit repository (nvidia.github.io: an external IP or "
            f"Cloud NAT), or install nvidia-container-toolkit in the image; then {reset}")  # fmt: skip


def _gpu_diagnosis(cause: str, ctx: Context, evidence: list[Evidence], phase: str, step: str, error: str
                   ) -> Diagnosis:  # fmt: skip
    what = GPU_CAUSE_TEXT[cause]
    stopped = ("The bootstrap stopped: a GPU node without its driver would join and idle, tainted. "
               if phase == protocol.FAILED else "The node joined, but its GPU driver reports a failure. ")  # fmt: skip
    return Diagnosis(cause, f"The GPU driver install failed ({cause}): {what} {stopped}".rstrip(), evidence,
                     _gpu_fix(cause, ctx), phase, step, error)  # fmt: skip


def analyze(log: str, ctx: Context | None = None) -> Diagnosis:
    ctx = ctx or Context()
    lines = log.splitlines()
    md = ctx.metadata
    reset = f"gcloud compute instances reset {ctx.instance} --zone {ctx.zone}"

    phases: list[tuple[Evidence, re.Match[str]]] = [
        (ev, m) for ev in _find(lines, PHASE) if (m := PHASE.search(ev.text)) is not None
    ]
    last_failure = next(((ev, m) for ev, m in reversed(phases) if m.group("phase") == protocol.FAILED), None)
    last = phases[-1] if phases else None
    done = _find(lines, DONE)

    # 1. MIME headers executed by bash: user-data put into startup-script (kOps with gceUseStartupScript)
    mime = _find(lines, MIME_EXEC)
    if mime:
        return Diagnosis(
            "mime-in-startup-script",
            "The startup-script holds a MIME multipart document (user-data) and bash ran its headers as "
            "commands: the tool that made this instance put multi-part user data into startup-script. "
            "kubegce never does: it runs shell parts after the bootstrap and sends cloud-config as user-data.",
            mime[:3],
            "Let kubegce render the metadata: " + _edit_cmd(ctx, "spec.bootstrap.channel=auto"),
        )  # fmt: skip

    # 2. Fedora CoreOS: Ignition could not fetch or apply the user-data, so nothing it should have
    # written (the bootstrap, its unit) exists; it runs on the first boot only
    ignition = _find(lines, IGNITION_FAILED)
    if ignition:
        m = IGNITION_FAILED.search(ignition[-1].text)
        why = m.group("why").strip() if m else ""
        details = [e for e in _find(lines[: ignition[-1].line], IGNITION_DETAIL)][-2:]
        return Diagnosis(
            "ignition-failed",
            f"Ignition failed on the first boot ({why}): it could not fetch or apply the instance's "
            "user-data, so the bootstrap and its unit were never written and the node stopped before "
            "initializing. Ignition runs only on an instance's first boot, so a reset will not retry it: "
            "the instance must be recreated from a template whose user-data is a valid Ignition config "
            "(kubegce renders one and checks it with ignition-validate; a hand-edited or non-Ignition "
            "user-data, such as a cloud-config, fails like this).",
            details + [ignition[-1]],
            f"kubegce update cluster {_cluster_name(ctx)} --yes && "
            f"gcloud compute instances delete {ctx.instance} --zone {ctx.zone} --quiet  # its group recreates it",
            error=why,
        )  # fmt: skip

    # 3. the bootstrap ran and says how it ended
    if last_failure and not (
        last and last[1].group("phase") == protocol.JOINED and last[0].line > last_failure[0].line
    ):
        ev, m = last_failure
        step, error = m.group("step") or "", (m.group("error") or "").strip()
        context_lines = [e for e in _find(lines[: ev.line], ERRORISH) if protocol.LINE_PREFIX not in e.text][-3:]
        evidence = context_lines + [ev]
        attrs = ctx.guest_attributes or {}
        gpu = gpu_cause(error) or (gpu_cause(attrs.get(protocol.ATTR_GPU, "")) if step in GPU_STEPS else None)
        if gpu is not None:
            gpu_lines = [e for e in _find(lines[: ev.line], re.compile(re.escape(protocol.LINE_PREFIX) + r" (?:gpu:|"
                         r"step=install_gpu_)")) if e.line != ev.line][-2:]  # fmt: skip
            return _gpu_diagnosis(gpu, ctx, (gpu_lines or context_lines) + [ev], protocol.FAILED, step,
                                  error or attrs.get(protocol.ATTR_GPU, ""))  # fmt: skip
        unsupported = _find(lines, UNSUPPORTED)
        if unsupported or step == "detect_distro":
            return Diagnosis(
                "unsupported-distro",
                "The bootstrap ran but refused the node's OS: it only knows Debian/Ubuntu, RHEL-like, "
                "SUSE, COS and Fedora CoreOS (by /etc/os-release ID and ID_LIKE).",
                unsupported[-1:] + [ev], "Use an image from `kubegce images list`, or one whose /etc/os-release has "
                "ID_LIKE debian, rhel or suse: " + _edit_cmd(ctx, "spec.image=rocky-linux-cloud/rocky-linux-9"),
                "failed", step, error,
            )  # fmt: skip
        downloads = [e for e in _find(lines[: ev.line], DOWNLOAD)]
        if step in DOWNLOAD_STEPS or downloads:
            return Diagnosis(
                "download-failed",
                f"The bootstrap failed in step {step or '?'} while downloading or verifying a binary: the node "
                "could not reach the asset source, or a file's sha256 did not match.",
                (downloads[-2:] or context_lines) + [ev],
                "Give the nodes egress (an external IP or Cloud NAT) or serve the assets from a mirror: "
                + _cluster_cmd(ctx, "spec.assets.mirror=https://MIRROR")
                + f"; the next boot resumes: {reset}",
                "failed", step, error,
            )  # fmt: skip
        attr_error = (ctx.guest_attributes or {}).get(protocol.ATTR_ERROR, "")
        if protocol.ETCD_ADDRESS_MISMATCH in error or protocol.ETCD_ADDRESS_MISMATCH in attr_error:
            return Diagnosis(
                protocol.ETCD_ADDRESS_MISMATCH,
                "A recreated control plane found its etcd member on its kept data disk, but the member, its "
                "peers and its certificates name another address than this instance has: it was recreated "
                "without keeping its internal IP (its group has no stateful policy for nic0). It refused to "
                "start etcd rather than bring up a member its peers do not know.",
                evidence,
                f"Make the group keep its internal IPs (`kubegce update cluster {_cluster_name(ctx)} --yes` "
                "adds the stateful policy in place), then give the instance its recorded address back, or "
                "remove the member (`etcdctl member remove`) and clear its disk so it joins as a new member; "
                f"then {reset}",
                "failed", step, error or attr_error,
            )  # fmt: skip
        restore = next((c for c in RESTORE_CAUSES if c in error or c in attr_error), None)
        if restore is not None:
            what = RESTORE_CAUSES[restore]
            return Diagnosis(
                restore,
                f"This control plane was restoring etcd from a backup (`kubegce restore etcd`) and refused it: {what}",
                evidence,
                f"Restore another backup (`kubegce get backups {_cluster_name(ctx)}`, then `kubegce restore etcd "
                f"{_cluster_name(ctx)} --backup ID --yes`: a new round replaces this control plane)",
                "failed", step, error or attr_error,
            )  # fmt: skip
        if step in JOIN_STEPS:
            return Diagnosis(
                "join-failed",
                f"The node installed everything but could not join the cluster (step {step}): it could not "
                "fetch its join secrets from the state store, or kubeadm could not reach the API endpoint.",
                evidence,
                "Check that the node's service account can read the cluster's objects in the state bucket "
                "(docs/state-store.md) and that the control plane is up (`kubegce validate cluster "
                f"{ctx.cluster or 'CLUSTER'}`); then {reset}",
                "failed", step, error,
            )  # fmt: skip
        return Diagnosis(
            "bootstrap-failed",
            f"The bootstrap failed in step {step or '?'}: {error or 'see the evidence'}. It records each finished "
            "step, so the next boot resumes where it stopped.",
            evidence,
            f"Fix the cause shown, then reboot to resume: {reset} (see the whole log with "
            f"`gcloud compute instances get-serial-port-output {ctx.instance} --zone {ctx.zone}`)",
            "failed", step, error,
        )  # fmt: skip

    # 4. cloud-init failed
    ci_errors = [e for p in CLOUD_INIT_ERRORS for e in _find(lines, p) if not CLOUD_INIT_NOISE.search(e.text)]
    ci_errors.sort(key=lambda e: e.line)
    joined = last is not None and last[1].group("phase") == protocol.JOINED
    if ci_errors:
        modules = sorted({m.group("module") for e in ci_errors for p in CLOUD_INIT_ERRORS[1:3]
                          if (m := p.search(e.text)) and m.groupdict().get("module")})  # fmt: skip
        where = f" (modules: {', '.join(modules)})" if modules else ""
        state = "The node joined, but" if joined else "cloud-init reported errors and"
        return Diagnosis(
            "cloud-init-error",
            f"{state} cloud-init could not apply the user-data{where}; a cloud-config part is invalid or its "
            "commands failed. `cloud-init status --long` on the node may still say done.",
            ci_errors[:5],
            "Check the parts offline with `cloud-init schema --config-file PART` and fix or remove them: "
            + _edit_cmd(ctx, "spec.bootstrap.additionalUserData[N].content=..."),
            "joined" if joined else "",
        )  # fmt: skip

    # 5. finished (a control plane's backup job may still be failing)
    if joined or done:
        ev = last[0] if joined and last else done[-1]
        gpu_attr = (ctx.guest_attributes or {}).get(protocol.ATTR_GPU, "")
        gpu = gpu_cause(gpu_attr)
        if gpu is not None:  # joined, yet its driver reports a cause: not ok
            return _gpu_diagnosis(gpu, ctx, [ev], protocol.JOINED, "", gpu_attr[:300])
        backup = (ctx.guest_attributes or {}).get(protocol.ATTR_BACKUP, "")
        cause = next((c for c in BACKUP_CAUSES if backup.startswith(c + ":")), None)
        if cause is not None:
            return Diagnosis(
                cause,
                f"The node joined, but its etcd backup job fails: {backup[len(cause) + 1 :].strip()[:300]}. "
                + BACKUP_CAUSES[cause],
                [ev],
                f"Then check with `kubegce backup etcd {_cluster_name(ctx)}` (docs/disaster-recovery.md)",
                "joined", "", backup[:300],
            )  # fmt: skip
        return Diagnosis("ok", "The bootstrap finished: the node reported phase joined.", [ev], "", "joined")

    # 6. started, not finished
    if last is not None:
        ev, m = last
        return Diagnosis(
            "still-running",
            f"The bootstrap is running: its last phase is {m.group('phase')} and it has neither joined nor failed.",
            [ev],
            f"Wait and watch: kubegce validate cluster {ctx.cluster or 'CLUSTER'} --wait 10m",
            m.group("phase"),
        )  # fmt: skip

    runner_none = _find(lines, RUNNER_NONE)
    runner_start = _find(lines, RUNNER_START)
    cloud_init_ran = bool(_find(lines, CLOUD_INIT))
    image = ctx.image
    # 7. the metadata was put where this image's software does not look
    if md is not None:
        has_ud = "user-data" in md
        has_ss = "startup-script" in md or "startup-script-url" in md
        no_cloud_init = (image is not None and not image.cloud_init and not image.ignition) or (
            image is None and not cloud_init_ran and bool(runner_start)
        )
        if has_ud and not has_ss and runner_none and no_cloud_init:
            what = f"{image.label} has" if image else "the log shows"
            return Diagnosis(
                "no-init-channel",
                f"The instance carries its bootstrap in user-data, but {what} no cloud-init to read it, and the "
                "guest agent found no startup-script: nothing ran. (This is how kOps nodes on RHEL, Rocky, "
                "CentOS, Alma and Debian images failed.)",
                runner_none,
                "Send the bootstrap by startup-script: " + _edit_cmd(ctx, "spec.bootstrap.channel=auto"),
            )  # fmt: skip
        if has_ss and not has_ud and image is not None and not image.guest_agent:
            return Diagnosis(
                "no-init-channel",
                f"The instance carries its bootstrap in startup-script, but {image.label} has no guest agent to "
                "run it.",
                _find(lines, CLOUD_INIT)[-1:],
                "Send the bootstrap by user-data: " + _edit_cmd(ctx, "spec.bootstrap.channel=auto"),
            )  # fmt: skip
    # 8. nothing of ours ever ran
    if runner_none or runner_start or cloud_init_ran or (ctx.guest_attributes == {} and not lines):
        hint = (
            " The runner found no startup-script; if the instance has user-data and its image has no cloud-init, "
            "that is no-init-channel: pass --metadata (or use `diagnose instance`) to tell."
            if runner_none and md is None
            else ""
        )
        return Diagnosis(
            "bootstrap-not-started",
            "The guest software ran but the kubegce bootstrap never reported (no `kubegce-boot:` line and no "
            "guest attribute)." + hint,
            (runner_none or runner_start or _find(lines, CLOUD_INIT))[-3:],
            f"Check the instance's metadata (`gcloud compute instances describe {ctx.instance} --zone {ctx.zone} "
            "--format='value(metadata)'`): it needs enable-guest-attributes=TRUE and a startup-script or "
            f"user-data made by kubegce; re-render with `kubegce update cluster {ctx.cluster or 'CLUSTER'} --yes`",
        )  # fmt: skip
    errorish = _find(lines, ERRORISH)[-5:]
    return Diagnosis(
        "unknown",
        "kubegce does not recognise this log: it shows neither the guest agent, cloud-init nor the bootstrap. "
        "The last error-looking lines are shown.",
        errorish or [Evidence(len(lines), lines[-1])] if lines else [],
        "Read the whole console: gcloud compute instances get-serial-port-output "
        f"{ctx.instance} --zone {ctx.zone}",
    )  # fmt: skip
