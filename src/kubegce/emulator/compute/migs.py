"""Managed instance groups: keep a group's instances at its target size, and report its status."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from kubegce.cloud.names import url_tail
from kubegce.defaults import DEFAULT_NODE_MACHINE_TYPE
from kubegce.emulator.compute.errors import ApiError
from kubegce.emulator.compute.state import BASE, ComputeState, Key, parse_ref

INSTANCE_KIND = "compute#instance"


class MigReconciler:
    def __init__(self, state: ComputeState) -> None:
        self.state = state

    def members(self, mig: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.state.resources.values() if r.get("_mig") == mig["selfLink"]]

    def status(self, mig: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
        """The group's currentActions and status, as GCE reports them."""
        members = self.members(mig)
        creating = sum(1 for r in members if self.state.boot.status(r) != "RUNNING")
        actions = {"none": len(members) - creating, "creating": creating, "deleting": 0, "recreating": 0,
                   "refreshing": 0, "restarting": 0, "abandoning": 0, "verifying": 0,
                   "creatingWithoutRetries": 0}  # fmt: skip
        stable = creating == 0 and len(members) == mig["targetSize"]
        return actions, {"isStable": stable, "versionTarget": {"isReached": True}}

    def managed_instances(self, mig: dict[str, Any]) -> list[dict[str, Any]]:
        """listManagedInstances: each instance with the template it was created from (its version)."""
        boot = self.state.boot
        return [
            {"instance": r["selfLink"], "id": r["id"], "instanceStatus": boot.status(r),
             "currentAction": "NONE" if boot.status(r) == "RUNNING" else "CREATING",
             "version": {"instanceTemplate": r.get("_template", mig["instanceTemplate"])}}
            for r in sorted(self.members(mig), key=lambda r: str(r["name"]))
        ]  # fmt: skip

    def delete_instances(self, mig: dict[str, Any], urls: list[str]) -> None:
        """deleteInstances: remove these members and shrink the target size by as many."""
        st = self.state
        keys = []
        for url in urls:
            key = parse_ref(url)
            res = st.resources.get(key) if key else None
            if key is None or res is None or res.get("_mig") != mig["selfLink"]:
                raise ApiError(400, "invalid", f"Instance '{url_tail(url)}' is not a member of this group")
            keys.append(key)
        for key in keys:
            st.remove_instance(key)
        mig["targetSize"] = max(0, int(mig["targetSize"]) - len(keys))

    @staticmethod
    def zones(scope_path: str, mig: dict[str, Any]) -> list[str]:
        """Where the group's instances go: its zone, or a regional group's distributionPolicy zones."""
        policy = mig.get("distributionPolicy", {}).get("zones", [])
        if scope_path.startswith("regions/") and policy:
            return [str(z["zone"]).rstrip("/").rsplit("/", 1)[-1] for z in policy]
        return [scope_path.split("/")[1]]

    def remove_all(self, mig: dict[str, Any]) -> None:
        st = self.state
        for key in [k for k, r in st.resources.items() if r.get("_mig") == mig["selfLink"]]:
            st.remove_instance(key)

    def reconcile(self, project: str, scope_path: str, mig: dict[str, Any]) -> None:
        """Delete instances beyond the target size; create the missing ones from the group's template."""
        st = self.state
        members = sorted((k for k, r in st.resources.items() if r.get("_mig") == mig["selfLink"]), key=lambda k: k[3])
        want = int(mig["targetSize"])
        zones = self.zones(scope_path, mig)
        per_zone: dict[str, list[Key]] = {z: [k for k in members if k[1] == f"zones/{z}"] for z in zones}
        for _ in range(len(members) - want):  # shrink the fullest zone first (a zonal group has one)
            fullest = max(zones, key=lambda z: len(per_zone[z]))
            st.remove_instance(per_zone[fullest].pop())
        template_ref = parse_ref(mig["instanceTemplate"])
        template = st.resources.get(template_ref) if template_ref else None
        for i in range(len(members), want):
            suffix = hashlib.sha256(f"{mig['selfLink']}/{i}/{st.next_id()}".encode()).hexdigest()[:4]
            name = f"{mig['baseInstanceName']}-{suffix}"
            zone = min(zones, key=lambda z: len(per_zone[z]))  # EVEN: the emptiest zone, in order
            per_zone[zone].append((project, f"zones/{zone}", "instances", name))
            self.create(project, zone, mig, name, template, i)

    def create(self, project: str, zone: str, mig: dict[str, Any], name: str,
               template: dict[str, Any] | None, i: int) -> None:  # fmt: skip
        """One member in ``zone`` from the group's current template, with the metadata items GCE adds."""
        st = self.state
        props = json.loads(json.dumps((template or {}).get("properties", {})))
        instance: dict[str, Any] = {
            "name": name,
            "machineType": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{props.get('machineType', DEFAULT_NODE_MACHINE_TYPE)}",
            "disks": [
                {
                    "boot": True,
                    "initializeParams": d.get("initializeParams", {}),
                    "source": f"{BASE}projects/{project}/zones/{zone}/disks/{name}",
                }
                for d in props.get("disks", [])
            ],  # fmt: skip
            "networkInterfaces": [
                {**nic, "networkIP": f"10.0.{len(st.resources) % 250}.{(i % 250) + 2}", "name": "nic0"}
                for nic in props.get("networkInterfaces", [])
            ],
            "metadata": {
                **props.get("metadata", {}),
                "items": [
                    *[
                        m
                        for m in props.get("metadata", {}).get("items", [])
                        if m.get("key") not in ("instance-template", "created-by")
                    ],
                    {"key": "instance-template", "value": _tail(mig["instanceTemplate"])},
                    {"key": "created-by", "value": _tail(mig["selfLink"])},
                ],
            },  # fmt: skip
            "labels": props.get("labels", {}),
            "tags": props.get("tags", {}),
            "serviceAccounts": props.get("serviceAccounts", []),
            "description": "",
            "_mig": mig["selfLink"],
            "_booted": time.time(),
            "_template": mig["instanceTemplate"],
            "_outcome": st.boot.outcome,  # a later change of the injected outcome reaches new boots only
        }
        st.stamp(project, f"zones/{zone}", "instances", instance, kind=INSTANCE_KIND, labelled=True)
        st.resources[(project, f"zones/{zone}", "instances", name)] = instance
        st.start_metadata_server(project, zone, instance)


def _tail(url: str) -> str:
    """projects/P/... as GCE writes it in the instance-template and created-by metadata items."""
    tail = url_tail(url)
    return tail if tail.startswith("projects/") else url
