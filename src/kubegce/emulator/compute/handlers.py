"""One handler per emulated collection: what an insert checks and fills in, what a get shows, what
may be patched, what blocks a delete, and the collection's own verbs. `HANDLERS` is the registry the
router reads (each kind in `kubegce.cloud.kinds` names its collection here)."""

from __future__ import annotations

import ipaddress
import re
import time
from typing import Any, ClassVar

from kubegce.boot import protocol
from kubegce.cloud.names import url_tail
from kubegce.emulator.compute.errors import ApiError, not_found
from kubegce.emulator.compute.migs import MigReconciler
from kubegce.emulator.compute.state import BASE, ComputeState, fingerprint, parse_ref
from kubegce.spec import gce_accelerators


class Handler:
    collection: ClassVar[str]  # REST collection name (the discovery document's)
    path: ClassVar[str]  # its path segment (regionInstanceGroupManagers: instanceGroupManagers); default: collection
    scope: ClassVar[str]  # "global", "regions" or "zones"
    kind: ClassVar[str]  # the resources' "kind" field
    labelled: ClassVar[bool] = False  # GCE gives these labels (and a label fingerprint) even when none are sent
    patchable: ClassVar[frozenset[str] | None] = None  # fields a PATCH may change; None: no PATCH

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "path" not in cls.__dict__ and "collection" in cls.__dict__:
            cls.path = cls.collection

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        """Check an insert's references and required fields; fill in what GCE adds."""

    def after_insert(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        """Work that follows an insert (a group creates its instances)."""

    def view(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in res.items() if not k.startswith("_")}

    def get(self, st: ComputeState, project: str, scope_path: str, name: str) -> dict[str, Any]:
        return self.view(st, project, scope_path, st.get(project, scope_path, self.path, name))

    def before_delete(self, st: ComputeState, res: dict[str, Any]) -> None:
        """A resource another one references cannot be deleted."""
        users = st.users_of(res["selfLink"])
        if users:
            raise ApiError(
                400,
                "resourceInUseByAnotherResource",
                f"The {self.kind.split('#')[1]} resource '{url_tail(res['selfLink'])}' is already "
                f"being used by '{url_tail(users[0])}'",
            )

    def check_patch(self, res: dict[str, Any], body: dict[str, Any]) -> None:
        """Refuse a PATCH GCE would refuse (beyond fields that may not change)."""

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        """A custom method: POST/GET .../<collection>/<name>/<verb>."""
        st.get(project, scope_path, self.path, name)
        raise ApiError(400, "invalid", f"unsupported call {method} {self.collection}/{name}/{verb}")


def set_labels(handler: Handler, st: ComputeState, project: str, scope_path: str, name: str,
               body: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """POST .../NAME/setLabels (RegionSetLabelsRequest): labels, checked against labelFingerprint."""
    res = st.get(project, scope_path, handler.collection, name)
    if body.get("labelFingerprint") != res.get("labelFingerprint"):
        raise ApiError(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed")
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ApiError(400, "invalid", "Invalid value for field 'labels'")
    res["labels"] = dict(labels)
    res["labelFingerprint"] = fingerprint(res["labels"])
    op_type = f"compute.{handler.collection}.setLabels"
    return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])


class Networks(Handler):
    collection, scope, kind = "networks", "global", "compute#network"
    patchable = frozenset({"routingConfig", "description"})


class Firewalls(Handler):
    collection, scope, kind = "firewalls", "global", "compute#firewall"
    patchable = frozenset({"allowed", "sourceRanges", "sourceTags", "targetTags", "priority", "description",
                           "direction"})  # fmt: skip

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        st.require(res.get("network", ""), "resource.network")
        if not res.get("allowed") and not res.get("denied"):
            raise ApiError(400, "required", "Required field 'resource.allowed' not specified")
        _one_family("sourceRanges", res.get("sourceRanges") or [])
        _one_family("destinationRanges", res.get("destinationRanges") or [])

    def check_patch(self, res: dict[str, Any], body: dict[str, Any]) -> None:
        if "sourceRanges" in body:
            _one_family("sourceRanges", body.get("sourceRanges") or [])


def _one_family(field: str, ranges: list[Any]) -> None:
    """GCE refuses a firewall rule whose ranges are not all IPv4 or all IPv6 (and a range that is no CIDR)."""
    first: int | None = None
    for i, value in enumerate(ranges):
        try:
            version = ipaddress.ip_network(str(value), strict=False).version
        except ValueError:
            raise ApiError(
                400,
                "invalid",
                f"Invalid value for field 'resource.{field}[{i}]': '{value}'. Invalid IPV4 or IPV6 CIDR.",
            ) from None
        if first is None:
            first = version
        elif version != first:
            raise ApiError(
                400,
                "invalid",
                f"Invalid value for field 'resource.{field}[{i}]': '{value}'. "
                "IPv4 and IPv6 ranges cannot be mixed in one firewall rule.",
            )


class Subnetworks(Handler):
    collection, scope, kind = "subnetworks", "regions", "compute#subnetwork"
    patchable = frozenset({"privateIpGoogleAccess", "description"})

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        st.require(res.get("network", ""), "resource.network")
        if not res.get("ipCidrRange"):
            raise ApiError(400, "required", "Required field 'resource.ipCidrRange' not specified")

    def check_patch(self, res: dict[str, Any], body: dict[str, Any]) -> None:
        if body.get("fingerprint") not in (None, res["fingerprint"]):
            raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match current resource fingerprint.")


class Routers(Handler):
    collection, scope, kind = "routers", "regions", "compute#router"
    patchable = frozenset({"nats", "description"})

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        st.require(res.get("network", ""), "resource.network")


class Addresses(Handler):
    collection, scope, kind = "addresses", "regions", "compute#address"
    labelled = True

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        n = int(st.next_id()) % 200 + 20
        res.setdefault("address", f"203.0.113.{n}")
        res.setdefault("status", "RESERVED")

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        if verb == "setLabels" and method == "POST":
            return set_labels(self, st, project, scope_path, name, body)
        return super().verb(st, method, project, scope_path, name, verb, body, query)


class HttpHealthChecks(Handler):
    """Legacy HTTP health checks (global): what a target pool takes (an in-use check cannot go)."""

    collection, scope, kind = "httpHealthChecks", "global", "compute#httpHealthCheck"
    patchable = frozenset({"port", "requestPath", "checkIntervalSec", "timeoutSec", "healthyThreshold",
                           "unhealthyThreshold", "description", "host"})  # fmt: skip
    DEFAULTS: ClassVar[dict[str, Any]] = {"port": 80, "requestPath": "/", "checkIntervalSec": 5, "timeoutSec": 5,
                                          "healthyThreshold": 2, "unhealthyThreshold": 2}  # fmt: skip

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        for k, v in self.DEFAULTS.items():
            res.setdefault(k, v)
        self._check(res)

    def check_patch(self, res: dict[str, Any], body: dict[str, Any]) -> None:
        self._check({**res, **body})

    @staticmethod
    def _check(res: dict[str, Any]) -> None:
        def number(field: str, low: int, high: int) -> int:
            try:
                value = int(res[field])
            except (TypeError, ValueError):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.{field}': '{res[field]}'.") from None
            if not low <= value <= high:
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.{field}': '{value}'. "
                               f"Must be between {low} and {high}.")  # fmt: skip
            res[field] = value
            return value

        number("port", 1, 65535)
        interval, timeout = number("checkIntervalSec", 1, 300), number("timeoutSec", 1, 300)
        number("healthyThreshold", 1, 10)
        number("unhealthyThreshold", 1, 10)
        if timeout > interval:
            raise ApiError(400, "invalid", "Invalid value for field 'resource.timeoutSec': "
                           f"'{timeout}'. timeoutSec should be less than or equal to checkIntervalSec.")  # fmt: skip
        path = res["requestPath"]
        if not isinstance(path, str) or not re.fullmatch(r"/[\x21-\x7e]{0,1023}", path):
            raise ApiError(400, "invalid", "Invalid value for field 'resource.requestPath': it must start with '/'.")


