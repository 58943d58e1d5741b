"""Read kubegce (and, via :mod:`kubegce.spec.kops`, kOps) documents into models.

Every problem is reported with its field path and, for unknown fields, the closest known name.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kubegce.errors import SpecError, UserError
from kubegce.spec.defaults import apply_defaults
from kubegce.spec.models import CLUSTER_LABEL, Cluster, ClusterBundle, InstanceGroup


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
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_problems(err: ValidationError, root: type[BaseModel], where: str) -> list[str]:
    problems = []
    for e in err.errors():
        loc = e["loc"]
        path = format_loc(loc)
        if e["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            known = sorted(_field_aliases(parent)) if parent else []
            by_lower = {k.lower(): k for k in known}
            close = difflib.get_close_matches(str(loc[-1]).lower(), list(by_lower), n=1, cutoff=0.6)
            hint = [by_lower[c] for c in close]
            msg = f"{where} {path}: unknown field"
            msg += f"; did you mean '{hint[0]}'?" if hint else f"; known fields here: {', '.join(known)}"
            problems.append(msg)
        elif e["type"] == "missing":
            problems.append(f"{where} {path}: required field is missing")
        else:
            problems.append(f"{where} {path}: {e['msg']} (got {e.get('input')!r})")
    return problems


def parse_documents(text: str, source: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise UserError(f"{source}: not valid YAML: {exc}") from None
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise UserError(f"{source}: document {i + 1} is not a mapping (got {type(doc).__name__})")
    return docs


def load_bundles(docs: list[dict[str, Any]], source: str) -> tuple[list[ClusterBundle], list[str]]:
    """Turn documents into bundles. kOps documents are converted first. Returns (bundles, warnings)."""
    from kubegce.spec import kops

    docs, warnings = kops.convert_documents(docs, source)
    problems: list[str] = []
    clusters: list[Cluster] = []
    groups: list[InstanceGroup] = []
    for i, doc in enumerate(docs):
        where = f"{source} document {i + 1} ({doc.get('kind', '?')})"
        kind = doc.get("kind")
        model: type[Cluster] | type[InstanceGroup]
        if kind == "Cluster":
            model = Cluster
        elif kind == "InstanceGroup":
            model = InstanceGroup
        else:
            problems.append(f"{where}: kind must be Cluster or InstanceGroup (got {kind!r})")
            continue
        try:
            obj = model.model_validate(doc)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, model, where))
            continue
        if isinstance(obj, Cluster):
            clusters.append(obj)
        else:
            groups.append(obj)
    if problems:
        raise SpecError(problems)
    if not clusters:
        raise UserError(f"{source}: no Cluster document found; add one (kind: Cluster)")
    bundles = []
    for cluster in clusters:
        mine = [
            g
            for g in groups
            if g.metadata.labels.get(CLUSTER_LABEL, cluster.name if len(clusters) == 1 else None) == cluster.name
        ]
        bundles.append(apply_defaults(ClusterBundle(cluster=cluster, instance_groups=mine)))
    orphans = {g.name for g in groups} - {g.name for b in bundles for g in b.instance_groups}
    if orphans:
        raise UserError(
            f"{source}: instance groups {sorted(orphans)} name no cluster in this file; "
            f"set metadata.labels['{CLUSTER_LABEL}'] to the cluster's name"
        )
    return bundles, warnings
