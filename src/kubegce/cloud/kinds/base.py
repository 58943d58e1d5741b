"""What kubegce knows about one GCE resource kind, in one value.

A `Kind` holds the kind's scope, how a difference is applied (in place, or by replacing the
resource), how the Compute API is called for it, which kinds it references (so exist before it
and are deleted after it), how it is written as Terraform, and (by its REST collection) which emulator handler serves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kubegce.cloud.kinds.compare import FieldChange, diff_fields
from kubegce.cloud.resources import Resource, ResourceKey

Scope = Literal["global", "region", "zone"]


class ApiContext(Protocol):
    """What an update needs from the API layer (`kubegce.cloud.gce.api.GceApi` provides it)."""

    @property
    def clients(self) -> Any: ...

    @property
    def project(self) -> str: ...

    def mutate(self, key: ResourceKey, call: Callable[[], Any]) -> None: ...


@dataclass(frozen=True)
class ApiBinding:
    """How the Compute API client library is called for a kind."""

    client: str  # name of its client on ComputeClients (clients.<client>)
    arg: str  # name of the resource argument in get/delete/patch calls ("<arg>_resource" for bodies)
    message: str  # compute_v1 message type
    collection: str  # REST collection: the path segment, and the emulator handler that serves it
    aggregated_field: str = ""  # field of the scoped list in aggregated results; "" for global kinds
    client_class: str = ""  # compute_v1 client type; default: from the collection (targetPools: TargetPoolsClient)
    path: str = ""  # the URL's collection segment when it is not the collection (regional MIGs)
    # False: google-cloud-compute has no client for the collection (1.57 has none for the legacy
    # httpHealthChecks that target pools take), so every call, patches included, goes as JSON
    library: bool = True

    @property
    def client_type(self) -> str:
        return self.client_class or self.collection[:1].upper() + self.collection[1:] + "Client"

    def service(self, clients: Any) -> Any:
        return getattr(clients, self.client)

    def to_message(self, clients: Any, body: dict[str, Any]) -> Any:
        return getattr(clients.compute, self.message).from_json(json.dumps(body), ignore_unknown_fields=True)

    def url_path(self, where: dict[str, str]) -> str:
        """The collection's REST path under compute/v1/ for a scope (``where``: project, region or zone)."""
        scope = f"zones/{where['zone']}" if "zone" in where else f"regions/{where['region']}" if "region" in where \
            else "global"  # fmt: skip
        return f"projects/{where['project']}/{scope}/{self.path or self.collection}"

    # The calls below go as JSON (ComputeClients.rest): an apply's inserts and deletes and a plan's
    # reads skip the library's protobuf round trip. Patches and verbs use the library's clients.
    def insert(self, clients: Any, where: dict[str, str], body: dict[str, Any]) -> Callable[[], Any]:
        """POST the body: an operation dict."""
        path = self.url_path(where)
        return lambda: clients.rest("POST", path, body)

    def get(self, clients: Any, where: dict[str, str], name: str) -> Callable[[], Any]:
        path = f"{self.url_path(where)}/{name}"
        return lambda: clients.rest("GET", path)

    def delete(self, clients: Any, where: dict[str, str], name: str) -> Callable[[], Any]:
        path = f"{self.url_path(where)}/{name}"
        return lambda: clients.rest("DELETE", path)

    def patch(self, clients: Any, where: dict[str, str], name: str, body: dict[str, Any]) -> Callable[[], Any]:
        if not self.library:
            path = f"{self.url_path(where)}/{name}"
            return lambda: clients.rest("PATCH", path, body)
        kwargs = {**where, self.arg: name, f"{self.arg}_resource": self.to_message(clients, body)}
        return lambda: self.service(clients).patch_unary(**kwargs, retry=None)

    def list(self, clients: Any, project: str, name_filter: str, page_size: int) -> Callable[[], Sequence[Any]]:
        """Every page of one list call: an aggregated list (pages of ``items: {scope: {field: [...]}}``)
        or a plain one (``items: [...]``)."""
        params: dict[str, Any] = {"filter": name_filter, "maxResults": page_size}
        if self.aggregated_field:
            path = f"projects/{project}/aggregated/{self.path or self.collection}"
        else:
            path = f"projects/{project}/global/{self.path or self.collection}"
        return lambda: clients.rest_pages(path, params)

    def listed(self, pages: Sequence[dict[str, Any]], scope: str) -> Sequence[tuple[str, dict[str, Any]]]:
        """(scope, resource) of every item in ``pages`` whose scope is of the kind's ``scope``."""
        out: list[tuple[str, dict[str, Any]]] = []
        field = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), self.aggregated_field)  # the JSON name
        for page in pages:
            items = page.get("items") or {}
            if not self.aggregated_field:
                out.extend(("global", r) for r in items)
                continue
            for where, scoped in sorted(items.items()):
                if where.startswith(scope + "s/"):
                    out.extend((where, r) for r in scoped.get(field, []))
        return out


