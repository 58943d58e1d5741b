"""A local Compute Engine: the REST subset kubegce uses, well enough for `google-cloud-compute`.

Served on 127.0.0.1 only. State lives in memory (optionally saved to a JSON file). What it does
not emulate is listed in docs/emulator.md: there are no VMs, networks or IAM; instances "boot"
by a simulation that writes the serial console lines and guest attributes the real guest
software and the kubegce bootstrap would.

Modules: `errors` (API errors), `state` (resources, operations, call log, faults), `routing`
(paths to handlers, lists, insert/delete/patch), `handlers` (one per collection, `HANDLERS`),
`migs` (managed instance group reconciliation).
"""

from __future__ import annotations

from kubegce.emulator.compute.errors import ApiError
from kubegce.emulator.compute.handlers import HANDLERS, Handler
from kubegce.emulator.compute.routing import ComputeApi
from kubegce.emulator.compute.state import BASE, CallLog, ComputeState, FaultConfig, parse_ref

__all__ = ["BASE", "HANDLERS", "ApiError", "CallLog", "ComputeApi", "ComputeState", "FaultConfig", "Handler",
           "parse_ref"]  # fmt: skip
