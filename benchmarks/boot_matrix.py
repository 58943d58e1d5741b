"""The boot lab matrix as a table: profile x channel -> bootstrap runs / reboot / time to `started`,
and what installCloudInit costs on the agent-only profile. Needs root (see `kubegce lab boot`).

    python benchmarks/boot_matrix.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from kubegce.lab.profiles import PROFILES
from kubegce.lab.run import LabMachine, lab_bundle, render_node_metadata
from kubegce.spec.models import BootChannel, UserDataPart

IMAGES = {
    "cloud-init+agent": "ubuntu-os-cloud/ubuntu-2404-lts-amd64",
    "agent-only": "rocky-linux-cloud/rocky-linux-9",
    "cloud-init-only": "kubegce-lab/cloud-init-only",
    "cos-like": "cos-cloud/cos-stable",
    "fcos-like": "fedora-coreos-cloud/fedora-coreos-stable",
}
CHANNELS = {
    "cloud-init+agent": ["auto", "startup-script", "user-data", "both"],
    "agent-only": ["auto", "user-data", "both"],
    "cloud-init-only": ["auto", "startup-script", "both"],
    "cos-like": ["auto", "user-data", "both"],
    "fcos-like": ["auto"],  # Ignition; startup-script is refused for Fedora CoreOS
}
CLOUD_CONFIG = UserDataPart(name="x.cfg", type="text/cloud-config",
                            content="#cloud-config\nruncmd:\n  - [sh, -c, 'echo ok > /var/lib/x']\n")  # fmt: skip


def row(profile: str, channel: str) -> dict[str, Any]:
    metadata, planned = render_node_metadata(lab_bundle(IMAGES[profile], channel=BootChannel(channel)))
    with LabMachine(PROFILES[profile], metadata) as m:
        first = m.boot()
        second = m.boot()
    return {
        "profile": profile, "channel": channel, "kubegce_channel": planned,
        "first_boot": ", ".join(f"{c}:{r}" for c, r in first.invocations) or "never runs",
        "runs": len(first.runs), "reboot": ", ".join(f"{c}:{r}" for c, r in second.invocations) or "-",
        "started_s": first.started_s, "boot_s": first.seconds, "phase": first.guest_attributes.get("phase", "-"),
    }  # fmt: skip


def install_cost(repeat: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"without": [], "installCloudInit": []}
    for _ in range(repeat):
        for key, kwargs in (
            ("without", {}),
            ("installCloudInit", {"parts": [CLOUD_CONFIG], "install_cloud_init": True}),
        ):
            metadata, _ = render_node_metadata(lab_bundle(IMAGES["agent-only"], **kwargs))  # type: ignore[arg-type]
            with LabMachine(PROFILES["agent-only"], metadata) as m:
                t0 = time.perf_counter()
                result = m.boot()
                wall = time.perf_counter() - t0
            assert result.guest_attributes.get("phase") == "joined", result.guest_attributes
            out[key].append(wall)
    return {k: round(statistics.median(v), 2) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [row(p, c) for p, chans in CHANNELS.items() for c in chans]
    cost = install_cost(args.repeat)
    if args.json:
        json.dump({"matrix": rows, "agent_only_boot_s": cost}, sys.stdout, indent=2)
        print()
        return
    cols = ["profile", "channel", "kubegce_channel", "first_boot", "runs", "reboot", "started_s", "phase"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    print(f"\nagent-only boot wall time, median of {args.repeat}: without {cost['without']} s, "
          f"with installCloudInit + a cloud-config part {cost['installCloudInit']} s")  # fmt: skip


if __name__ == "__main__":
    main()
