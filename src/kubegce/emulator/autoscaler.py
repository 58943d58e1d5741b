"""The cluster autoscaler's decision in the emulator (``POST /_emulator/autoscale``).

The emulator does not run the cluster autoscaler; this is a model of what it does to GCE once it
has decided: it resizes one zonal MIG to a size inside the ``--nodes=MIN:MAX:URL`` range it was
given (kubegce renders those: boot/autoscaler.py), with the same ``instanceGroupManagers.resize``
the autoscaler's GCE client calls (cloudprovider/gce/autoscaling_gce_client.go ResizeMig), so the
MIG's reconciler creates or deletes instances as for any resize. A size outside the range is
refused, as the autoscaler never asks for one (its node group's MinSize/MaxSize bound every
decision).
"""

from __future__ import annotations

from typing import Any

from kubegce.emulator.compute.handlers import HANDLERS
from kubegce.emulator.compute.state import ComputeState


class AutoscaleError(Exception):
    def __init__(self, code: int, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def autoscale(st: ComputeState, zone: str, name: str, size: int, low: int, high: int) -> dict[str, Any]:
    """Resize MIG ``name`` in ``zone`` to ``size`` within [low, high]; the resize's operation."""
    if low > high:
        raise AutoscaleError(400, f"min {low} is above max {high}: give the range of the MIG's --nodes flag", "min")
    if not low <= size <= high:
        raise AutoscaleError(400, f"size {size} is outside the MIG's --nodes range {low}:{high}; the cluster "
                                  "autoscaler never resizes a node group outside it", "size")  # fmt: skip
    with st.lock:
        key = next((k for k in st.resources if k[1:] == (f"zones/{zone}", "instanceGroupManagers", name)), None)
        if key is None:
            raise AutoscaleError(404, f"The resource 'zones/{zone}/instanceGroupManagers/{name}' was not found",
                                 "instanceGroupManager")  # fmt: skip
        migs = HANDLERS["instanceGroupManagers"]
        op = migs.verb(st, "POST", key[0], key[1], name, "resize", {}, {"size": str(size)})
        return {"operation": op["name"], "targetSize": size}