class TfContext(Protocol):
    """What a kind's Terraform rendering may ask of the renderer."""

    @property
    def project(self) -> str: ...

    def ref(self, kind: str, url: str, attr: str = "self_link") -> str:
        """A reference to the graph's resource at `url`, or the URL when it is not in the graph."""
        ...

    def data_file(self, name: str, content: str) -> str:
        """Write `content` to data/<name> and return the expression that reads it."""
        ...

    def extra(self, tf_type: str, name: str, body: dict[str, Any]) -> None:
        """Another Terraform resource this one needs (written after it)."""
        ...


class Expr(str):
    """A Terraform expression kubegce wrote: the renderer does not escape it (user strings are)."""

    __slots__ = ()


def tf_name(r: Resource | ResourceKey) -> str:
    name = r.name if r.location == "global" else f"{r.name}-{r.location}"
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


@dataclass(frozen=True)
class TfRendering:
    type: str  # the google provider's resource type
    render: Callable[[Resource, TfContext], dict[str, Any]]


@dataclass(frozen=True)
class UpdateRequest:
    key: ResourceKey
    desired: dict[str, Any]
    actual: dict[str, Any]
    fields: tuple[FieldChange, ...]

    @property
    def changed(self) -> set[str]:
        """Top-level fields that differ."""
        return {f.path.split(".")[0].split("[")[0] for f in self.fields}


Update = Callable[[ApiContext, "Kind", UpdateRequest], None]
Compare = Callable[[dict[str, Any], dict[str, Any]], list[FieldChange]]


@dataclass(frozen=True)
class Kind:
    name: str  # the graph's kind name
    scope: Scope
    api: ApiBinding
    terraform: TfRendering
    update: Update | None  # how a difference is applied in place; None: the resource is replaced
    compare: Compare = diff_fields  # the differences that matter, desired body against GCE's
    # the kinds this kind's resources reference: they are created before it and deleted after it
    # (the reverse, "which deletes wait for this one", is derived: kinds.delete_after)
    depends_on: tuple[str, ...] = ()

    @property
    def immutable(self) -> bool:
        return self.update is None

    def where(self, project: str, location: str) -> dict[str, str]:
        """Keyword arguments that place a call: project, and region or zone."""
        if self.scope == "region":
            return {"project": project, "region": location}
        if self.scope == "zone":
            return {"project": project, "zone": location}
        return {"project": project}

    def location_of(self, resource: dict[str, Any], scope: str = "") -> str:
        """The location of a resource GCE returned (`scope` is its aggregated-list scope)."""
        if self.scope == "global":
            return "global"
        url = resource.get(self.scope) or scope
        return str(url).rstrip("/").rsplit("/", 1)[-1]


def patch_update(*, fingerprint: bool = False) -> Update:
    """Patch the changed top-level fields (with the current fingerprint when GCE asks for one)."""

    def update(api: ApiContext, kind: Kind, req: UpdateRequest) -> None:
        body = {k: req.desired[k] for k in req.changed if k in req.desired}
        if fingerprint:
            body["fingerprint"] = req.actual.get("fingerprint", "")
        where = kind.where(api.project, req.key.location)
        api.mutate(req.key, kind.api.patch(api.clients, where, req.key.name, body))

    return update


def set_labels_update(rest: Update | None = None) -> Update:
    """Labels in place through `setLabels` (RegionSetLabelsRequest with the label fingerprint);
    the other changed fields through ``rest`` (None: left alone). For resources that hold an
    identity (the API's address and its forwarding rule): never replaced for a label."""

    def update(api: ApiContext, kind: Kind, req: UpdateRequest) -> None:
        if "labels" in req.changed:
            request = api.clients.compute.RegionSetLabelsRequest(
                labels=req.desired.get("labels") or {}, label_fingerprint=req.actual.get("labelFingerprint", "")
            )
            service = kind.api.service(api.clients)
            where = kind.where(api.project, req.key.location)
            api.mutate(req.key, lambda: service.set_labels_unary(**where, resource=req.key.name,
                                                                  region_set_labels_request_resource=request,
                                                                  retry=None))  # fmt: skip
        others = tuple(f for f in req.fields if f.path.split(".")[0].split("[")[0] != "labels")
        if rest is not None and others:
            rest(api, kind, UpdateRequest(req.key, req.desired, req.actual, others))

    return update
