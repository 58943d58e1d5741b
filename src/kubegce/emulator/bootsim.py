"""How emulated instances "boot": which init program would read which metadata key, and the
serial console lines and guest attributes that follow.

This is a simulation for offline development and demos, not the boot lab: it decides from the
image's catalog profile (found by its licenses or family, as kubegce does) which of cloud-init,
the guest agent and Ignition exist, and replays the log lines those programs print. The
bootstrap's own work (downloads, kubeadm) is not run; its phases are replayed up to
``outcome`` and every such line is marked as simulated.

A GPU group's boot (its node config has KUBEGCE_GPU=1) replays lib/gpu.sh's steps too: the gpu
guest attribute says ``installing VERSION``, then ``ready VERSION``; a failure injected for the
group (POST /_emulator/gpu-failure, :attr:`BootSimulator.gpu_failures`) stops the boot at
install_gpu_driver (install_gpu_toolkit for gpu-toolkit) with ``CAUSE: why`` in the phase line and
the error and gpu attributes, as the real bootstrap reports it.
"""

from __future__ import annotations

import base64
import email
import hashlib
import json
import re
import shlex
import time
from collections.abc import Callable
from typing import Any

from kubegce.boot import protocol
from kubegce.emulator.api_error import ApiError
from kubegce.images.catalog import Catalog, ImageProfile, InitPrograms, package_manager

PHASES = protocol.PROGRESS_PHASES
BASE = "https://compute.googleapis.com/compute/v1/"
# the version a node reports when its config names only a branch (what NVIDIA's 580 branch installs)
BRANCH_VERSIONS = {"580": "580.95.05"}  # (another branch reports BRANCH.00: a stand-in)
GROUP_KEY = "kubegce-instance-group"  # the instance metadata naming its group (boot/metadata.py)
# private keys of a boot's final attributes: the gpu attribute's earlier values, replayed by time
ATTR_GPU_INSTALLING = "_gpu_installing"
ATTR_GPU_READY = "_gpu_ready"
GPU_READY_LINE = re.compile(re.escape(protocol.LINE_PREFIX) + r" gpu: driver \S+ ready ")
# what the simulated bootstrap says for each cause (the shape of lib/gpu.sh's messages)
GPU_FAILURE_TEXT = {
    protocol.GPU_NO_DEVICE: "no NVIDIA PCI device (vendor 0x10de): the instance has no GPU attached, its template "
                            "asks for {count} {model} (simulated)",
    protocol.GPU_SECURE_BOOT: "secure boot is on, and this image's NVIDIA modules (profile {profile}) are unsigned "
                              "DKMS builds the kernel will refuse: turn secure boot off for the group's VMs, or use an "
                              "image with signed modules (Ubuntu, COS) (simulated)",
    protocol.GPU_KERNEL_HEADERS: "no kernel-devel-6.1.0-emulated for the running kernel 6.1.0-emulated in the image's "
                                 "repositories; boot a newer image of the family (the archive has the headers or "
                                 "modules for its kernel) (simulated)",
    protocol.GPU_DRIVER_INSTALL: "could not install the NVIDIA driver {version} (profile {profile}) (simulated)",
    protocol.GPU_DRIVER_LOAD: "nvidia-smi cannot reach the GPUs: NVIDIA-SMI has failed because it couldn't "
                              "communicate with the NVIDIA driver (simulated)",
    protocol.GPU_TOOLKIT: "could not install nvidia-container-toolkit (simulated)",
}  # fmt: skip


