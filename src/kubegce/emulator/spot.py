"""Spot VMs in the emulator: GCE's preemption, driven by the admin API (``POST /_emulator/preempt``).

What GCE does when it preempts a Spot VM (cloud.google.com/compute/docs/instances/spot, "Preemption
process"): it records a ``compute.instances.preempted`` operation in the zone (the documented way
to find preemptions: ``gcloud compute operations list --filter operationType=compute.instances.preempted``),
sends the guest ACPI soft-off with 30 s to shut down, then applies the template's
``instanceTerminationAction``:

- DELETE: the VM is deleted; until capacity is back no instance exists and its managed instance
  group lists the member as CREATING; then the group recreates it (same name, a new id, a new boot
  disk; stateful disks and IPs kept) from the template it had (GCE's repair keeps the member's
  version unless the group's instanceLifecyclePolicy.forceUpdateOnRepair is YES), and it boots and
  joins again;
- STOP: the VM is stopped (TERMINATED) and keeps its disks; here it starts again once the capacity
  is back (whether GCE's group restarts or recreates a stopped member is not modelled further).

This is a model: ``downSeconds`` stands for the time until capacity returns (0: at once), and the
30 s notice is not waited out. The simulated cluster marks the node NotReady until the VM's new
boot joins (emulator/cluster.py).
"""

from __future__ import annotations

import time
from typing import Any

from kubegce.emulator.compute.migs import MigReconciler
from kubegce.emulator.compute.state import ComputeState

PREEMPTED_OPERATION = "compute.instances.preempted"


class PreemptError(Exception):
    """The instance cannot be preempted: ``code`` 404 (no such instance) or 400 (not a Spot VM)."""

    def __init__(self, code: int, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def preempt(st: ComputeState, zone: str, name: str, down_s: float = 0.0) -> dict[str, Any]:
    """Preempt the Spot VM ``name`` in ``zone``; returns the operation GCE records and the action."""
    with st.lock:
        key = next((k for k in st.resources if k[1:] == (f"zones/{zone}", "instances", name)), None)
        if key is None:
            raise PreemptError(404, f"The resource 'zones/{zone}/instances/{name}' was not found", "instance")
        res = st.resources[key]
        sched = res.get("scheduling") or {}
        if sched.get("provisioningModel") != "SPOT":
            raise PreemptError(400, f"instance {name} is not a Spot VM (scheduling.provisioningModel is "
                                    f"{sched.get('provisioningModel', 'STANDARD')}); only Spot VMs are preempted",
                               "instance")  # fmt: skip
        op = st.new_operation(key[0], key[1], PREEMPTED_OPERATION, res["selfLink"], str(res["id"]))
        st.operations[(key[0], key[1], op["name"])]["user"] = "system"
        action = str(sched.get("instanceTerminationAction") or "STOP")
        back = time.time() + down_s
        mig_key = next((k for k, r in st.resources.items()
                        if k[2] == "instanceGroupManagers" and r.get("selfLink") == res.get("_mig")), None)  # fmt: skip
        if action == "DELETE" and mig_key is not None:
            migs = MigReconciler(st)
            migs.repair_later(st.resources[mig_key], key, back)
            migs.repair_due()  # at once when downSeconds is 0
        elif action == "DELETE":
            st.remove_instance(key)  # not in a group: nothing recreates it
        else:
            res.update(_booted=back, _down_until=back)
        return {"operation": op["name"], "instanceTerminationAction": action}
