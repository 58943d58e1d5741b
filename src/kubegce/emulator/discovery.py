"""Shapes from Google's own Compute v1 discovery document, so the emulator is as strict as the API.

The document ships inside ``google-api-python-client``
(``googleapiclient/discovery_cache/documents/compute.v1.json``). The emulator uses it to:

- find the API method a request names (HTTP method + path template), and so its request schema;
- refuse request bodies with a field the schema does not define, or a value of the wrong JSON type
  (GCE answers 400 ``invalid`` with the field's path: so does the emulator);
- keep its own answers to the fields the response schema defines (nothing a real client would not see).

Only shapes are checked here; what a value means (a network that exists, a name's pattern) is the
handlers' business.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

DOCUMENT = ("googleapiclient", "discovery_cache/documents/compute.v1.json")
SERVICE_PATH = "/compute/v1/"
MAX_DEPTH = 32  # no Compute schema nests deeper; a deeper body is refused, not recursed into


class DiscoveryUnavailable(RuntimeError):
    """google-api-python-client is not installed: the emulator cannot check shapes."""


@dataclass(frozen=True)
class Method:
    id: str  # e.g. compute.firewalls.insert
    http_method: str
    request: str | None  # schema name of the body, if the method takes one
    response: str | None
    pattern: re.Pattern[str]
    query: frozenset[str]  # query parameters the method accepts


@dataclass(frozen=True)
class ShapeError:
    path: str  # e.g. "allowed[0].ports"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@functools.cache
def document() -> dict[str, Any]:
    package, name = DOCUMENT
    try:
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise DiscoveryUnavailable(
            "the Compute v1 discovery document was not found: install google-api-python-client "
            "(pip install google-api-python-client) so the emulator can check request shapes"
        ) from exc
    data: dict[str, Any] = json.loads(text)
    return data


def schemas() -> dict[str, Any]:
    result: dict[str, Any] = document()["schemas"]
    return result


def _methods_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(resource.get("methods", {}).values())
    for sub in resource.get("resources", {}).values():
        out.extend(_methods_of(sub))
    return out


def _template_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    rx = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(rx)


@functools.cache
def methods() -> tuple[Method, ...]:
    out: list[Method] = []
    for resource in document()["resources"].values():
        for m in _methods_of(resource):
            request = (m.get("request") or {}).get("$ref")
            response = (m.get("response") or {}).get("$ref")
            query = frozenset(k for k, v in m.get("parameters", {}).items() if v.get("location") == "query")
            for path in {m["path"], m.get("flatPath", m["path"])}:
                out.append(Method(m["id"], m["httpMethod"], request, response, _template_regex(path), query))
    # literal segments beat variables: longer literal text first
    out.sort(key=lambda x: -len(re.sub(r"\[\^/\]\+", "", x.pattern.pattern)))
    return tuple(out)


def has_method(method_id: str) -> bool:
    """Whether the document defines this method (e.g. compute.instanceTemplates.aggregatedList)."""
    try:
        return any(m.id == method_id for m in methods())
    except DiscoveryUnavailable:
        return False


def find_method(http_method: str, path: str) -> Method | None:
    """The discovery method for a request path (with or without the /compute/v1/ prefix)."""
    rest = path.split("?", 1)[0]
    if rest.startswith(SERVICE_PATH):
        rest = rest[len(SERVICE_PATH) :]
    rest = rest.lstrip("/")
    for m in methods():
        if m.http_method == http_method and m.pattern.fullmatch(rest):
            return m
    return None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_INT_RX = re.compile(r"-?[0-9]{1,20}")


def _check(schema: dict[str, Any], value: Any, path: str, depth: int, errors: list[ShapeError]) -> None:
    if len(errors) >= 20:
        return
    if depth > MAX_DEPTH:
        errors.append(ShapeError(path, "nested too deeply"))
        return
    if "$ref" in schema:
        _check(schemas()[schema["$ref"]], value, path, depth + 1, errors)
        return
    if value is None:
        return  # JSON null is accepted for any field, as by the API's JSON parser
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "object" or (kind is None and "properties" in schema):
        if not isinstance(value, dict):
            errors.append(ShapeError(path, f"expected an object, got {_type_name(value)}"))
            return
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in props:
                _check(props[key], item, where, depth + 1, errors)
            elif isinstance(extra, dict):
                _check(extra, item, where, depth + 1, errors)
            else:
                errors.append(ShapeError(where, "unknown field"))
        return
    if kind == "array":
        if not isinstance(value, list):
            errors.append(ShapeError(path, f"expected an array, got {_type_name(value)}"))
            return
        for i, item in enumerate(value):
            _check(schema.get("items", {}), item, f"{path}[{i}]", depth + 1, errors)
        return
    if kind == "string":
        if fmt in ("int64", "uint64"):
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and _INT_RX.fullmatch(value) is not None
            )
            if not ok:
                errors.append(ShapeError(path, f"expected an integer ({fmt}), got {_type_name(value)}"))
            return
        if not isinstance(value, str):
            errors.append(ShapeError(path, f"expected a string, got {_type_name(value)}"))
            return
        allowed = schema.get("enum")
        if allowed and value not in allowed:
            errors.append(ShapeError(path, "not one of the values this field takes"))
        return
    if kind == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and _INT_RX.fullmatch(value) is not None
        )
        if not ok:
            errors.append(ShapeError(path, f"expected an integer, got {_type_name(value)}"))
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(ShapeError(path, f"expected a number, got {_type_name(value)}"))
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            errors.append(ShapeError(path, f"expected a boolean, got {_type_name(value)}"))
        return
    # "any" or untyped: accepted


def check_body(schema_name: str, body: Any) -> list[ShapeError]:
    """Problems with a request body against the named schema (empty: the API would accept its shape)."""
    errors: list[ShapeError] = []
    _check({"$ref": schema_name}, body, "", 0, errors)
    return errors


def check_query(method: Method, query: dict[str, str]) -> list[ShapeError]:
    """Query parameters the method does not take (the API answers 400 for those too).

    `returnPartialSuccess` is taken by every paged list: the live API does (gcloud sends it on every
    aggregatedList), and gcloud's own generated Compute v1 client defines it for 168 of the 169 list
    methods it has, all of them paged (google-cloud-cli 528.0.0,
    lib/googlecloudsdk/generated_clients/apis/compute/v1/compute_v1_messages.py), while the discovery
    document google-api-python-client ships (revision 20261106) only mentions it in descriptions.
    The emulator never fails part of a list, so the flag changes nothing (docs/emulator.md)."""
    known = method.query | {"alt", "fields", "key", "prettyPrint", "quotaUser", "userIp", "$alt", "$fields",
                            "access_token", "callback", "oauth_token", "upload_protocol", "uploadType", "$.xgafv"}  # fmt: skip
    if "pageToken" in method.query:
        known |= {"returnPartialSuccess"}
    problems = [ShapeError(k, "unknown query parameter") for k in query if k not in known]
    if "returnPartialSuccess" in known and query.get("returnPartialSuccess", "true").lower() not in ("true", "false"):
        problems.append(
            ShapeError("returnPartialSuccess", "expected a boolean (true or false, any case, as gcloud sends True)")
        )
    return problems


def prune(schema_name: str, value: Any) -> Any:
    """The value with every field the schema does not define removed (the emulator's answers)."""
    return _prune({"$ref": schema_name}, value, 0)


def _prune(schema: dict[str, Any], value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return value
    if "$ref" in schema:
        return _prune(schemas()[schema["$ref"]], value, depth + 1)
    kind = schema.get("type")
    if isinstance(value, dict) and (kind == "object" or "properties" in schema):
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in props:
                out[key] = _prune(props[key], item, depth + 1)
            elif isinstance(extra, dict):
                out[key] = _prune(extra, item, depth + 1)
        return out
    if isinstance(value, list) and kind == "array":
        return [_prune(schema.get("items", {}), item, depth + 1) for item in value]
    return value