class BootSimulator:
    def __init__(self, boot_seconds: float = 4.0, outcome: str = "joined") -> None:
        self.boot_seconds = boot_seconds
        self.outcome = outcome  # "joined" | a phase name to stop at | "fail:<step>"
        self.catalog = Catalog.load()
        # group name -> a GPU cause its new boots fail with (POST /_emulator/gpu-failure)
        self.gpu_failures: dict[str, str] = {}
        self._settings: dict[str, dict[str, str]] = {}  # node config sha256 -> its settings
        self._bucket_settings: dict[str, dict[str, str]] = {}  # the same for configs in a state bucket ({}: none)
        # how a config in a local state bucket is read (set by the simulated cluster: emulator/backups.py
        # node_config); None: only configs in the instance's metadata are read
        self.fetch_config: Callable[[dict[str, Any]], dict[str, str]] | None = None

    # ------------------------------------------------------------------ public images
    def public_image(
        self, project: str, *, name: str | None = None, family: str | None = None
    ) -> dict[str, Any] | None:
        profile = None
        if family:
            profile = self.catalog.by_family(project, family)
        elif name:
            profile = self.catalog.by_image_name(project, name)
        if profile is None:
            return None
        fam = family or next((f for f in profile.families if name and name.startswith(f)), profile.families[0])
        image_name = name or f"{profile.image_prefixes[0]}v20261101"
        digest = int(hashlib.sha256(f"{project}/{image_name}".encode()).hexdigest()[:15], 16)
        return {
            "kind": "compute#image",
            "id": str(digest),
            "name": image_name,
            "family": fam,
            "status": "READY",
            "diskSizeGb": "10",
            "licenses": [f"{BASE}projects/{project}/global/licenses/{lic}" for lic in profile.licenses[:1]],
            "selfLink": f"{BASE}projects/{project}/global/images/{image_name}",
            "creationTimestamp": "2026-11-01T00:00:00.000-00:00",
        }

    def profile_of(self, image: dict[str, Any] | None) -> ImageProfile | None:
        if image is None:
            return None
        profile = self.catalog.by_license(tuple(image.get("licenses", [])))
        if profile is None and image.get("family"):
            profile = self.catalog.find_family_anywhere(image["family"])
        return profile

    # ------------------------------------------------------------------ status
    def elapsed(self, instance: dict[str, Any]) -> float:
        return time.time() - float(instance.get("_booted", time.time()))

    def status(self, instance: dict[str, Any]) -> str:
        if float(instance.get("_down_until", 0)) > time.time():  # preempted and stopped (emulator/spot.py)
            return "TERMINATED"
        e = self.elapsed(instance) / max(self.boot_seconds, 1e-6)
        if e < 0.05:
            return "PROVISIONING"
        if e < 0.1:
            return "STAGING"
        return "RUNNING"

    # ------------------------------------------------------------------ the boot story
    def story(
        self, instance: dict[str, Any], image: dict[str, Any] | None
    ) -> tuple[list[tuple[float, str]], dict[str, str]]:
        """(time-stamped serial lines, guest attributes at the end) for this instance's boot."""
        md = {i["key"]: i.get("value", "") for i in instance.get("metadata", {}).get("items", [])}
        programs, profile = self.init_programs(image)
        has_agent, has_cloud_init, has_ignition = programs.guest_agent, programs.cloud_init, programs.ignition
        host = instance["name"]
        lines: list[tuple[float, str]] = []
        attrs: dict[str, str] = {}
        t = 0.1
        label = profile.label if profile else "an unrecognised image"
        lines.append((t, f"kubegce-emulator: emulated boot of {host} from {label}"))
        ran = False
        guest_attrs = md.get("enable-guest-attributes", "").upper() == "TRUE"

        def bootstrap(prefix: str, script: str, t0: float) -> float:
            nonlocal ran
            if ran:
                lines.append((t0, prefix + protocol.already_done_line(_header(script))))
                return t0 + 0.1
            ran = True
            outcome = str(instance.get("_outcome") or self.outcome)  # fixed when the instance was made
            return self._bootstrap_lines(prefix, script, md, t0, lines, attrs if guest_attrs else {}, outcome,
                                         etcd=instance.get("_etcd") or {}, gpu=self.node_settings(instance),
                                         gpu_failure=str(instance.get("_gpu_failure") or ""))  # fmt: skip

        user_data = md.get("user-data", "")
        if has_ignition:
            lines.append((t, f"ignition[512]: Ignition {'3.4.0'} (emulated)"))
            if user_data.lstrip().startswith("{"):
                try:
                    cfg = json.loads(user_data)
                    src = cfg["storage"]["files"][0]["contents"]["source"]
                    script = base64.b64decode(src.split(",", 1)[1]).decode()
                    lines.append(
                        (
                            t + 0.1,
                            'ignition[512]: files: createFiles: op(1): [finished] writing file "/sysroot/opt/kubegce/bootstrap.sh"',
                        )
                    )
                    t = bootstrap("kubegce-bootstrap.sh[901]: ", script, t + 0.2)
                except (ValueError, KeyError, IndexError):
                    lines.append((t + 0.1, "ignition[512]: failed to fetch config: not a valid Ignition config"))
            else:
                lines.append((t + 0.1, "ignition[512]: no config provided by the platform"))
        if has_cloud_init:
            lines.append(
                (t, "cloud-init[401]: Cloud-init v. 22.4.2 running 'init-local' at (emulated). Up 3.2 seconds.")
            )
            lines.append(
                (t + 0.1, "cloud-init[455]: Cloud-init v. 22.4.2 running 'init' at (emulated). Up 4.1 seconds.")
            )
            from_user_data = _mime_bootstrap(user_data)
            if from_user_data is not None:
                t = bootstrap("cloud-init[612]: ", from_user_data, t + 0.2)
            lines.append(
                (
                    t,
                    "cloud-init[612]: Cloud-init v. 22.4.2 finished at (emulated). Datasource DataSourceGCE.  Up 9.8 seconds",
                )
            )
        if has_agent:
            lines.append((t, "google_metadata_script_runner[720]: Starting startup scripts (version 20211116.00)."))
            startup = md.get("startup-script")
            if startup:
                lines.append((t + 0.05, "google_metadata_script_runner[720]: Found startup-script in metadata."))
                t = bootstrap("google_metadata_script_runner[720]: startup-script: ", startup, t + 0.1)
                lines.append((t, "google_metadata_script_runner[720]: startup-script exit status 0"))
                lines.append((t + 0.01, "google_metadata_script_runner[720]: Finished running startup scripts."))
            else:
                lines.append((t + 0.05, "google_metadata_script_runner[720]: No startup scripts to run."))
        return lines, attrs

    def _bootstrap_lines(
        self, prefix: str, script: str, md: dict[str, str], t0: float, lines: list[tuple[float, str]],
        attrs: dict[str, str], outcome: str, *, etcd: dict[str, str] | None = None,
        gpu: dict[str, str] | None = None, gpu_failure: str = "",
    ) -> float:  # fmt: skip
        """``etcd``: what a control plane finds on its etcd disk (compute.migs.MigReconciler.etcd_boot);
        ``gpu``: the node config's settings (its KUBEGCE_GPU* say whether lib/gpu.sh runs);
        ``gpu_failure``: a GPU cause the driver install fails with."""
        want = _header(script)
        source = re.search(r"^KUBEGCE_CONFIG_SOURCE=(\S+)$", script, re.M)
        if source and not source.group(1).strip("'").startswith("metadata:"):
            # the config is in the state bucket, which the emulator does not serve: trust its hash
            lines.append((t0, f"{prefix}kubegce-emulator: node config from the state bucket is not fetched (emulated)"))
            config = ""
            want = hashlib.sha256(b"").hexdigest()
        else:
            config = md.get("kubegce-node-config", "")
        unit = self.boot_seconds / 6
        t = t0 + unit
        lines.append((t, prefix + protocol.phase_line(protocol.STARTED, 0)))
        attrs[protocol.ATTR_PHASE] = protocol.STARTED
        if hashlib.sha256(config.encode()).hexdigest() != want:
            lines.append((t + 0.01, f"{prefix}node config kubegce-node-config has sha256 "
                                    f"{hashlib.sha256(config.encode()).hexdigest()}, expected {want}; refusing it"))  # fmt: skip
            lines.append(
                (t + 0.02, prefix + protocol.phase_line(protocol.FAILED, 0, step="fetch_config", error="exit 1"))
            )
            attrs.update({protocol.ATTR_PHASE: protocol.FAILED, protocol.ATTR_ERROR: "fetch_config: exit 1"})
            return t + 0.03
        fail_step = outcome.split(":", 1)[1] if outcome.startswith("fail:") else ""
        fail_error = "exit 1 (simulated)"
        etcd = etcd or {}
        if etcd.get("state") == "mismatch" and not fail_step:
            fail_step = "kubeadm_join"
            fail_error = protocol.etcd_mismatch_error(etcd["recorded"], etcd["address"])
        elif etcd.get("state") == "failed" and not fail_step:
            fail_step = "kubeadm_join"  # a restore this control plane took part in failed (emulator/backups.py)
            fail_error = etcd.get("error") or fail_error
        lines.append(
            (t + 0.01, f"{prefix}kubegce-emulator: simulated bootstrap: nothing is downloaded and no kubeadm runs")
        )
        # a failure injected at a step shows at the next phase that step comes before
        steps = {protocol.PREPARED: "prepare_host", protocol.INSTALLED: "install_binaries",
                 protocol.JOINED: "kubeadm_join"}  # fmt: skip
        for i, phase in enumerate(PHASES[1:], start=1):
            t = t0 + unit * (1 + i)
            if phase == protocol.INSTALLED and is_gpu_node(gpu or {}):
                failed = self._gpu_lines(prefix, gpu or {}, gpu_failure, t - unit / 2, t0, lines, attrs)
                if failed is not None:
                    return failed
            if fail_step and steps[phase] == fail_step:
                lines.append((t, prefix + protocol.phase_line(protocol.FAILED, int(t - t0), step=fail_step,
                                                              error=fail_error)))  # fmt: skip
                attrs.update({protocol.ATTR_PHASE: protocol.FAILED, protocol.ATTR_ERROR: f"{fail_step}: {fail_error}"})
                return t
            if phase == protocol.JOINED and etcd.get("state") == "restore":
                lines.append((t - 0.01, prefix + protocol.etcd_restored_line(etcd["address"])))
            lines.append((t, prefix + protocol.phase_line(phase, int(t - t0))))
            attrs[protocol.ATTR_PHASE] = phase
            if phase == outcome:
                break
        if attrs.get(protocol.ATTR_PHASE) == protocol.JOINED:
            if "KUBEGCE_INSTALL_CLOUD_INIT=1" in config:
                lines.append((t + 0.01, prefix + protocol.step_line("install_cloud_init")))
            lines.append((t + 0.02, prefix + protocol.done_line(int(t - t0), want)))
        return t + 0.05

    def _gpu_lines(self, prefix: str, gpu: dict[str, str], cause: str, t: float, t0: float,
                   lines: list[tuple[float, str]], attrs: dict[str, str]) -> float | None:  # fmt: skip
        """lib/gpu.sh's install_gpu_driver and install_gpu_toolkit: the lines and the gpu attribute's
        values (``attrs``: the final one, and the earlier ones under private keys guest_attributes
        replays by time). The failed phase line's time when ``cause`` stops the boot, else None."""
        wanted = gpu.get("KUBEGCE_GPU_DRIVER_VERSION", "")
        count, model = gpu.get("KUBEGCE_GPU_COUNT", "1"), gpu.get("KUBEGCE_GPU_MODEL", "")
        lines.append((t, prefix + protocol.step_line("install_gpu_driver")))
        installing = f"{protocol.GPU_INSTALLING} {wanted or 'image'}"
        attrs[ATTR_GPU_INSTALLING] = installing
        attrs[protocol.ATTR_GPU] = installing
        lines.append((t + 0.01, f"{prefix}{protocol.LINE_PREFIX} gpu: {count} NVIDIA device(s); driver "
                                f"method={gpu.get('KUBEGCE_GPU_METHOD', '')} version={wanted or 'image'} "
                                f"modules={gpu.get('KUBEGCE_GPU_MODULES', '')} (simulated)"))  # fmt: skip
        text = GPU_FAILURE_TEXT.get(cause, "")
        if text:
            text = text.format(count=count, model=model, version=wanted or "image",
                               profile=gpu.get("KUBEGCE_GPU_PROFILE", "") or "none")  # fmt: skip
        if text and cause != protocol.GPU_TOOLKIT:
            return self._gpu_failed(prefix, "install_gpu_driver", cause, text, t + 0.02, t0, lines, attrs)
        version = reported_version(wanted)
        ready = f"{protocol.GPU_READY} {version}"
        lines.append(
            (t + 0.02, f"{prefix}{protocol.LINE_PREFIX} gpu: driver {version} ready ({count} {model}) (simulated)")
        )
        attrs[ATTR_GPU_READY] = ready
        attrs[protocol.ATTR_GPU] = ready
        if gpu.get("KUBEGCE_GPU_TOOLKIT") == "packages":
            lines.append((t + 0.03, prefix + protocol.step_line("install_gpu_toolkit")))
            if text:
                return self._gpu_failed(prefix, "install_gpu_toolkit", cause, text, t + 0.04, t0, lines, attrs)
        return None

    @staticmethod
    def _gpu_failed(prefix: str, step: str, cause: str, text: str, t: float, t0: float,
                    lines: list[tuple[float, str]], attrs: dict[str, str]) -> float:  # fmt: skip
        error = f"{cause}: {text}"
        lines.append((t, prefix + protocol.phase_line(protocol.FAILED, int(t - t0), step=step, error=error)))
        attrs.update({protocol.ATTR_PHASE: protocol.FAILED, protocol.ATTR_ERROR: f"{step}: {error}",
                      protocol.ATTR_GPU: error})  # fmt: skip
        return t

    def gpu_failure_of(self, properties: dict[str, Any]) -> str:
        """The GPU cause injected for the group an instance template's metadata names ("" for none)."""
        md = {i.get("key"): i.get("value", "") for i in properties.get("metadata", {}).get("items", [])}
        return self.gpu_failures.get(str(md.get(GROUP_KEY, "")), "")

    def node_settings(self, instance: dict[str, Any]) -> dict[str, str]:
        """The KUBEGCE_* settings of the node config the instance boots with: from its metadata, or
        (with :attr:`fetch_config`) from a local fake-gcs state bucket; {} when neither has it."""
        md = {i["key"]: i.get("value", "") for i in instance.get("metadata", {}).get("items", [])}
        config = md.get("kubegce-node-config", "")
        if config:
            sha = hashlib.sha256(config.encode()).hexdigest()
            if sha not in self._settings:
                self._settings[sha] = parse_settings(config)
            return self._settings[sha]
        if self.fetch_config is None:
            return {}
        script = md.get("startup-script", "") or _mime_bootstrap(md.get("user-data", "")) or ""
        sha = _header(script)
        if sha not in self._bucket_settings:  # fetched once per config, found or not (this runs on every read)
            self._bucket_settings[sha] = self.fetch_config(instance) if sha else {}
        return self._bucket_settings[sha]

    def serial_output(self, instance: dict[str, Any], image: dict[str, Any] | None) -> str:
        lines, _ = self.story(instance, image)
        now = self.elapsed(instance)
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(float(instance.get("_booted", time.time()))))
        return "".join(f"{stamp} {instance['name']} {text}\n" for at, text in lines if at * 1.0 <= now)

    def probe_attributes(self, instance: dict[str, Any], image: dict[str, Any] | None) -> dict[str, str]:
        """What kubegce's image probe reports on this image (see boot/templates/probe.sh)."""
        if self.elapsed(instance) < self.boot_seconds / 2:
            return {}
        programs, profile = self.init_programs(image)
        agent, cloud_init, ignition = programs.guest_agent, programs.cloud_init, programs.ignition
        attrs: dict[str, str] = {}
        if agent:
            attrs["startup-script"] = "ran"
        if cloud_init:
            attrs["user-data"] = "ran"
        if attrs:
            os_id = profile.os if profile else "linux"
            version = profile.version if profile else ""
            attrs["os-release"] = f"ID={os_id};VERSION_ID={version};"
            tools = [t for t, on in (("cloud-init", cloud_init), ("google_metadata_script_runner", agent),
                                     ("ignition", ignition)) if on]  # fmt: skip
            if profile and package_manager(profile.package_manager).tool:
                tools.append(package_manager(profile.package_manager).tool)
            attrs["tools"] = ";".join(tools) + ";"
        return attrs

    def init_programs(self, image: dict[str, Any] | None) -> tuple[InitPrograms, ImageProfile | None]:
        """(init programs, catalog profile) of an image: the catalog's ImageProfile when it places the
        image. Custom images in the emulator may declare their software with labels
        kubegce-emulator-{guest-agent,cloud-init,ignition}=true; others run the guest agent only."""
        profile = self.profile_of(image)
        if profile is not None:
            return profile.init_programs, profile
        labels = (image or {}).get("labels", {})
        if any(k.startswith("kubegce-emulator-") for k in labels):
            return InitPrograms(guest_agent=labels.get("kubegce-emulator-guest-agent") == "true",
                                cloud_init=labels.get("kubegce-emulator-cloud-init") == "true",
                                ignition=labels.get("kubegce-emulator-ignition") == "true"), None  # fmt: skip
        return InitPrograms(guest_agent=True, cloud_init=False, ignition=False), None

    def guest_attributes(
        self, instance: dict[str, Any], image: dict[str, Any] | None, query_path: str
    ) -> dict[str, Any]:
        if query_path.startswith(protocol.PROBE_NAMESPACE):
            probe = self.probe_attributes(instance, image)
            if not probe:
                raise ApiError(404, "notFound", f"The resource 'guestAttributes/{query_path}' was not found")
            items = [{"namespace": protocol.PROBE_NAMESPACE, "key": k, "value": v} for k, v in sorted(probe.items())]
            return {"kind": "compute#guestAttributes", "queryPath": query_path, "queryValue": {"items": items}}

        lines, final = self.story(instance, image)
        now = self.elapsed(instance)
        attrs: dict[str, str] = {}
        for at, text in lines:
            if at > now:
                break
            line = protocol.parse_phase_line(text)
            if line and line.phase in protocol.REPORTED_PHASES and final:
                attrs[protocol.ATTR_PHASE] = line.phase
                if line.phase == protocol.FAILED:
                    attrs[protocol.ATTR_ERROR] = final.get(protocol.ATTR_ERROR, "")
                    if line.step in protocol.GPU_STEPS:
                        attrs[protocol.ATTR_GPU] = final.get(protocol.ATTR_GPU, "")
            elif final and text.endswith(protocol.step_line("install_gpu_driver")):
                attrs[protocol.ATTR_GPU] = final.get(ATTR_GPU_INSTALLING, "")
            elif final and ATTR_GPU_READY in final and GPU_READY_LINE.search(text):
                attrs[protocol.ATTR_GPU] = final[ATTR_GPU_READY]
        if not attrs:
            raise ApiError(
                404,
                "notFound",
                f"The resource 'guestAttributes/{query_path}' of instance '{instance['name']}' was not found",
            )
        items = [{"namespace": protocol.ATTRIBUTE_NAMESPACE, "key": k, "value": v} for k, v in sorted(attrs.items())]
        return {"kind": "compute#guestAttributes", "queryPath": query_path or protocol.attribute_path(""),
                "queryValue": {"items": items}, "selfLink": instance["selfLink"] + "/getGuestAttributes"}  # fmt: skip


