"""The boot lab, host side: render an instance's metadata with kubegce, then boot it (and reboot
it) in namespaces with the real guest software, and report what ran.

Nothing here changes the host: every boot runs in fresh mount/uts/ipc/net/pid namespaces with only
`lo`, in an overlay whose upper layer is a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kubegce.boot import protocol
from kubegce.boot.plans import render_cluster_boot
from kubegce.emulator.metadata import free_five_digit_port
from kubegce.errors import UserError
from kubegce.images.catalog import Catalog
from kubegce.lab.assets import MIRROR_URL, SECRETS_URL, manifest_sha256
from kubegce.lab.profiles import PROFILES, LabProfile, LogFn, lab_profile_of, profile_rootfs
from kubegce.spec import releases
from kubegce.spec.defaults import CreateClusterOptions, bundle_from_options
from kubegce.spec.models import BootChannel, BootstrapSpec, ClusterBundle, GuestAccelerator, Role, UserDataPart


def lab_catalog() -> Catalog:
    """The image catalog plus the images only the lab knows (lab/catalog.yaml)."""
    with resources.as_file(resources.files("kubegce.lab").joinpath("catalog.yaml")) as extra:
        return Catalog.load(extra)


def check_can_run() -> None:
    """Explain, with the fix, why this machine cannot run the lab."""
    if os.geteuid() != 0:
        raise UserError("boot lab: needs root (it mounts an overlay and creates namespaces); run it as root")
    for tool in ("unshare", "chroot", "mount", "ip"):
        if shutil.which(tool) is None:
            raise UserError(f"boot lab: `{tool}` is not installed (util-linux / iproute2)")
    probe = subprocess.run(["unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "true"],
                           capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0:
        raise UserError(
            f"boot lab: cannot create namespaces here ({probe.stderr.strip()}); a container may need --privileged"
        )
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise UserError("boot lab: the kernel has no overlay filesystem")


IGNITION_IN_PACKAGE = "usr/lib/dracut/modules.d/30ignition/ignition"


def ignition_binary() -> Path:
    """The real Ignition: KUBEGCE_IGNITION, Debian's `ignition` package, or the copy that
    scripts/install-test-tools.sh unpacks into .tools/."""
    candidates = [os.environ.get("KUBEGCE_IGNITION", ""), f"/{IGNITION_IN_PACKAGE}",
                  str(Path.cwd() / ".tools/root" / IGNITION_IN_PACKAGE),
                  str(Path(__file__).resolve().parents[3] / ".tools/root" / IGNITION_IN_PACKAGE)]  # fmt: skip
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise UserError("boot lab: the fcos-like profile needs Ignition: `apt-get install ignition`, "
                    "run scripts/install-test-tools.sh, or set KUBEGCE_IGNITION=/path/to/ignition")  # fmt: skip


def profile_for(image: Catalog, ref: str) -> LabProfile:
    """The lab profile that boots like image ``ref``, from its catalog profile."""
    p = image.resolve(ref).profile
    if p is None:
        raise UserError(f"boot lab: image {ref!r} is not in the catalog; pass --profile {'|'.join(PROFILES)}")
    lab = lab_profile_of(p)
    if lab is None:
        raise UserError(f"boot lab: no lab profile has cloud-init={p.cloud_init}, guest agent={p.guest_agent}, "
                        f"Ignition={p.ignition} and COS's file system={p.cos_file_system}; pass --profile")  # fmt: skip
    return lab


def lab_bundle(
    image: str,
    *,
    channel: BootChannel = BootChannel.AUTO,
    parts: list[UserDataPart] | None = None,
    install_cloud_init: bool = False,
    cluster_name: str = "lab.example.com",
    node_labels: dict[str, str] | None = None,
    taints: list[str] | None = None,
    machine_type: str | None = None,
    accelerators: list[tuple[str, int]] | None = None,
) -> ClusterBundle:
    """The lab's cluster for ``image``; ``machine_type`` and ``accelerators`` (GCE's
    guestAccelerators: (type, count)) make its node group a GPU group: g2-standard-8 comes with one
    nvidia-l4, n1-standard-8 takes e.g. [("nvidia-tesla-t4", 1)]."""
    bundle = bundle_from_options(
        CreateClusterOptions(name="lab.example.com", project="kubegce-lab", zones=["us-central1-a"], image=image)
    )
    s = bundle.cluster.spec
    s.assets.mirror = MIRROR_URL
    s.assets.manifest_sha256 = {k: manifest_sha256() for k in ("calico", "cilium", "ccm")}
    bundle.cluster.metadata.name = cluster_name  # may be hostile on purpose; the renderer must cope
    for g in bundle.instance_groups:
        g.spec.bootstrap = BootstrapSpec(channel=channel, install_cloud_init=install_cloud_init,
                                         additional_user_data=parts or [])  # fmt: skip
        if g.spec.role == Role.NODE:
            g.spec.node_labels = node_labels or {}
            g.spec.taints = taints or []
            if machine_type:
                g.spec.machine_type = machine_type
            g.spec.guest_accelerators = [GuestAccelerator(type=t, count=n) for t, n in accelerators or []]
    return bundle


def render_node_metadata(bundle: ClusterBundle, *, force: bool = True, role: Role = Role.NODE
                         ) -> tuple[dict[str, str], str]:  # fmt: skip
    """A group's instance metadata (the node group's by default), as `update` would put in its
    template; and the channel.

    Spec validation is skipped (hostile-value runs need names kubegce would refuse); everything
    else is kubegce's own path, with --force so that channels the image cannot run still render.
    """
    boot = render_cluster_boot(bundle, lab_catalog(), force=force, secrets_url=SECRETS_URL, validate=False)
    node = next(g for g in boot.groups if g.group.spec.role == role)
    return node.metadata, node.decision.metadata_channel


def _bootstrap_console(step: dict[str, Any]) -> str:
    """What a boot step that runs the bootstrap put on the console: the script runner's stdout, or
    a systemd unit's stdout and stderr (journal+console); nothing for the other steps."""
    if step.get("unit"):
        return str(step["stdout"]) + str(step["stderr"])
    return str(step["stdout"]) if "startup" in step["argv"] else ""


