"""The package's layering, checked statically from the import statements (no module is imported).

Every `import` counts, also those inside functions: a lazy import hides a cycle from Python at
start-up but not from a reader. The layers (docs/architecture.md), lowest first:

    core, domain_models  <  sampling  <  components  <  steps, report  <  preflight, plan, workflow_support, cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = "mlip_autopipec"
ROOT = Path(__file__).resolve().parents[1] / "src" / PKG

# What each bottom layer must never import (package prefixes below mlip_autopipec).
FORBIDDEN = {
    "core": ("components", "steps", "report", "cli", "plan", "preflight", "workflow_support"),
    "domain_models": ("components", "steps", "report", "cli", "plan", "preflight", "workflow_support"),
    "sampling": ("components", "steps", "report", "cli", "plan", "preflight", "workflow_support"),
    "components": ("steps", "report", "cli", "plan", "preflight", "workflow_support"),
    "steps": ("report", "cli", "plan", "preflight", "workflow_support"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str) -> set[str]:
    """The package's modules that `name` imports (a `from pkg import sub` counts as `pkg.sub`)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, path.name == "__init__.py", node)
            targets = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target
                       for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_lazy_and_relative_imports():
    """The checker itself: it must find imports written inside functions and `from . import x`."""
    assert f"{PKG}.report.data" in GRAPH[f"{PKG}.report.build"]  # `from . import data as D`
    assert f"{PKG}.steps.initial" in GRAPH[f"{PKG}.preflight"]  # imported inside preflight()
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer):
    prefix = f"{PKG}.{layer}"
    bad = sorted(
        f"{mod} -> {dep}"
        for mod, deps in GRAPH.items() if mod == prefix or mod.startswith(prefix + ".")
        for dep in deps
        if any(dep == f"{PKG}.{up}" or dep.startswith(f"{PKG}.{up}.") for up in FORBIDDEN[layer])
    )
    assert bad == []


def test_shared_ace_code_is_not_trainer_code():
    """Selectors and dynamics use the ACE infrastructure, never a trainer module."""
    for mod, deps in GRAPH.items():
        if mod.startswith((f"{PKG}.components.selectors", f"{PKG}.components.dynamics")):
            trainers = [d for d in deps if d.startswith(f"{PKG}.components.trainers")
                        and d != f"{PKG}.components.trainers.mock"]
            assert trainers == [], mod


def test_every_step_module_has_its_own_unit_tests():
    """tests/test_step_<name>.py calls steps/<name>.py directly (no Snakemake)."""
    tests = Path(__file__).resolve().parent
    for module in sorted((ROOT / "steps").glob("*.py")):
        if module.name == "__init__.py":
            continue
        test_file = tests / f"test_step_{module.stem}.py"
        assert test_file.is_file(), f"steps/{module.name} has no {test_file.name}"
        assert f"mlip_autopipec.steps.{module.stem} import" in test_file.read_text(), test_file.name
