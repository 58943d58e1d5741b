"""Terraform target: the resource graph as `kubernetes.tf.json` for the google provider.

Each kind renders its own resources (`kubegce.cloud.kinds`); this module walks the graph, resolves
references between resources, collects metadata data files (read with `file()`, as kOps does) and
escapes every string kubegce did not write as an expression, so a user's `${...}` or `%{...}` is
never evaluated by whoever runs Terraform.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubegce.cloud.graph import ResourceGraph
from kubegce.cloud.kinds import REGISTRY, kind
from kubegce.cloud.kinds.base import Expr, tf_name
from kubegce.cloud.resources import ResourceKey
from kubegce.errors import UserError

__all__ = ["TF_TYPES", "escape", "render_terraform", "tf_name", "write_terraform"]

TF_TYPES: dict[str, str] = {name: k.terraform.type for name, k in REGISTRY.items()}


def escape(value: Any) -> Any:
    """Literal strings stay literal in Terraform JSON: `${` becomes `$${`, `%{` becomes `%%{`.

    Expressions kubegce wrote (`Expr`) are left as they are; keys and values are both escaped."""
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {escape(k): escape(v) for k, v in value.items()}
    return value


class _Renderer:
    """The `TfContext` a kind's rendering sees."""

    def __init__(self, graph: ResourceGraph) -> None:
        self.graph = graph
        self.project = graph.project
        self.files: dict[str, str] = {}
        self.extras: list[tuple[str, str, dict[str, Any]]] = []

    def ref(self, kind_name: str, url: str, attr: str = "self_link") -> str:
        """A `${type.name.attr}` reference for a URL that points into the graph, else the URL."""
        parts = url.split("/")
        location = parts[3] if len(parts) > 5 and parts[2] in ("regions", "zones") else "global"
        key = ResourceKey(kind_name, location, parts[-1])
        if key in self.graph.resources:
            return Expr("${" + f"{kind(kind_name).terraform.type}.{tf_name(key)}.{attr}" + "}")
        return url

    def data_file(self, name: str, content: str) -> str:
        self.files[name] = content  # file() reads a file as it is: its content is not a template
        return Expr('${file("${path.module}/data/' + name + '")}')

    def extra(self, tf_type: str, name: str, body: dict[str, Any]) -> None:
        self.extras.append((tf_type, name, body))


def render_terraform(graph: ResourceGraph, region: str) -> tuple[dict[str, Any], dict[str, str]]:
    tf = _Renderer(graph)
    resources: dict[str, dict[str, Any]] = {}
    for r in graph.ordered():
        rendering = kind(r.kind).terraform
        resources.setdefault(rendering.type, {})[tf_name(r)] = rendering.render(r, tf)
        for tf_type, name, body in tf.extras:
            resources.setdefault(tf_type, {})[name] = body
        tf.extras.clear()
    doc = {
        "terraform": {"required_providers": {"google": {"source": "hashicorp/google", "version": ">= 5.0"}}},
        "provider": {"google": {"project": graph.project, "region": region}},
        "locals": {"cluster_name": graph.cluster_name},
        "output": {"cluster_name": {"value": graph.cluster_name}},
        "resource": resources,
    }
    return escape(doc), tf.files


MANIFEST = ".kubegce-files"  # what the last render wrote under data/, so a re-render removes only those


def write_terraform(graph: ResourceGraph, region: str, out: Path) -> list[Path]:
    """Write kubernetes.tf.json and data/; data files an earlier render wrote (listed in the
    manifest) and this one did not are removed. Files kubegce did not write are never touched."""
    doc, files = render_terraform(graph, region)
    try:
        return _write(out, doc, files)
    except OSError as exc:
        raise UserError(
            f"--out {out}: cannot write Terraform there ({exc.strerror}); pick a writable directory"
        ) from None


def _write(out: Path, doc: dict[str, Any], files: dict[str, str]) -> list[Path]:
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    earlier = manifest.read_text().splitlines() if manifest.is_file() else []
    written = [out / "kubernetes.tf.json"]
    written[0].write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    for name, content in files.items():
        path = data / name
        path.write_text(content)
        written.append(path)
    for name in sorted(set(earlier) - set(files)):
        stale = data / name
        if "/" not in name and name not in ("", ".", "..") and stale.is_file() and not stale.is_symlink():
            stale.unlink()
    manifest.write_text("".join(f"{name}\n" for name in sorted(files)))
    return written