@dataclass
class PhaseEvent:
    phase: str
    seconds: float
    step: str = ""
    error: str = ""


@dataclass
class BootResult:
    raw: dict[str, Any]
    invocations: list[tuple[str, str]]  # (channel, run|already-done) for each time a channel started the bootstrap
    phases: list[PhaseEvent]
    guest_attributes: dict[str, str]
    runner_output: str
    started_s: float | None
    seconds: float
    calls: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[str]:
        """Channels whose invocation ran the bootstrap (not only saw the done marker)."""
        return [ch for ch, result in self.invocations if result == "run"]

    @property
    def runner_found_nothing(self) -> bool:
        return "No startup scripts to run." in self.runner_output


class LabMachine:
    """One lab instance: its disk (overlay upper layer) lives across boots."""

    def __init__(self, profile: LabProfile, metadata: dict[str, str], *, log: LogFn | None = None,
                 hostname: str = "lab-node-1", timeout: float = 120.0, kubernetes_version: str = releases.DEFAULT_VERSION,
                 gpus: int = 0, secure_boot: bool = False, nouveau: bool = False) -> None:  # fmt: skip
        """``gpus``: NVIDIA PCI devices the VM's /sys shows (the template's accelerators, or fewer to
        stand in a missing attachment); ``secure_boot``: UEFI's SecureBoot variable. Both hold on
        every boot of the machine (attributes can change them between boots). ``nouveau``: the kernel's
        nouveau driver binds the GPUs at boot (/sys/module/nouveau) until the disk's modprobe.d
        blacklists it."""
        check_can_run()
        self.gpus = gpus
        self.secure_boot = secure_boot
        self.nouveau = nouveau
        self.profile = profile
        self.metadata = metadata
        self.log = log or (lambda _m: None)
        self.ignition = str(ignition_binary()) if profile.ignition else ""
        self.lower = profile_rootfs(profile, self.log)
        self.dir = Path(tempfile.mkdtemp(prefix=f"kubegce-lab-{profile.name.replace('+', '-')}-"))
        self.hostname = hostname
        self.timeout = timeout
        self.kubernetes_version = kubernetes_version
        self.boots = 0
        self._starts_seen = 0
        self._ci_output_seen = 0
        self._calls_seen = 0
        self.guest_attributes: dict[str, dict[str, str]] = {}  # GCE keeps them across reboots

    def boot(self, *, fail_at: str = "", read_files: list[str] | None = None,
             overrides: dict[str, str] | None = None, gcs: dict[str, Any] | None = None,
             lab_env: dict[str, str] | None = None) -> BootResult:  # fmt: skip
        """One boot. ``gcs``: {"binary", "port", "data"} serves a state bucket inside the namespace."""
        self.boots += 1
        job_file = self.dir / f"job-{self.boots}.json"
        result_file = self.dir / f"result-{self.boots}.json"
        merged = self.dir / "merged"
        shutil.rmtree(self.dir / "work", ignore_errors=True)
        job = {
            "lower": str(self.lower), "upper": str(self.dir / "upper"), "work": str(self.dir / "work"),
            "merged": str(merged), "port": free_five_digit_port(), "hostname": self.hostname,
            "metadata": self.metadata, "fail_at": fail_at, "kubernetes_version": self.kubernetes_version,
            "result": str(result_file), "timeout": self.timeout, "read_files": read_files or [],
            "guest_attributes": self.guest_attributes, "overrides": overrides or {}, "gcs": gcs, "lab_env": lab_env or {},
            "cos_file_system": self.profile.cos_file_system,
            "ignition": self.ignition, "first_boot": self.boots == 1,
            "gpus": self.gpus, "secure_boot": self.secure_boot, "nouveau": self.nouveau,
        }  # fmt: skip
        job_file.write_text(json.dumps(job))
        cmd = ["unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "--propagation", "private",
               sys.executable, "-m", "kubegce.lab.inside", str(job_file)]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout * 3 + 60, env=env)
        if not result_file.exists():
            raise UserError(f"boot lab: the boot did not report (exit {proc.returncode}): {proc.stderr[-2000:]}")
        raw = json.loads(result_file.read_text())
        if "lab_error" in raw:
            raise UserError(f"boot lab: {raw['lab_error']}")
        return self._result(raw)

    def serial_log(self, result: BootResult) -> str:
        """The boot as the serial console shows it: cloud-init's output, then the runner's lines,
        with the syslog-style prefix the guest software's console lines carry."""
        stamp = "Nov 26 01:00:00"
        lines = []
        for step in result.raw["steps"]:  # Ignition runs first, in the initramfs
            if step["argv"][0] == "ignition":
                lines += [f"{stamp} {self.hostname} ignition[412]: {ln}" for ln in step["stdout"].splitlines()]
        for ln in result.raw.get("cloud_init_output_new", "").splitlines():
            lines.append(f"{stamp} {self.hostname} cloud-init[612]: {ln}")
        for step in result.raw["steps"]:
            if step.get("unit"):
                prefix = f"{str(step['argv'][0]).rsplit('/', 1)[-1]}[901]"
            else:
                prefix = "google_metadata_script_runner[760]"
            lines += [f"{stamp} {self.hostname} {prefix}: {ln}" for ln in _bootstrap_console(step).splitlines()]
        return "\n".join(lines) + "\n"

    def _result(self, raw: dict[str, Any]) -> BootResult:
        lines = [ln for ln in raw["invocations_log"].splitlines() if ln.strip()]
        new = lines[self._starts_seen :]
        self._starts_seen = len(lines)
        invocations = [(m.group(1), m.group(2)) for ln in new if (m := re.search(r"channel=(\S+) result=(\S+)", ln))]
        self.guest_attributes = raw["guest_attributes"]
        t0 = float(raw["t0"])
        runner = "".join(_bootstrap_console(s) for s in raw["steps"])
        ci_output = raw.get("cloud_init_output", "")
        raw["cloud_init_output_new"] = ci_output[self._ci_output_seen :]  # its log spans boots
        outputs = raw["cloud_init_output_new"] + runner  # cloud-init runs first
        self._ci_output_seen = len(ci_output)
        phases = []
        for ln in outputs.splitlines():
            if (line := protocol.parse_phase_line(ln)) is not None:
                phases.append(PhaseEvent(line.phase, 0.0, line.step, line.error))
        phase_path = "/" + protocol.attribute_path(protocol.ATTR_PHASE)
        puts = [r for r in raw["requests"] if r["method"] == "PUT" and r["path"].endswith(phase_path)]
        for event, put in zip([p for p in phases if p.phase != protocol.DONE], puts, strict=False):
            event.seconds = round(put["at"] - t0, 3)
        started = next((p.seconds for p in phases if p.phase == protocol.STARTED), None)
        last = max((float(r["at"]) for r in raw["requests"]), default=t0)
        all_calls = [ln for ln in raw.get("calls_log", "").splitlines() if ln]
        calls = all_calls[self._calls_seen :]  # the log lives on the node's disk across boots
        self._calls_seen = len(all_calls)
        return BootResult(
            raw=raw, invocations=invocations, phases=phases, guest_attributes=raw["guest_attributes"].get(protocol.ATTRIBUTE_NAMESPACE, {}),
            runner_output=runner, started_s=started,
            seconds=round(max(last - t0, sum(s["seconds"] for s in raw["steps"])), 3), calls=calls,
        )  # fmt: skip

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LabMachine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
