"""No import cycle between kubegce's modules, nor between its packages (kubegce.X).

Every ``import``/``from ... import`` of a kubegce module counts, wherever it is written: a
function-level import that only hides a cycle is still one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

SRC = Path(__file__).parents[2] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "kubegce").rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The kubegce modules ``path`` imports, at any depth of its code."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    out = set()
    for target in found:
        while target and target not in known:  # `import kubegce.a.b.c` of a non-module attribute
            target = target.rpartition(".")[0]
        if target.startswith("kubegce") and target != name:
            out.add(target)
    return out


def module_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, name, known) for name, path in mods.items()}


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for src, targets in graph.items():
        for t in targets:
            a, b = package_of(src), package_of(t)
            if a != b:
                out.setdefault(a, set()).add(b)
            out.setdefault(a, set())
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def explain(comps: Iterable[list[str]], graph: dict[str, set[str]]) -> str:
    lines = []
    for comp in comps:
        members = set(comp)
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph.get(a, ())) if b in members]
        lines.append(" | ".join(edges))
    return "\n".join(lines)


def test_the_walker_sees_lazy_imports() -> None:
    graph = module_graph()
    # kubegce.cli.images imports kubegce.diagnose.probe inside a function
    assert "kubegce.diagnose.probe" in graph["kubegce.cli.images"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_import_cycle() -> None:
    graph = module_graph()
    comps = cycles(graph)
    assert not comps, explain(comps, graph)


def test_no_package_import_cycle() -> None:
    graph = package_graph(module_graph())
    comps = cycles(graph)
    assert not comps, explain(comps, graph)
