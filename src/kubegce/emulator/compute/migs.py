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
DISK_KIND = "compute#disk"
ETCD_DEVICE = "etcd"  # kubegce.cloud.model.ETCD_DEVICE_NAME


class MigReconciler:
    def __init__(self, state: ComputeState) -> None:
        self.state = state

    def members(self, mig: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.state.resources.values() if r.get("_mig") == mig["selfLink"]]

    def status(self, mig: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
        """The group's currentActions and status, as GCE reports them."""
        members = self.members(mig)
        busy = [r for r in members if self.state.boot.status(r) != "RUNNING"]
        recreating = sum(1 for r in busy if r.get("_action") == "RECREATING")
        creating = len(busy) - recreating
        actions = {"none": len(members) - len(busy), "creating": creating, "deleting": 0, "recreating": recreating,
                   "refreshing": 0, "restarting": 0, "abandoning": 0, "verifying": 0,
                   "creatingWithoutRetries": 0}  # fmt: skip
        stable = not busy and len(members) == mig["targetSize"]
        return actions, {"isStable": stable, "versionTarget": {"isReached": True}}

    def managed_instances(self, mig: dict[str, Any]) -> list[dict[str, Any]]:
        """listManagedInstances: each instance with the template it was created from (its version);
        a member the group is still repairing (a preempted Spot VM waiting for capacity) is CREATING
        with no instance status yet."""
        boot = self.state.boot
        listed = [
            {"instance": r["selfLink"], "name": r["name"], "id": r["id"], "instanceStatus": boot.status(r),
             "currentAction": "NONE" if boot.status(r) == "RUNNING" else r.get("_action", "CREATING"),
             "version": {"instanceTemplate": r.get("_template", mig["instanceTemplate"])}}
            for r in self.members(mig)
        ]  # fmt: skip
        listed += [{"instance": r["instance"], "name": r["name"], "currentAction": "CREATING",
                    "version": {"instanceTemplate": r["version"]}} for r in self.pending(mig)]  # fmt: skip
        return sorted(listed, key=lambda m: str(m["name"]))

    def pending(self, mig: dict[str, Any]) -> list[dict[str, Any]]:
        """Members the group recreates later (emulator/spot.py: a preempted Spot VM, DELETE)."""
        return [r for r in self.state.repairs if r["mig"] == mig["selfLink"]]

    def repair_due(self) -> None:
        """Create the pending members whose capacity is back, from the template they had."""
        st = self.state
        now = time.time()
        for r in [r for r in st.repairs if r["at"] <= now]:
            st.repairs.remove(r)
            mig = next((m for m in st.resources.values() if m.get("selfLink") == r["mig"]), None)
            if mig is not None:
                self.create_instance(r["project"], r["scope"], mig, r["name"], keep=r["keep"], version=r["version"])

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
        for i in range(len(members) + len(self.pending(mig)), want):  # (a pending repair is a member)
            suffix = hashlib.sha256(f"{mig['selfLink']}/{i}/{st.next_id()}".encode()).hexdigest()[:4]
            name = f"{mig['baseInstanceName']}-{suffix}"
            zone = min(zones, key=lambda z: len(per_zone[z]))  # EVEN: the emptiest zone, in order
            per_zone[zone].append((project, f"zones/{zone}", "instances", name))
            self.create_instance(project, f"zones/{zone}", mig, name)

    def create_instance(
        self,
        project: str,
        scope_path: str,
        mig: dict[str, Any],
        name: str,
        *,
        keep: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """A member from the group's current template (or ``version``, the template a repaired
        member keeps). ``keep``: what a recreated instance keeps under the stateful policy
        ({"disks": {deviceName: disk}, "networkIP": ip})."""
        st = self.state
        keep = keep or {}
        version = version or mig["instanceTemplate"]
        template_ref = parse_ref(version)
        template = st.resources.get(template_ref) if template_ref else None
        props = json.loads(json.dumps((template or {}).get("properties", {})))
        zone = scope_path.split("/")[1]
        preserved = preserved_state(mig)
        disks: list[dict[str, Any]] = []
        for d in props.get("disks", []):
            device = d.get("deviceName") or ("boot" if d.get("boot") else f"disk-{len(disks)}")
            disk = keep.get("disks", {}).get(device)
            if disk is None:
                disk_name = name if d.get("boot") else f"{name}-{device}"
                disk = {"name": disk_name, "sizeGb": str(d.get("initializeParams", {}).get("diskSizeGb", "10")),
                        "type": d.get("initializeParams", {}).get("diskType", "pd-balanced"),
                        "status": "READY"}  # fmt: skip
                if d.get("boot") and d.get("initializeParams", {}).get("sourceImage"):
                    disk["sourceImage"] = d["initializeParams"]["sourceImage"]
                st.stamp(project, scope_path, "disks", disk, kind=DISK_KIND, labelled=False)
                st.resources[(project, scope_path, "disks", disk_name)] = disk
            stateful = device in preserved.get("disks", {})
            rule = preserved.get("disks", {}).get(device, {}).get("autoDelete", "NEVER")
            disks.append({"boot": bool(d.get("boot")), "deviceName": device, "type": "PERSISTENT",
                          "initializeParams": d.get("initializeParams", {}), "source": disk["selfLink"],
                          "autoDelete": bool(d.get("autoDelete", True)) and (not stateful or rule != "NEVER")})  # fmt: skip
        nics = []
        for n, nic in enumerate(props.get("networkInterfaces", [])):
            ip = keep.get("networkIP") if n == 0 and keep.get("networkIP") else self.free_ip()
            nics.append({**nic, "networkIP": ip, "name": f"nic{n}"})
        instance: dict[str, Any] = {
            "name": name,
            "machineType": f"{BASE}projects/{project}/zones/{zone}/machineTypes/{props.get('machineType', DEFAULT_NODE_MACHINE_TYPE)}",
            "disks": disks,
            "networkInterfaces": nics,
            "metadata": {
                **props.get("metadata", {}),
                "items": [
                    *[
                        m
                        for m in props.get("metadata", {}).get("items", [])
                        if m.get("key") not in ("instance-template", "created-by")
                    ],
                    {"key": "instance-template", "value": _tail(version)},
                    {"key": "created-by", "value": _tail(mig["selfLink"])},
                ],
            },  # fmt: skip
            "labels": props.get("labels", {}),
            "tags": props.get("tags", {}),
            "serviceAccounts": props.get("serviceAccounts", []),
            "scheduling": props.get("scheduling", {}),
            **_accelerators(project, zone, props),
            "description": "",
            "_mig": mig["selfLink"],
            "_booted": time.time(),
            "_template": version,
            "_outcome": st.boot.outcome,  # a later change of the injected outcome reaches new boots only
            "_gpu_failure": st.boot.gpu_failure_of(props),  # likewise an injected GPU driver failure
        }
        st.stamp(project, scope_path, "instances", instance, kind=INSTANCE_KIND, labelled=True)
        instance["_etcd"] = self.etcd_boot(instance)
        st.resources[(project, scope_path, "instances", name)] = instance
        st.start_metadata_server(project, zone, instance)
        return instance

    def free_ip(self) -> str:
        used = {nic.get("networkIP") for r in self.state.resources.values() for nic in r.get("networkInterfaces", [])}
        n = int(self.state.next_id()) % 60000
        while True:
            ip = f"10.0.{(n // 250) % 250}.{n % 250 + 2}"
            if ip not in used:
                return ip
            n += 1

    def etcd_boot(self, instance: dict[str, Any]) -> dict[str, str]:
        """What the simulated bootstrap finds on the instance's etcd disk: nothing (it initialises
        the member and records the advertise address and the certificates' SANs there), the
        instance's own address (it restores the member), or another address (it refuses)."""
        disk_ref = next((parse_ref(d["source"]) for d in instance["disks"] if d.get("deviceName") == ETCD_DEVICE), None)
        disk = self.state.resources.get(disk_ref) if disk_ref else None
        if disk is None:
            return {}
        ip = instance["networkInterfaces"][0]["networkIP"] if instance["networkInterfaces"] else ""
        recorded = disk.get("_etcd")
        if not recorded:
            if str(instance.get("_outcome") or self.state.boot.outcome) == "joined":
                disk["_etcd"] = {"member": instance["name"], "advertiseAddress": ip,
                                 "certificateSANs": [instance["name"], ip]}  # fmt: skip
            return {"state": "init", "address": ip}
        if recorded["advertiseAddress"] != ip or ip not in recorded.get("certificateSANs", []):
            return {"state": "mismatch", "recorded": recorded["advertiseAddress"], "address": ip}
        return {"state": "restore", "address": ip}

    def recreate(self, project: str, scope_path: str, mig: dict[str, Any], names: list[str]) -> None:
        """recreateInstances: each named member is deleted and created again from the group's
        current template, with the same name and a new id; its boot disk is new, the disks and the
        internal IP the stateful policy preserves are kept (without it, a new address)."""
        st = self.state
        by_name = {r["name"]: k for k, r in st.resources.items() if r.get("_mig") == mig["selfLink"]}
        for name in names:
            keep = self._remove_keeping(mig, by_name[name])
            self.create_instance(project, by_name[name][1], mig, name, keep=keep)["_action"] = "RECREATING"

    def _remove_keeping(self, mig: dict[str, Any], key: Key) -> dict[str, Any]:
        """Delete a member, keeping what the stateful policy preserves; returns what was kept."""
        st = self.state
        preserved = preserved_state(mig)
        old = st.resources[key]
        keep: dict[str, Any] = {"disks": {}}
        for d in old.get("disks", []):
            ref = parse_ref(d.get("source", ""))
            disk = st.resources.get(ref) if ref else None
            if disk is not None and d.get("deviceName") in preserved.get("disks", {}):
                keep["disks"][d["deviceName"]] = disk
        if "nic0" in preserved.get("internalIPs", {}) and old.get("networkInterfaces"):
            keep["networkIP"] = old["networkInterfaces"][0].get("networkIP")
        st.remove_instance(key, keep_disks={url_tail(d["selfLink"]) for d in keep["disks"].values()})
        return keep

    def repair_later(self, mig: dict[str, Any], key: Key, at: float) -> None:
        """A member deleted outside the group's own calls (GCE preempted it): the group recreates
        it at ``at`` (when capacity is back) with its name and the template it had, as GCE's repair
        does unless the group's instanceLifecyclePolicy.forceUpdateOnRepair is YES."""
        old = self.state.resources[key]
        version = str(old.get("_template") or mig["instanceTemplate"])
        if (mig.get("instanceLifecyclePolicy") or {}).get("forceUpdateOnRepair") == "YES":
            version = mig["instanceTemplate"]
        record = {"mig": mig["selfLink"], "project": key[0], "scope": key[1], "name": key[3],
                  "instance": old["selfLink"], "version": version, "at": at}  # fmt: skip
        record["keep"] = self._remove_keeping(mig, key)
        self.state.repairs.append(record)

    def create(self, project: str, zone: str, mig: dict[str, Any], name: str,
               template: dict[str, Any] | None, i: int) -> None:  # fmt: skip
        """One member in ``zone`` from the group's current template (createInstances)."""
        del template, i  # the group's current template; addresses come from free_ip
        self.create_instance(project, f"zones/{zone}", mig, name)


def _accelerators(project: str, zone: str, props: dict[str, Any]) -> dict[str, Any]:
    """An instance's guestAccelerators: its template's, each type named by its zone's URL."""
    wanted = props.get("guestAccelerators") or []
    if not wanted:
        return {}
    return {"guestAccelerators": [{"acceleratorType": f"{BASE}projects/{project}/zones/{zone}/acceleratorTypes/"
                                                      f"{a.get('acceleratorType')}",
                                   "acceleratorCount": a.get("acceleratorCount", 1)} for a in wanted]}  # fmt: skip


def _tail(url: str) -> str:
    """projects/P/... as GCE writes it in the instance-template and created-by metadata items."""
    tail = url_tail(url)
    return tail if tail.startswith("projects/") else url


def preserved_state(mig: dict[str, Any]) -> dict[str, Any]:
    policy = mig.get("statefulPolicy") or {}
    return dict(policy.get("preservedState") or {})