def is_gpu_node(settings: dict[str, str]) -> bool:
    return settings.get("KUBEGCE_GPU") == "1"


def reported_version(wanted: str) -> str:
    """The driver version nvidia-smi would report for spec.gpu.driverVersion (exact, or a branch's)."""
    if "." in wanted:
        return wanted
    branch = wanted or "580"
    return BRANCH_VERSIONS.get(branch, f"{branch}.00")


def parse_settings(config: str) -> dict[str, str]:
    """A node config's KEY='value' lines (arrays as their words joined by spaces)."""
    settings: dict[str, str] = {}
    for line in config.splitlines():
        name, eq, value = line.partition("=")
        if not eq or not re.fullmatch(r"KUBEGCE_[A-Z0-9_]+", name):
            continue
        try:
            settings[name] = " ".join(shlex.split(value.strip("()") if value.startswith("(") else value))
        except ValueError:
            continue
    return settings


def _header(script: str) -> str:
    m = re.search(r"^KUBEGCE_CONFIG_SHA256=(\S+)$", script, re.M)
    return m.group(1).strip("'") if m else ""


def _mime_bootstrap(user_data: str) -> str | None:
    if not user_data:
        return None
    if user_data.startswith("#!"):
        return user_data
    msg = email.message_from_string(user_data)
    for part in msg.walk():
        if part.get_content_type() == "text/x-shellscript":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and b"KUBEGCE_CONFIG_SHA256" in payload:
                return payload.decode()
    return None
