"""Read kubegce (and, via :mod:`kubegce.spec.kops`, kOps) documents into models.

Every problem is reported with its field path and, for unknown fields, the closest known name.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from kubegce.errors import SpecError, UserError
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.models import CLUSTER_LABEL, Cluster, ClusterBundle, InstanceGroup
from kubegce.spec.text import capped, shown, shown_key
from kubegce.spec.yamlio import load_all, read_text_file

__all__ = [
    "format_loc",
    "load_bundles",
    "load_file",
    "parse_documents",
    "read_spec_file",
    "validation_problems",
]


def _field_aliases(model: type[BaseModel]) -> dict[str, Any]:
    """Alias -> annotation of every field of a model."""
    return {(f.alias or n): f.annotation for n, f in model.model_fields.items()}


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic model classes reachable from a type annotation (through list, dict, Optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_model_classes(arg))
    return found


def _model_at(root: type[BaseModel], loc: Iterable[int | str]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = root
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        annotation = _field_aliases(current).get(part)
        if annotation is None:
            # dict keys or list indexes given as str: stay on the current model's value type
            continue
        classes = _model_classes(annotation)
        current = classes[0] if classes else None
    return current


def format_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{shown_key(part)}" if out else shown_key(part))
    return out


def validation_problems(err: ValidationError, root: type[BaseModel], where: str) -> list[str]:
    """One line per pydantic error, naming the field; never the whole input."""
    problems = []
    for e in err.errors(include_url=False, include_context=False, include_input=True):
        loc = e["loc"]
        path = format_loc(loc)
        if e["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            known = sorted(_field_aliases(parent)) if parent else []
            by_lower = {k.lower(): k for k in known}
            close = difflib.get_close_matches(str(loc[-1])[:100].lower(), list(by_lower), n=1, cutoff=0.6)
            hint = [by_lower[c] for c in close]
            msg = f"{where} {path}: unknown field"
            msg += f"; did you mean '{hint[0]}'?" if hint else f"; known fields here: {', '.join(known)}"
            problems.append(msg)
        elif e["type"] == "missing":
            problems.append(f"{where} {path}: required field is missing")
        elif e["type"] == "list_type":
            problems.append(
                f"{where} {path}: must be a list, written [a, b] (or one '- item' per line) (got {shown(e.get('input'))})"
            )
        elif e["type"] in ("dict_type", "model_type", "model_attributes_type"):
            problems.append(f"{where} {path}: must be a mapping of fields (key: value) (got {shown(e.get('input'))})")
        else:
            problems.append(f"{where} {path}: {e['msg']} (got {shown(e.get('input'))})")
    return capped(problems)


def parse_documents(text: str, source: str) -> list[dict[str, Any]]:
    """The YAML documents of one input (empty documents dropped), bounded in size, depth and alias
    expansion (see :mod:`kubegce.spec.yamlio`); every document must be a mapping."""
    docs = [d for d in load_all(text, source) if d is not None]
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise UserError(
                f"{source}: document {i + 1} is not a mapping (got {shown(doc)}); "
                "a document starts with apiVersion:, kind:, metadata: and spec:"
            )
    return docs


def read_spec_file(path: str) -> str:
    """A spec file's text (UTF-8, at most 1 MiB); unreadable, binary or oversized input is a UserError.
    ``create -f`` should read through this (or :func:`load_file`) rather than ``Path.read_text``."""
    return read_text_file(path, f"-f {path}" if path != "-" else "-f -")


def load_file(path: str) -> tuple[list[ClusterBundle], list[str]]:
    """Read, parse and load one spec file: (bundles, warnings)."""
    text = read_spec_file(path)
    return load_bundles(parse_documents(text, path), path)


def _unversioned(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without metadata.resourceVersion: `get -o yaml` prints the stored generation
    there (as kubectl does); `replace` checks it, and it is not part of the spec."""
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or "resourceVersion" not in meta:
        return doc
    return {**doc, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}


def load_bundles(docs: list[dict[str, Any]], source: str) -> tuple[list[ClusterBundle], list[str]]:
    """Turn documents into bundles. kOps documents are converted first. Returns (bundles, warnings)."""
    from kubegce.spec import kops

    docs, warnings = kops.convert_documents(docs, source)
    problems: list[str] = []
    clusters: list[Cluster] = []
    groups: list[InstanceGroup] = []
    first_cluster_doc: dict[str, int] = {}
    for i, doc in enumerate(docs):
        kind = doc.get("kind")
        where = f"{source} document {i + 1} ({kind if kind in ('Cluster', 'InstanceGroup') else '?'})"
        model: type[Cluster] | type[InstanceGroup]
        if kind == "Cluster":
            model = Cluster
        elif kind == "InstanceGroup":
            model = InstanceGroup
        else:
            problems.append(f"{where}: kind must be Cluster or InstanceGroup (got {shown(kind)})")
            continue
        try:
            obj = model.model_validate(_unversioned(doc))
        except ValidationError as exc:
            problems.extend(validation_problems(exc, model, where))
            continue
        if isinstance(obj, Cluster):
            if obj.name in first_cluster_doc:
                problems.append(
                    f"{where}: a second Cluster named {shown(obj.name)} (the first is document "
                    f"{first_cluster_doc[obj.name]}); remove the duplicate Cluster document"
                )
                continue
            first_cluster_doc[obj.name] = i + 1
            clusters.append(obj)
        else:
            groups.append(obj)
    if problems:
        raise SpecError(capped(problems))
    if not clusters:
        raise UserError(f"{source}: no Cluster document found; add one (kind: Cluster)")
    bundles = []
    placed: set[int] = set()
    for cluster in clusters:
        mine = [
            g
            for g in groups
            if g.metadata.labels.get(CLUSTER_LABEL, cluster.name if len(clusters) == 1 else None) == cluster.name
        ]
        placed.update(id(g) for g in mine)
        bundles.append(apply_defaults(ClusterBundle(cluster=cluster, instance_groups=mine)))
    orphans = sorted({g.name for g in groups if id(g) not in placed})
    if orphans:
        names = ", ".join(shown_key(n) for n in orphans[:10])
        raise UserError(
            f"{source}: instance groups {names} name no cluster in this file; "
            f"set metadata.labels['{CLUSTER_LABEL}'] to the cluster's name"
        )
    return bundles, warnings