class TargetPools(Handler):
    """Regional target pools: at most one legacy HTTP health check (addHealthCheck/removeHealthCheck);
    members are the instances of the managed groups that name the pool; getHealth says which of
    them pass the check (an emulated instance passes once its boot has joined)."""

    collection, scope, kind = "targetPools", "regions", "compute#targetPool"

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        res["healthChecks"] = self._checks(st, res.get("healthChecks") or [], "resource.healthChecks")
        if not res["healthChecks"]:
            del res["healthChecks"]

    @staticmethod
    def _checks(st: ComputeState, urls: list[Any], field: str) -> list[str]:
        out = []
        for i, url in enumerate(urls):
            ref = parse_ref(url) if isinstance(url, str) else None
            if ref is None or ref[2] != "httpHealthChecks":
                raise ApiError(400, "invalid", f"Invalid value for field '{field}[{i}]': '{url}'. "
                               "Only legacy HttpHealthChecks are supported.")  # fmt: skip
            st.require(url, f"{field}[{i}]")
            out.append(BASE + url_tail(url))
        if len(out) > 1:
            raise ApiError(
                400, "invalid", f"Invalid value for field '{field}': only one health check may be specified."
            )
        return out

    def members(self, st: ComputeState, res: dict[str, Any]) -> list[dict[str, Any]]:
        pool = url_tail(res["selfLink"])
        migs = {r["selfLink"] for k, r in st.resources.items() if k[2] in ("instanceGroupManagers",)
                and pool in (url_tail(p) for p in r.get("targetPools", []))}  # fmt: skip
        return sorted((r for k, r in st.resources.items() if k[2] == "instances" and r.get("_mig") in migs),
                      key=lambda r: str(r["name"]))  # fmt: skip

    def view(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> dict[str, Any]:
        view = super().view(st, project, scope_path, res)
        members = [r["selfLink"] for r in self.members(st, res)]
        if members:
            view["instances"] = members
        return view

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        res = st.get(project, scope_path, self.collection, name)
        if method == "POST" and verb in ("addHealthCheck", "removeHealthCheck"):
            refs = body.get("healthChecks") or []
            if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
                raise ApiError(400, "invalid", "Invalid value for field 'healthChecks'")
            urls = self._checks(st, [r.get("healthCheck") for r in refs], "healthChecks")
            have = list(res.get("healthChecks", []))
            if verb == "addHealthCheck":
                have += [u for u in urls if u not in have]
                self._checks(st, have, "resource.healthChecks")
            else:
                have = [u for u in have if u not in urls]
            res["healthChecks"] = have
            if not have:
                del res["healthChecks"]
            return st.new_operation(project, scope_path, f"compute.targetPools.{verb}", res["selfLink"], res["id"])
        if method == "POST" and verb == "getHealth":
            want = url_tail(str(body.get("instance", "")))
            member = next((r for r in self.members(st, res) if url_tail(r["selfLink"]) == want), None)
            if member is None:
                raise ApiError(400, "invalid", f"Instance '{want}' is not a member of target pool '{name}'")
            return {"kind": "compute#targetPoolInstanceHealth",
                    "healthStatus": [{"instance": member["selfLink"], "healthState": self.health(st, res, member)}]}  # fmt: skip
        return super().verb(st, method, project, scope_path, name, verb, body, query)

    @staticmethod
    def health(st: ComputeState, pool: dict[str, Any], instance: dict[str, Any]) -> str:
        """HEALTHY when the pool has no check (GCE counts every member healthy then) or the
        instance's emulated boot has joined (its health port answers 200); UNHEALTHY otherwise."""
        if not pool.get("healthChecks"):
            return "HEALTHY"
        if st.boot.status(instance) != "RUNNING":
            return "UNHEALTHY"
        try:
            attrs = st.boot.guest_attributes(instance, booted_image(st, instance), protocol.attribute_path(""))
        except ApiError:
            return "UNHEALTHY"
        items = {i["key"]: i["value"] for i in attrs["queryValue"]["items"]}
        return "HEALTHY" if items.get(protocol.ATTR_PHASE) == protocol.JOINED else "UNHEALTHY"


class ForwardingRules(Handler):
    collection, scope, kind = "forwardingRules", "regions", "compute#forwardingRule"
    labelled = True

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        if res.get("target"):
            st.require(res["target"], "resource.target")
        if res.get("IPAddress", "").startswith(("projects/", "https://")):
            ref = parse_ref(res["IPAddress"])
            if ref is None or ref not in st.resources:
                raise not_found(url_tail(res["IPAddress"]))

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        if verb == "setLabels" and method == "POST":
            return set_labels(self, st, project, scope_path, name, body)
        return super().verb(st, method, project, scope_path, name, verb, body, query)


def check_scheduling(sched: dict[str, Any], at: str) -> None:
    """What GCE refuses in a scheduling block: an unknown provisioning model or termination action,
    and a Spot VM that would restart automatically or live-migrate (Spot VMs are always TERMINATEd
    on host maintenance and never restarted by GCE: cloud.google.com/compute/docs/instances/spot,
    "Limitations"). The messages are modelled on GCE's invalid-field errors."""
    model = sched.get("provisioningModel", "STANDARD")
    if model not in ("STANDARD", "SPOT", "FLEX_START", "RESERVATION_BOUND"):
        raise ApiError(400, "invalid", f"Invalid value for field '{at}.provisioningModel': '{model}'.")
    action = sched.get("instanceTerminationAction")
    if action is not None and action not in ("STOP", "DELETE"):
        raise ApiError(400, "invalid", f"Invalid value for field '{at}.instanceTerminationAction': '{action}'.")
    if model == "SPOT":
        if sched.get("automaticRestart", True):
            raise ApiError(400, "invalid", f"Invalid value for field '{at}.automaticRestart': 'true'. Spot VMs "
                                           "cannot be automatically restarted.")  # fmt: skip
        if sched.get("onHostMaintenance", "MIGRATE") != "TERMINATE":
            raise ApiError(400, "invalid", f"Invalid value for field '{at}.onHostMaintenance': "
                                           f"'{sched.get('onHostMaintenance', 'MIGRATE')}'. Spot VMs must be "
                                           "terminated on host maintenance.")  # fmt: skip


def check_accelerators(props: dict[str, Any]) -> None:
    """GPUs in a template as GCE checks them: one model, attachable to the machine type in that
    count (spec/gce_accelerators.py's table), and no live migration for a VM with GPUs."""
    at = "resource.properties"
    machine = str(props.get("machineType", "")).rsplit("/", 1)[-1]
    wanted = props.get("guestAccelerators") or []
    for i, a in enumerate(wanted):
        name = str(a.get("acceleratorType", "")).rsplit("/", 1)[-1]
        problem = gce_accelerators.attach_problem(machine, name, int(a.get("acceleratorCount", 0) or 0))
        if problem:
            raise ApiError(400, "invalid", f"Invalid value for field '{at}.guestAccelerators[{i}]': {problem}")
    if len(wanted) > 1:
        raise ApiError(400, "invalid", f"Invalid value for field '{at}.guestAccelerators': one accelerator type "
                                       "per instance.")  # fmt: skip
    if gce_accelerators.has_gpus(machine, len(wanted)):
        policy = (props.get("scheduling") or {}).get("onHostMaintenance", "MIGRATE")
        if policy != "TERMINATE":
            raise ApiError(400, "invalid", f"Invalid value for field '{at}.scheduling.onHostMaintenance': "
                                           f"'{policy}'. Instances with guest accelerators do not support live "
                                           "migration.")  # fmt: skip


class InstanceTemplates(Handler):
    collection, scope, kind = "instanceTemplates", "global", "compute#instanceTemplate"

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        props = res.get("properties") or {}
        if not props.get("machineType"):
            raise ApiError(400, "required", "Required field 'resource.properties.machineType' not specified")
        for nic in props.get("networkInterfaces", []):
            if nic.get("subnetwork"):
                st.require(nic["subnetwork"], "resource.properties.networkInterfaces[0].subnetwork")
        items = (props.get("metadata") or {}).get("items", [])
        total = 0
        for item in items:
            size = len(str(item.get("value", "")).encode())
            total += size + len(item.get("key", ""))
            if size > 256 * 1024:
                raise ApiError(400, "invalid", f"Metadata value for key '{item.get('key')}' exceeds 262144 bytes")
        if total > 512 * 1024:
            raise ApiError(400, "invalid", "Metadata total size exceeds 524288 bytes")
        check_scheduling(props.get("scheduling") or {}, "resource.properties.scheduling")
        check_accelerators(props)
        (props.setdefault("metadata", {}))["fingerprint"] = fingerprint(items)


class InstanceGroupManagers(Handler):
    collection, scope, kind = "instanceGroupManagers", "zones", "compute#instanceGroupManager"
    patchable = frozenset({"statefulPolicy"})

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        st.require(res.get("instanceTemplate", ""), "resource.instanceTemplate")
        for pool in res.get("targetPools", []):
            st.require(pool, "resource.targetPools")
        res["targetSize"] = int(res.get("targetSize", 0))
        res["instanceGroup"] = st.self_link(project, scope_path, "instanceGroups", res["name"])

    def after_insert(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        # GCE makes the group's instance group with it (same name and scope) and deletes it with it
        group = {"name": res["name"], "network": _template_network(st, res)}
        st.stamp(project, scope_path, "instanceGroups", group, kind=InstanceGroups.kind, labelled=False)
        st.resources[(project, scope_path, "instanceGroups", res["name"])] = group
        MigReconciler(st).reconcile(project, scope_path, res)

    def view(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> dict[str, Any]:
        view = super().view(st, project, scope_path, res)
        view["currentActions"], view["status"] = MigReconciler(st).status(res)
        return view

    def before_delete(self, st: ComputeState, res: dict[str, Any]) -> None:
        MigReconciler(st).remove_all(res)  # a group's instances go with it, and its instance group
        ref = parse_ref(res.get("instanceGroup", ""))
        if ref is not None:
            st.resources.pop(ref, None)

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        res = st.get(project, scope_path, self.path, name)
        op_type = f"compute.{self.collection}.{verb}"
        if verb == "resize" and method == "POST":
            size = int(query.get("size", "-1"))
            if size < 0:
                raise ApiError(400, "required", "Required field 'size' not specified")
            res["targetSize"] = size
            MigReconciler(st).reconcile(project, scope_path, res)
            return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])
        if verb in ("setInstanceTemplate", "setTemplate") and method == "POST":
            template = body.get("instanceTemplate", "")
            st.require(template, "instanceTemplate")
            res["instanceTemplate"] = BASE + url_tail(template)
            return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])
        if verb == "setTargetPools" and method == "POST":
            for pool in body.get("targetPools", []):
                st.require(pool, "targetPools")
            res["targetPools"] = [BASE + url_tail(p) for p in body.get("targetPools", [])]
            return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])
        if verb == "deleteInstances" and method == "POST":
            MigReconciler(st).delete_instances(res, [str(u) for u in body.get("instances", [])])
            return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])
        if verb == "createInstances" and method == "POST":
            reconciler = MigReconciler(st)
            template_ref = parse_ref(res["instanceTemplate"])
            template = st.resources.get(template_ref) if template_ref else None
            for entry in body.get("instances", []):
                name = str(entry.get("name", ""))
                if any(k[2] == "instances" and k[3] == name for k in st.resources):
                    raise ApiError(409, "alreadyExists", f"The resource '{name}' already exists")
                reconciler.create(
                    project, reconciler.zones(scope_path, res)[0], res, name, template, len(reconciler.members(res))
                )
                res["targetSize"] = int(res["targetSize"]) + 1
            return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])
        if verb == "recreateInstances" and method == "POST":
            members = {r["name"] for r in MigReconciler(st).members(res)}
            names = [url_tail(u).rsplit("/", 1)[-1] for u in body.get("instances", [])]
            if not names:
                raise ApiError(400, "required", "Required field 'instances' not specified")
            for n in names:
                if n not in members:
                    raise ApiError(400, "invalid", f"Instance '{n}' is not a member of instance group manager '{name}'")
            MigReconciler(st).recreate(project, scope_path, res, names)
            return st.new_operation(project, scope_path, op_type, res["selfLink"], res["id"])
        if verb == "listManagedInstances" and method == "POST":
            return {"managedInstances": MigReconciler(st).managed_instances(res)}
        return super().verb(st, method, project, scope_path, name, verb, body, query)


