"""`kubegce images probe IMAGE`: boot a short-lived instance from a custom image, learn which of
the guest agent, cloud-init and Ignition run on it and what its /etc/os-release says, and record
the answer in the user catalog so that `auto` uses it. The instance (a one-instance MIG and its
template) is always deleted, also on Ctrl-C."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubegce.boot import protocol
from kubegce.boot.render import HEADER_MARK, shell_assign, template
from kubegce.cloud.gce.client import ComputeClients
from kubegce.cloud.gce.instances import InstanceView, guest_attributes
from kubegce.cloud.gce.target import GceTarget
from kubegce.cloud.graph import ResourceKey
from kubegce.cloud.names import gce_name
from kubegce.errors import UserError
from kubegce.images.catalog import ResolvedImage, package_manager_of_tools

NAMESPACE = protocol.PROBE_NAMESPACE


def probe_script(channel: str) -> str:
    return template("probe.sh").replace(HEADER_MARK, shell_assign("KUBEGCE_PROBE_CHANNEL", channel), 1)


def probe_metadata() -> dict[str, str]:
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    mime = MIMEMultipart("mixed")
    mime.attach(MIMEText(probe_script("user-data"), "x-shellscript", "us-ascii"))
    mime.set_boundary("==kubegce-probe==")
    return {
        "startup-script": probe_script("startup-script"),
        "user-data": mime.as_string(),
        "enable-guest-attributes": "TRUE",
        "kubegce-probe": "1",
    }


@dataclass
class ProbeResult:
    startup_script: bool
    user_data: bool
    os_release: dict[str, str] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)

    @classmethod
    def from_attributes(cls, attrs: dict[str, str]) -> ProbeResult:
        os_release = dict(part.split("=", 1) for part in attrs.get("os-release", "").split(";") if "=" in part)
        return cls(
            startup_script=attrs.get("startup-script") == "ran",
            user_data=attrs.get("user-data") == "ran",
            os_release={k: v.strip('"') for k, v in os_release.items()},
            tools=[t for t in attrs.get("tools", "").split(";") if t],
        )

    def catalog_entry(self, image: ResolvedImage) -> dict[str, Any]:
        tools = set(self.tools)
        pm = package_manager_of_tools(self.tools)
        return {
            "project": image.project,
            "os": self.os_release.get("ID", "unknown"),
            "version": self.os_release.get("VERSION_ID", ""),
            "families": [image.family] if image.family else [],
            "image_prefixes": [image.name] if image.name else [],
            "licenses": [],
            "cloud_init": self.user_data,
            "guest_agent": self.startup_script,
            "ignition": "ignition" in tools and not (self.user_data or self.startup_script),
            "package_manager": pm,
            "read_only_root": "rpm-ostree" in tools,
            "note": f"probed by kubegce on {time.strftime('%Y-%m-%d')}",
        }


def probe_image(clients: ComputeClients, project: str, zone: str, image: ResolvedImage, *,
                timeout_s: float = 600.0, poll_s: float = 5.0, settle_s: float = 60.0,
                log: Callable[[str], None] = lambda _m: None) -> ProbeResult:  # fmt: skip
    suffix = hashlib.sha256(f"{image.source_image}{time.time()}".encode()).hexdigest()[:6]
    name = gce_name("kubegce-probe", suffix)
    target = GceTarget(clients, project, f"probe-{suffix}")
    template_key = ResourceKey("instance_template", "global", name)
    mig_key = ResourceKey("instance_group_manager", zone, name)
    items = [{"key": k, "value": v} for k, v in probe_metadata().items()]
    body = {
        "name": name,
        "description": target.marker,
        "properties": {
            "machineType": "e2-small",
            "disks": [{"boot": True, "autoDelete": True, "type": "PERSISTENT",
                       "initializeParams": {"sourceImage": image.source_image, "diskSizeGb": "20"}}],
            "networkInterfaces": [{"network": f"projects/{project}/global/networks/default",
                                   "accessConfigs": [{"name": "external-nat", "type": "ONE_TO_ONE_NAT"}]}],
            "metadata": {"items": items},
            "labels": {"kubegce-probe": suffix},
            "scheduling": {"preemptible": False},
        },
    }  # fmt: skip
    mig = {"name": name, "description": target.marker, "baseInstanceName": name, "targetSize": 1,
           "instanceTemplate": f"projects/{project}/global/instanceTemplates/{name}"}  # fmt: skip
    try:
        log(f"creating probe instance group {name} in {zone} from {image.source_image}")
        target.create(template_key, body)
        target.create(mig_key, mig)
        deadline = time.monotonic() + timeout_s
        first_report: float | None = None
        attrs: dict[str, str] = {}
        while time.monotonic() < deadline:
            instance = _instance_of(clients, project, zone, name)
            if instance is not None:
                view = InstanceView(instance, zone, "", "", "", "")
                attrs = guest_attributes(clients, project, view, NAMESPACE)
            reported = {k for k in ("startup-script", "user-data") if attrs.get(k) == "ran"}
            if reported and first_report is None:
                first_report = time.monotonic()
                log(f"probe reported: {', '.join(sorted(reported))}")
            if len(reported) == 2 or (first_report is not None and time.monotonic() - first_report > settle_s):
                break
            time.sleep(poll_s)
        if not attrs:
            raise UserError(
                f"the probe instance of {image.ref} reported nothing in {int(timeout_s)} s: the image runs neither "
                "the guest agent's startup-script nor cloud-init's user-data (Ignition images need "
                "channel user-data with an Ignition config); pin spec.bootstrap.channel yourself"
            )
        return ProbeResult.from_attributes(attrs)
    finally:
        log(f"deleting probe instance group {name}")
        for key in (mig_key, template_key):
            try:
                target.delete(key)
            except Exception as exc:  # report and go on: never leave the other one behind
                log(f"could not delete {key}: {exc}; delete it by hand")


def _instance_of(clients: ComputeClients, project: str, zone: str, mig: str) -> str | None:
    request = clients.compute.ListManagedInstancesInstanceGroupManagersRequest(
        project=project, zone=zone, instance_group_manager=mig
    )
    for managed in clients.instance_group_managers.list_managed_instances(request=request):
        return str(managed.instance).rsplit("/", 1)[-1]
    return None


def record(path: Path, entry: dict[str, Any]) -> None:
    """Add or replace the entry for this image in the user catalog (YAML)."""
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    entries = list((data or {}).get("entries", []))

    def same(e: dict[str, Any]) -> bool:
        return bool(e.get("project") == entry["project"] and e.get("families") == entry["families"]
                    and e.get("image_prefixes") == entry["image_prefixes"])  # fmt: skip

    entries = [e for e in entries if not same(e)] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"entries": entries}, sort_keys=False))
