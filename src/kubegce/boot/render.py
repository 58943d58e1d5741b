"""Render what a node receives: node config, bootstrap scripts, MIME user-data, Ignition, metadata.

Values from the spec only ever reach shell through :func:`shlex.quote` (or base64), so names,
labels and taints cannot inject commands; tests check this with hostile values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from importlib import resources

from kubegce.backups.retention import duration_s
from kubegce.boot import protocol
from kubegce.boot.autoscaler import render_manifest as render_autoscaler_manifest
from kubegce.boot.channel import ChannelDecision
from kubegce.boot.gpu import device_plugin_settings, gpu_settings
from kubegce.boot.gpu import node_labels as gpu_node_labels
from kubegce.boot.kubeadm import API_HEALTH_PORT, API_PORT, KUBELET_PATCH_DIR, kubelet_patch, render_kubeadm_config
from kubegce.boot.storage import storage_settings
from kubegce.boot.versions import asset_urls, components
from kubegce.images.catalog import DEFAULT_CNI_BIN_DIR, ImageProfile, package_manager, package_managers
from kubegce.spec.models import BootChannel, ClusterBundle, InstanceGroup, Role
from kubegce.spec.validate import backup_retention_of
from kubegce.state.base import DirUrls

NODE_CONFIG_KEY = "kubegce-node-config"
HEADER_MARK = "# @@KUBEGCE_HEADER@@"
PROTOCOL_MARK = "# @@KUBEGCE_PROTOCOL@@"
INCLUDE_MARK = re.compile(r"^# @@KUBEGCE_INCLUDE (?P<path>lib/[a-z]+\.sh)@@$", re.M)
FRAGMENT_HEADER = re.compile(r"\A(?:# shellcheck (?:shell|disable)=[^\n]*\n)+")
IGNITION_SCRIPT_PATH = "/opt/kubegce/bootstrap.sh"
IGNITION_UNIT = "kubegce-bootstrap.service"


def template(name: str) -> str:
    return resources.files("kubegce.boot").joinpath("templates", name).read_text()


def bootstrap_fragments() -> list[str]:
    """The fragments (templates/lib/*.sh) bootstrap.sh includes, in its order."""
    return INCLUDE_MARK.findall(template("bootstrap.sh"))


def bootstrap_template() -> str:
    """bootstrap.sh with its fragments and the protocol names in place: one self-contained script
    (nodes get one file), still without its header."""

    def include(m: re.Match[str]) -> str:
        return FRAGMENT_HEADER.sub("", template(m.group("path"))).rstrip("\n")

    text = INCLUDE_MARK.sub(include, template("bootstrap.sh"))
    assert PROTOCOL_MARK in text
    return text.replace(PROTOCOL_MARK, protocol.shell_constants(), 1)


def shell_assign(name: str, value: str | int | list[str]) -> str:
    if isinstance(value, list):
        return f"{name}=(" + " ".join(shlex.quote(v) for v in value) + ")"
    return f"{name}={shlex.quote(str(value))}"


@dataclass(frozen=True)
class NodeConfig:
    """The non-secret settings a node fetches at boot, as a shell-quoted env file."""

    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class BackupUrls:
    """Where a control plane's etcd backup job reaches the store (lib/backup.sh)."""

    backups: DirUrls  # CLUSTER/secrets/backups/etcd/
    request: str  # reads the request object (?alt=media)
    request_object: str  # deletes it


def backup_settings(bundle: ClusterBundle, urls: BackupUrls | None) -> list[tuple[str, str | int | list[str]]]:
    """The backup job's settings: off unless backups are enabled and the store is one control
    planes can write (``urls``)."""
    b = bundle.cluster.spec.etcd.backup
    if urls is None or not b.enabled:
        return [("KUBEGCE_BACKUP_ENABLED", 0)]
    keep = backup_retention_of(b)
    return [("KUBEGCE_BACKUP_ENABLED", 1), ("KUBEGCE_BACKUP_INTERVAL", duration_s(b.interval) or 900),
            ("KUBEGCE_BACKUP_KEEP_ALL", keep.all_s), ("KUBEGCE_BACKUP_KEEP_HOURLY", keep.hourly_s),
            ("KUBEGCE_BACKUP_KEEP_DAILY", keep.daily_s), ("KUBEGCE_BACKUP_LIST_URL", urls.backups.list),
            ("KUBEGCE_BACKUP_OBJECT_URL", urls.backups.object), ("KUBEGCE_BACKUP_UPLOAD_URL", urls.backups.upload),
            ("KUBEGCE_BACKUP_REQUEST_URL", urls.request), ("KUBEGCE_BACKUP_REQUEST_OBJECT_URL", urls.request_object)]  # fmt: skip


@dataclass(frozen=True)
class RestoreUrls:
    """Where a control plane that boots with no etcd member looks for a restore (lib/restore.sh);
    the election URLs hold RESTORE_TOKEN_MARK, which the node replaces with the round's token."""

    marker: str  # reads CLUSTER/secrets/backups/etcd-restore (?alt=media)
    snapshots: str  # + ID%2Fsnapshot.db?alt=media reads a backup's snapshot
    election_upload: str  # create-only write of the round's leader object
    election: str  # reads it


def restore_settings(urls: RestoreUrls | None) -> list[tuple[str, str | int | list[str]]]:
    if urls is None:
        return [("KUBEGCE_RESTORE_URL", "")]
    return [("KUBEGCE_RESTORE_URL", urls.marker), ("KUBEGCE_RESTORE_SNAPSHOT_URL", urls.snapshots),
            ("KUBEGCE_RESTORE_ELECTION_UPLOAD_URL", urls.election_upload),
            ("KUBEGCE_RESTORE_ELECTION_URL", urls.election)]  # fmt: skip


def kubelet_patch_settings(group: InstanceGroup) -> list[tuple[str, str | int | list[str]]]:
    """A group's kubeletconfiguration patch and where it goes (lib/join.sh); none for most groups."""
    patch = kubelet_patch(group)
    if not patch:
        return []
    return [("KUBEGCE_KUBELET_PATCH_DIR", KUBELET_PATCH_DIR), ("KUBEGCE_KUBELET_PATCH_B64", base64.b64encode(patch.encode()).decode())]  # fmt: skip


def render_node_config(
    bundle: ClusterBundle,
    group: InstanceGroup,
    plan: ChannelDecision,
    profile: ImageProfile | None,
    *,
    api_endpoint: str,
    secrets_url: str = "",
    discovery_url: str = "",
    discovery_upload_url: str = "",
    election_url: str = "",
    election_upload_url: str = "",
    cni_bin_dir: str = DEFAULT_CNI_BIN_DIR,
    backups: BackupUrls | None = None,
    restore: RestoreUrls | None = None,
) -> NodeConfig:
    s = bundle.cluster.spec
    urls = asset_urls(s.networking.plugin, s.assets.mirror)
    control_planes = sum(g.spec.min_size for g in bundle.instance_groups if g.spec.role == Role.CONTROL_PLANE)
    read_only = profile.read_only_root if profile else False
    bin_dir = profile.bin_dir if profile else "/usr/local/bin"
    # The catalog's package manager and packages; an image it does not know gets every manager's
    # packages and its /etc/os-release decides on the node.
    pm = package_manager(profile.package_manager) if profile else None
    fallback: list[tuple[str, str | int | list[str]]] = [
        (f"KUBEGCE_PACKAGES_{m.name.upper()}", list(m.host_packages))
        for m in package_managers().values()
        if profile is None and m.host_packages
    ]
    kubeadm = render_kubeadm_config(bundle, group, api_endpoint, extra_labels=gpu_node_labels(group, profile))
    parts = components(s.kubernetes_version, s.assets.container_registry)
    values: list[tuple[str, str | int | list[str]]] = [
        ("KUBEGCE_CLUSTER_NAME", bundle.cluster.name),
        ("KUBEGCE_INSTANCE_GROUP", group.name),
        ("KUBEGCE_ROLE", "control-plane" if group.spec.role == Role.CONTROL_PLANE else "node"),
        ("KUBEGCE_FIRST_CONTROL_PLANE", 1 if control_planes <= 1 else "auto"),
        ("KUBEGCE_API_ENDPOINT", api_endpoint),
        ("KUBEGCE_API_LOAD_BALANCED", 1 if control_planes > 1 else 0),
        ("KUBEGCE_API_PORT", API_PORT),
        ("KUBEGCE_API_HEALTH_PORT", API_HEALTH_PORT),
        *backup_settings(bundle, backups),
        *restore_settings(restore),
        ("KUBEGCE_DISCOVERY_URL", discovery_url),
        ("KUBEGCE_DISCOVERY_UPLOAD_URL", discovery_upload_url),
        ("KUBEGCE_ELECTION_URL", election_url if control_planes > 1 else ""),
        ("KUBEGCE_ELECTION_UPLOAD_URL", election_upload_url if control_planes > 1 else ""),
        ("KUBEGCE_KUBERNETES_VERSION", s.kubernetes_version.lstrip("v")),
        ("KUBEGCE_CONTAINERD_VERSION", parts.containerd),
        ("KUBEGCE_CONTAINERD_CONFIG_VERSION", parts.containerd_config_version),
        ("KUBEGCE_SANDBOX_IMAGE", parts.pause_image),
        ("KUBEGCE_RUNC_VERSION", parts.runc),
        ("KUBEGCE_CNI_VERSION", parts.cni_plugins),
        ("KUBEGCE_KUBERNETES_URL", urls.kubernetes),
        ("KUBEGCE_CONTAINERD_URL", urls.containerd),
        ("KUBEGCE_RUNC_URL", urls.runc),
        ("KUBEGCE_CNI_URL", urls.cni),
        ("KUBEGCE_NETWORK_MANIFEST_URL", urls.network_manifest),
        ("KUBEGCE_NETWORK_MANIFEST_SHA256", s.assets.manifest_sha256.get(s.networking.plugin, "")),
        ("KUBEGCE_CLOUD_CONTROLLER_MANAGER", 1 if s.cloud_controller_manager else 0),
        ("KUBEGCE_CCM_MANIFEST_URL", urls.ccm_manifest),
        ("KUBEGCE_CCM_MANIFEST_SHA256", s.assets.manifest_sha256.get("ccm", "")),
        *storage_settings(s, group.spec.role),
        *gpu_settings(bundle, group, profile),
        *device_plugin_settings(bundle, group),
        ("KUBEGCE_BIN_DIR", bin_dir),
        ("KUBEGCE_CNI_BIN_DIR", cni_bin_dir),
        ("KUBEGCE_READ_ONLY_ROOT", 1 if read_only else 0),
        ("KUBEGCE_VOLATILE_ETC", 1 if profile and profile.volatile_etc else 0),
        ("KUBEGCE_PACKAGE_MANAGER", pm.name if pm else ""),
        ("KUBEGCE_HOST_PACKAGES", list(pm.host_packages) if pm else []),
        *fallback,
        ("KUBEGCE_SECRETS_URL", secrets_url),
        ("KUBEGCE_INSTALL_CLOUD_INIT", 1 if plan.install_cloud_init else 0),
        ("KUBEGCE_PLAN_CHANNEL", plan.channel.value),
        ("KUBEGCE_KUBEADM_CONFIG_B64", base64.b64encode(kubeadm.encode()).decode()),
        *kubelet_patch_settings(group),
        # spec.clusterAutoscaler: its manifest, for the first control plane to apply (docs/autoscaling.md)
        (
            "KUBEGCE_CLUSTER_AUTOSCALER_MANIFEST_B64",
            base64.b64encode(render_autoscaler_manifest(bundle).encode()).decode()
            if group.spec.role == Role.CONTROL_PLANE
            else "",
        ),  # fmt: skip
        ("KUBEGCE_USER_PART_NAMES", [p.name for p in plan.shell_parts]),
        (
            "KUBEGCE_USER_PART_B64",
            [base64.b64encode(p.content.encode()).decode() for p in plan.shell_parts],
        ),
    ]
    lines = ["# kubegce node config (no secrets); sourced by the bootstrap after its sha256 is checked"]
    lines += [shell_assign(k, v) for k, v in values]
    return NodeConfig("\n".join(lines) + "\n")


def render_bootstrap(config: NodeConfig, channel: str, config_url: str = "") -> str:
    """The bootstrap with its header: where the node config is (a metadata key, or an object URL in
    the state bucket) and its sha256; no config value and no secret."""
    header = "\n".join(
        [
            shell_assign("KUBEGCE_CONFIG_SOURCE", config_url or f"metadata:{NODE_CONFIG_KEY}"),
            shell_assign("KUBEGCE_CONFIG_SHA256", config.sha256),
            shell_assign("KUBEGCE_CHANNEL", channel),
        ]
    )
    text = bootstrap_template()
    assert HEADER_MARK in text
    return text.replace(HEADER_MARK, header, 1)


def render_mime(bootstrap: str | None, plan: ChannelDecision) -> str:
    """MIME multipart user-data: the bootstrap as a shell part (if any), then non-shell parts."""
    outer = MIMEMultipart("mixed")
    if bootstrap is not None:
        part = MIMEText(bootstrap, "x-shellscript", _charset(bootstrap))
        part.add_header("Content-Disposition", "attachment", filename="kubegce-bootstrap.sh")
        outer.attach(part)
    for p in plan.cloud_init_parts:
        maintype, _, subtype = p.type.partition("/")
        part = MIMEText(p.content, subtype or "plain", _charset(p.content))
        if maintype != "text":
            part.replace_header("Content-Type", f'{p.type}; charset="utf-8"')
        part.add_header("Content-Disposition", "attachment", filename=p.name)
        outer.attach(part)
    # A boundary derived from the content keeps the rendering (and template hashes) stable.
    digest = hashlib.sha256(((bootstrap or "") + "".join(p.content for p in plan.cloud_init_parts)).encode())
    outer.set_boundary(f"==kubegce-{digest.hexdigest()[:32]}==")
    return outer.as_string()


def _charset(text: str) -> str:
    return "us-ascii" if text.isascii() else "utf-8"


def render_ignition(bootstrap: str) -> str:
    unit = "\n".join(
        [
            "[Unit]",
            "Description=kubegce node bootstrap",
            "Wants=network-online.target",
            "After=network-online.target",
            "[Service]",
            "Type=oneshot",
            "RemainAfterExit=yes",
            f"ExecStart={IGNITION_SCRIPT_PATH}",
            "StandardOutput=journal+console",
            "StandardError=journal+console",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
    config = {
        "ignition": {"version": "3.3.0"},
        "storage": {
            "files": [
                {
                    "path": IGNITION_SCRIPT_PATH,
                    "mode": 0o755,
                    "overwrite": True,
                    "contents": {"source": "data:;base64," + base64.b64encode(bootstrap.encode()).decode()},
                }
            ]
        },
        "systemd": {"units": [{"name": IGNITION_UNIT, "enabled": True, "contents": unit}]},
    }
    return json.dumps(config, sort_keys=True)


@dataclass(frozen=True)
class BootPayload:
    """The metadata values that carry the bootstrap for one instance group."""

    startup_script: str | None
    user_data: str | None
    node_config: NodeConfig
    config_url: str = ""  # set when the config lives in the state bucket instead of metadata


def render_payload(config: NodeConfig, plan: ChannelDecision, config_url: str = "") -> BootPayload:
    def bootstrap(channel: str) -> str:  # every copy points at the same config source
        return render_bootstrap(config, channel, config_url)

    startup = bootstrap("startup-script") if plan.uses_startup_script else None
    user_data: str | None = None
    if plan.user_data_format == "ignition":
        user_data = render_ignition(bootstrap("ignition"))
    elif plan.user_data_format == "mime":
        bootstrap_in_user_data = plan.channel in (BootChannel.USER_DATA, BootChannel.BOTH)
        user_data = render_mime(bootstrap("user-data") if bootstrap_in_user_data else None, plan)
    return BootPayload(startup, user_data, config, config_url)
