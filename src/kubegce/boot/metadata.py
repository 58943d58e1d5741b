"""Instance metadata for one instance group, with GCE's size limits checked before anything is written."""

from __future__ import annotations

import re

from kubegce.boot.channel import ChannelDecision
from kubegce.boot.render import NODE_CONFIG_KEY, BootPayload

MAX_VALUE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 512 * 1024
KEY_RE = re.compile(r"[a-zA-Z0-9_-]{1,127}")  # matched as a whole string


class MetadataError(Exception):
    pass


def build_metadata(
    *,
    cluster_name: str,
    group_name: str,
    plan: ChannelDecision,
    payload: BootPayload,
    ssh_public_key: str | None,
) -> dict[str, str]:
    items: dict[str, str] = {
        "cluster-name": cluster_name,
        "kubegce-instance-group": group_name,
        "kubegce-boot-channel": plan.metadata_channel,
        "enable-guest-attributes": "TRUE",
        f"{NODE_CONFIG_KEY}-sha256": payload.node_config.sha256,
    }
    if not payload.config_url:  # no bucket nodes can read: the (non-secret) config travels here
        items[NODE_CONFIG_KEY] = payload.node_config.text
    if payload.startup_script is not None:
        items["startup-script"] = payload.startup_script
    if payload.user_data is not None:
        items["user-data"] = payload.user_data
    if ssh_public_key:
        items["ssh-keys"] = f"kubegce:{ssh_public_key.strip()}"
    check_limits(items, where=f"instancegroup {group_name}")
    return items


def check_limits(items: dict[str, str], *, where: str) -> None:
    total = 0
    for key, value in items.items():
        if not KEY_RE.fullmatch(key):
            raise MetadataError(f"{where}: metadata key {key!r} must match [a-zA-Z0-9_-], under 128 bytes")
        size = len(value.encode())
        if size > MAX_VALUE_BYTES:
            raise MetadataError(
                f"{where}: metadata value '{key}' is {size} bytes, over GCE's {MAX_VALUE_BYTES}-byte "
                "limit; shrink spec.bootstrap.additionalUserData (large files belong in a bucket)"
            )
        total += size + len(key.encode())
    if total > MAX_TOTAL_BYTES:
        raise MetadataError(
            f"{where}: instance metadata totals {total} bytes, over GCE's {MAX_TOTAL_BYTES}-byte limit; "
            "shrink spec.bootstrap.additionalUserData"
        )