def _template_network(st: ComputeState, mig: dict[str, Any]) -> str:
    ref = parse_ref(mig.get("instanceTemplate", ""))
    template = st.resources.get(ref) if ref else None
    nics = ((template or {}).get("properties") or {}).get("networkInterfaces") or [{}]
    return str(nics[0].get("network", ""))


class InstanceGroups(Handler):
    """The instance group of each managed group (made and deleted with it; `size` is its members).
    Unmanaged groups are not emulated: kubegce makes none."""

    collection, scope, kind = "instanceGroups", "zones", "compute#instanceGroup"

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        raise ApiError(400, "invalid", "unmanaged instance groups are not emulated (kubegce makes managed groups)")

    def view(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> dict[str, Any]:
        view = super().view(st, project, scope_path, res)
        mig = st.resources.get((project, scope_path, "instanceGroupManagers", res["name"]))
        view["size"] = len(MigReconciler(st).members(mig)) if mig else 0
        return view

    def before_delete(self, st: ComputeState, res: dict[str, Any]) -> None:
        raise ApiError(400, "resourceInUseByAnotherResource", f"The instance_group resource "
                       f"'{url_tail(res['selfLink'])}' is already being used by its instance group manager")  # fmt: skip


class RegionInstanceGroups(InstanceGroups):
    collection, scope = "regionInstanceGroups", "regions"
    path = "instanceGroups"


class RegionInstanceGroupManagers(InstanceGroupManagers):
    """A regional MIG: its instances spread over distributionPolicy's zones (EVEN), named BASE-xxxx."""

    collection, scope, kind = "regionInstanceGroupManagers", "regions", "compute#instanceGroupManager"
    path = "instanceGroupManagers"

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        super().validate(st, project, scope_path, res)
        region = scope_path.split("/")[1]
        policy = res.setdefault("distributionPolicy", {})
        policy.setdefault("targetShape", "EVEN")
        zones = policy.get("zones") or [{"zone": f"zones/{region}-{x}"} for x in "abc"]
        for i, z in enumerate(zones):
            zone = str(z.get("zone", "")).rstrip("/").rsplit("/", 1)[-1]
            if not zone.startswith(region + "-"):
                raise ApiError(400, "invalid", f"Invalid value for field 'resource.distributionPolicy.zones[{i}]"
                                               f".zone': '{z.get('zone')}'. Zone must be in region {region}.")  # fmt: skip
            z["zone"] = f"{BASE}projects/{project}/zones/{zone}"
        policy["zones"] = zones


class Autoscalers(Handler):
    """Zonal autoscalers: served so clients that describe a group (gcloud's `instance-groups managed
    describe` and `list` read them) get GCE's answers; kubegce makes none yet. An insert needs a
    `target` group that exists, as GCE's does; nothing scales in the emulator."""

    collection, scope, kind = "autoscalers", "zones", "compute#autoscaler"

    def validate(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> None:
        if not res.get("target"):
            raise ApiError(400, "required", "Required field 'resource.target' not specified")
        st.require(res["target"], "resource.target")
        res.setdefault("status", "ACTIVE")


class RegionAutoscalers(Autoscalers):
    collection, scope = "regionAutoscalers", "regions"
    path = "autoscalers"


class Disks(Handler):
    """Disks exist as the disks of MIG members (boot disks, and the stateful disks a group keeps)."""

    collection, scope, kind = "disks", "zones", "compute#disk"


class Instances(Handler):
    collection, scope, kind = "instances", "zones", "compute#instance"
    labelled = True

    def view(self, st: ComputeState, project: str, scope_path: str, res: dict[str, Any]) -> dict[str, Any]:
        view = super().view(st, project, scope_path, res)
        view["status"] = st.boot.status(res)
        return view

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        res = st.get(project, scope_path, self.collection, name)
        if verb == "serialPort" and method == "GET":
            port = int(query.get("port", "1"))
            start = int(query.get("start", "0"))
            text = st.boot.serial_output(res, booted_image(st, res)) if port == 1 else ""
            data = text.encode()
            window = data[max(start, len(data) - 1024 * 1024) :]
            begin = len(data) - len(window)
            return {"kind": "compute#serialPortOutput", "contents": window.decode(errors="replace"),
                    "start": str(begin), "next": str(len(data)), "selfLink": res["selfLink"]}  # fmt: skip
        if verb == "getGuestAttributes" and method == "GET":
            query_path = query.get("queryPath", "")
            written = st.written_guest_attributes(res, query_path.split("/")[0] or "kubegce")
            if written:  # real software wrote them through the instance's metadata server
                namespace = query_path.split("/")[0] or "kubegce"
                items = [{"namespace": namespace, "key": k, "value": v} for k, v in sorted(written.items())]
                return {"kind": "compute#guestAttributes", "queryPath": query_path, "queryValue": {"items": items}}
            return st.boot.guest_attributes(res, booted_image(st, res), query_path)
        if verb == "reset" and method == "POST":
            # a hard reset: the instance boots again (its disks and id kept), its boot story replays
            res["_booted"] = time.time()
            return st.new_operation(project, scope_path, f"compute.{self.collection}.reset", res["selfLink"], res["id"])
        return super().verb(st, method, project, scope_path, name, verb, body, query)


class Images(Handler):
    """Images made in the emulator, and the public images the boot simulator knows."""

    collection, scope, kind = "images", "global", "compute#image"
    labelled = True

    def get(self, st: ComputeState, project: str, scope_path: str, name: str) -> dict[str, Any]:
        key = (project, "global", "images", name)
        if key in st.resources:
            return self.view(st, project, "global", st.resources[key])
        image = st.boot.public_image(project, name=name)
        if image is None:
            raise not_found(f"projects/{project}/global/images/{name}")
        return image

    def from_family(self, st: ComputeState, project: str, family: str) -> dict[str, Any]:
        mine = [r for (p, _, c, _), r in st.resources.items() if p == project and c == "images"
                and r.get("family") == family]  # fmt: skip
        if mine:
            return self.view(st, project, "global", sorted(mine, key=lambda r: r["creationTimestamp"])[-1])
        image = st.boot.public_image(project, family=family)
        if image is None:
            raise not_found(f"projects/{project}/global/images/family/{family}")
        return image

    def verb(self, st: ComputeState, method: str, project: str, scope_path: str, name: str, verb: str,
             body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        if name == "family":  # images/family/<family>
            return self.from_family(st, project, verb)
        return super().verb(st, method, project, scope_path, name, verb, body, query)


IMAGES = Images()


def booted_image(st: ComputeState, instance: dict[str, Any]) -> dict[str, Any] | None:
    """The image resource an instance booted (custom images are looked up for their licenses)."""
    source = instance["disks"][0]["initializeParams"]["sourceImage"] if instance.get("disks") else ""
    m = re.fullmatch(r"projects/([^/\s]+)/global/images/(family/)?([^/\s]+)", url_tail(source))
    if not m:
        return None
    try:
        if m.group(2):
            return IMAGES.from_family(st, m.group(1), m.group(3))
        return IMAGES.get(st, m.group(1), "global", m.group(3))
    except ApiError:
        return None


# by REST collection (the kinds name theirs); ROUTES below finds one by path segment and scope
HANDLERS: dict[str, Handler] = {
    h.collection: h
    for h in (
        Networks(),
        Firewalls(),
        InstanceTemplates(),
        IMAGES,
        Subnetworks(),
        Routers(),
        Addresses(),
        HttpHealthChecks(),
        TargetPools(),
        ForwardingRules(),
        InstanceGroupManagers(),
        RegionInstanceGroupManagers(),
        Instances(),
        Disks(),
        Autoscalers(),
        RegionAutoscalers(),
        InstanceGroups(),
        RegionInstanceGroups(),
    )
}

ROUTES: dict[tuple[str, str], Handler] = {(h.path, h.scope): h for h in HANDLERS.values()}
