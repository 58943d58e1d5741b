"""Which Kubernetes minors kubegce runs, and the components each one needs: data, in one place.

Upstream maintains the three newest minor releases (about 14 months each: kubernetes.io's
"Release History" and the kubernetes/website `releases/schedule.yaml`); kubegce creates clusters
only on those. Minors that have gone out of support stay known for the clusters that still run
them: such a cluster is refused nothing, warned on every plan, and can be rolled up one minor at a
time (`edit cluster --set spec.kubernetesVersion=1.N+1.x`, then `rolling-update cluster`) until it
is on a supported minor again. A minor kubegce does not know is refused.

CHECKED is the day this table was last compared with upstream. The patch versions are the newest
this session could confirm from published build metadata; run `scripts/check-versions.sh` on a
machine with internet access (it reads dl.k8s.io/release/stable-1.N.txt and each component's
published checksums) before a release of kubegce.

Per minor:
- ``pause``: kubeadm's ``PauseVersion`` for that minor (cmd/kubeadm/app/constants/constants.go);
  containerd's sandbox image is set to it, since kubeadm's preflight warns on any other and the
  kubelet would otherwise pull containerd's built-in default (pause:3.8 on containerd 1.7).
- ``containerd``: the runtime release line. Kubernetes 1.35 is the last minor whose kubelet
  supports containerd 1.x (the kubelet's CRI version check, KEP-4033 follow-up); from 1.36 the
  node gets containerd 2.x and its config version 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHECKED = "2026-12-05"


@dataclass(frozen=True)
class Minor:
    minor: int
    latest: str  # the newest patch release known on CHECKED
    end_of_life: str  # upstream's end-of-life date (YYYY-MM-DD)
    pause: str
    containerd: str
    runc: str
    cni_plugins: str

    @property
    def supported(self) -> bool:
        return self.end_of_life > CHECKED

    @property
    def containerd_major(self) -> int:
        return int(self.containerd.split(".", 1)[0])

    @property
    def containerd_config_version(self) -> int:
        """containerd 1.x reads config version 2; containerd 2.x reads version 3 (and migrates 2)."""
        return 3 if self.containerd_major >= 2 else 2


CONTAINERD_1 = "1.7.28"
CONTAINERD_2 = "2.2.5"
RUNC = "1.3.4"
CNI_PLUGINS = "1.9.1"

MINORS: tuple[Minor, ...] = (
    Minor(30, "1.30.14", "2025-06-28", "3.9", CONTAINERD_1, RUNC, CNI_PLUGINS),
    Minor(31, "1.31.14", "2025-10-28", "3.10", CONTAINERD_1, RUNC, CNI_PLUGINS),
    Minor(32, "1.32.13", "2026-02-28", "3.10", CONTAINERD_1, RUNC, CNI_PLUGINS),
    Minor(33, "1.33.13", "2026-06-28", "3.10", CONTAINERD_1, RUNC, CNI_PLUGINS),
    Minor(34, "1.34.11", "2026-10-27", "3.10.1", CONTAINERD_1, RUNC, CNI_PLUGINS),
    Minor(35, "1.35.8", "2027-02-28", "3.10.1", CONTAINERD_1, RUNC, CNI_PLUGINS),
    Minor(36, "1.36.4", "2027-06-28", "3.10.1", CONTAINERD_2, RUNC, CNI_PLUGINS),
    Minor(37, "1.37.0", "2027-10-28", "3.10.1", CONTAINERD_2, RUNC, CNI_PLUGINS),
)
BY_MINOR = {m.minor: m for m in MINORS}
SUPPORTED = tuple(m for m in MINORS if m.supported)
OLDEST_SUPPORTED, NEWEST = SUPPORTED[0], SUPPORTED[-1]
# The default is the newest supported minor but one, as kOps and GKE's regular channel do: a
# minor with a few patch releases behind it.
DEFAULT = SUPPORTED[-2] if len(SUPPORTED) > 1 else NEWEST
DEFAULT_VERSION = DEFAULT.latest

_VERSION = re.compile(r"\Av?1\.([0-9]{1,3})\.([0-9]{1,3})\Z")


def minor_of(version: str) -> Minor | None:
    """The table's entry for ``version`` (1.N.P, with or without a leading v), or None."""
    m = _VERSION.fullmatch(version)
    return BY_MINOR.get(int(m.group(1))) if m else None


def for_version(version: str) -> Minor:
    """The entry for a version validation accepted; the newest minor for anything else, so that
    rendering never fails on a version the validator already reported."""
    return minor_of(version) or NEWEST


def supported_range() -> str:
    return f"1.{OLDEST_SUPPORTED.minor} to 1.{NEWEST.minor}"


# The cluster autoscaler (kubernetes/autoscaler) releases one line per Kubernetes minor, built
# against that minor's libraries (cluster-autoscaler-1.N.P tags): per minor, the newest patch this
# session could confirm from the project's release notes (cluster-autoscaler-1.36.1, 1.35.2,
# 1.34.5 and 1.33.6 were published on 2026-07-23; 1.32.7 is the last of its line). A minor with
# no entry (1.37: no release confirmed on CHECKED; 1.30, 1.31) needs spec.clusterAutoscaler.image.
CLUSTER_AUTOSCALER_IMAGE = "autoscaling/cluster-autoscaler"
CLUSTER_AUTOSCALER: dict[int, str] = {32: "1.32.7", 33: "1.33.6", 34: "1.34.5", 35: "1.35.2", 36: "1.36.1"}


def cluster_autoscaler_version(version: str) -> str | None:
    """The cluster autoscaler release for Kubernetes ``version``'s minor, or None (none known)."""
    minor = minor_of(version)
    return CLUSTER_AUTOSCALER.get(minor.minor) if minor else None
