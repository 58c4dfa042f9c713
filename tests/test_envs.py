"""The conda environments in envs/ (used with `--software-deployment-method conda`).

They cannot be built here (no conda, no conda-forge), so these tests check what can be checked:
every file parses as a conda environment, every package the code imports is listed (in
envs/mlip.yaml, or for an optional backend in that backend's environment), the per-backend
environments extend envs/mlip.yaml unchanged, the versions agree with what the test venv runs, and
every `conda:` path in the rules exists.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
BASE = "mlip.yaml"

# Optional backends: the import is only needed with that backend, whose environment must list it.
OPTIONAL = {
    "gpaw": "gpaw.yaml",
    "lammps": "lammps.yaml",
    "tensorflow": "pacemaker.yaml",
    "tensorpotential": "pacemaker.yaml",
    "torch": "chgnet.yaml",
    "chgnet": "chgnet.yaml",
    "pymatgen": "chgnet.yaml",
}
# The DFT code (or program) each backend environment adds to envs/mlip.yaml.
BACKEND_PACKAGE = {
    "gpaw.yaml": "gpaw",
    "espresso.yaml": "qe",
    "cp2k.yaml": "cp2k",
    "lammps.yaml": "lammps",
    "pacemaker.yaml": "tensorflow-cpu",
    "chgnet.yaml": "chgnet",
}
# Import name -> distribution names, for modules whose distribution is named differently (used when
# the distribution is not installed in the test venv, so importlib.metadata cannot tell).
DIST_NAMES = {
    "yaml": {"pyyaml"},
    "sklearn": {"scikit-learn"},
    "pyace": {"python-ace"},
    "tensorflow": {"tensorflow", "tensorflow-cpu"},
    "torch": {"torch", "pytorch", "pytorch-cpu"},
}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(req: str) -> tuple[str, str]:
    """'numpy>=1.26,<2.4' -> ('numpy', '>=1.26,<2.4'); 'python=3.11' -> ('python', '==3.11');
    'conda-forge::ase' -> ('ase', '')."""
    req = req.split("#")[0].strip().split("::")[-1]
    m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", req)
    assert m, f"cannot parse requirement {req!r}"
    name, spec = m.group(1), m.group(3).replace(" ", "")
    if re.match(r"^=[^=]", spec):  # conda's single '=' means "this version (prefix)"
        spec = "==" + spec[1:] + ("" if spec.endswith("*") else ".*")
    return norm(name), spec


def env_packages(path: Path) -> dict[str, str]:
    """name -> version spec of every conda and pip dependency of an environment file."""
    env = yaml.safe_load(path.read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for req in dep.get("pip", []):
                if not req.startswith("-"):
                    name, spec = split_requirement(req)
                    out[name] = spec
        else:
            name, spec = split_requirement(dep)
            out[name] = spec
    return out


def code_imports() -> dict[str, set[str]]:
    """Third-party top-level modules the package and the rule scripts import -> files importing them
    (`import x`, `from x import y`, `importlib.import_module("x")`, `find_spec("x")`)."""
    found: dict[str, set[str]] = {}
    files = [*(REPO / "src" / "mlip_autopipec").rglob("*.py"), *(REPO / "scripts").glob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "find_spec")):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top and top not in sys.stdlib_module_names and top != "mlip_autopipec":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def dist_names(module: str) -> set[str]:
    names = {norm(d) for d in md.packages_distributions().get(module, [])}
    return names | DIST_NAMES.get(module, set()) | ({norm(module)} if not names else set())


ENV_FILES = sorted(ENVS.glob("*.yaml"))


def test_the_base_environment_and_the_backends_exist():
    names = {p.name for p in ENV_FILES}
    assert BASE in names
    assert {"gpaw.yaml", "espresso.yaml", "cp2k.yaml"} <= names, "one environment per DFT code"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_environment_file_parses(path):
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and set(env) <= {"name", "channels", "dependencies"}, env.keys()
    assert env.get("name"), "an environment needs a name"
    assert env["channels"][0] == "conda-forge" and "defaults" not in env["channels"]
    deps = env["dependencies"]
    assert any(isinstance(d, str) and split_requirement(d)[0] == "python" and split_requirement(d)[1] for d in deps), \
        "pin python (python-ace ships cp311 wheels)"
    pip_sections = [d for d in deps if isinstance(d, dict)]
    assert all(set(d) == {"pip"} and isinstance(d["pip"], list) for d in pip_sections)
    if pip_sections:
        assert "pip" in deps, "a pip: section needs pip itself among the conda dependencies"
    for name, spec in env_packages(path).items():
        SpecifierSet(spec)  # every version spec is valid
    # relative paths (-e .., -r file) break: Snakemake copies the file to .snakemake/conda/<hash>.yaml
    assert not any(req.startswith(("-e", "-r", ".", "/")) for d in pip_sections for req in d["pip"])


def test_every_imported_package_is_listed():
    base = env_packages(ENVS / BASE)
    missing = []
    for module, files in sorted(code_imports().items()):
        env = OPTIONAL.get(module, BASE)
        listed = env_packages(ENVS / env)
        post_deploy = ENVS / env.replace(".yaml", ".post-deploy.sh")
        extra = post_deploy.read_text() if post_deploy.exists() else ""
        candidates = dist_names(module)
        if not (candidates & set(listed) or any(c in extra for c in candidates)):
            names = "/".join(sorted(candidates))
            missing.append(f"{module} (as {names}; imported in {sorted(files)[0]}) -> envs/{env}")
    assert not missing, "packages the code imports but no environment lists:\n" + "\n".join(missing)
    # the core of every rule is in the base environment itself
    for name in ("python-ace", "ase", "numpy", "pandas", "pydantic", "pyyaml", "snakemake"):
        assert name in base, name


@pytest.mark.parametrize("path", [p for p in ENV_FILES if p.name != BASE], ids=lambda p: p.name)
def test_backend_environments_extend_the_base_one_unchanged(path):
    base, env = env_packages(ENVS / BASE), env_packages(path)
    # the pacemaker env runs tensorpotential in-process, which needs numpy<2.4 and pandas<3: an upper
    # bound added to the base spec, nothing else
    narrowed = {"pacemaker.yaml": {"numpy": ",<2.4", "pandas": ",<3"}}.get(path.name, {})
    changed = {name: (spec, env.get(name)) for name, spec in base.items()
               if env.get(name) != spec + narrowed.get(name, "")}
    assert not changed, f"{path.name} must list every package of {BASE} with the same version: {changed}"
    assert BACKEND_PACKAGE[path.name] in env, f"{path.name} should add {BACKEND_PACKAGE[path.name]}"


def test_versions_agree_with_the_tested_venv():
    """The base environment allows the versions the test suite runs with (pyproject pins)."""
    wrong = []
    for name, spec in env_packages(ENVS / BASE).items():
        if not spec or name in ("python", "pip"):
            continue
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            wrong.append(f"{name} is listed in envs/{BASE} but not installed in the test venv")
            continue
        if not SpecifierSet(spec).contains(Version(version), prereleases=True):
            wrong.append(f"{name} {version} not in {spec}")
    assert not wrong, wrong


def test_rules_point_to_existing_environments():
    rules = sorted((REPO / "rules").glob("*.smk"))
    literal = [(r, m) for r in rules for m in re.findall(r"conda:\s*\n\s*\"([^\"]+)\"", r.read_text())]
    assert literal, "rules declare no conda env"
    for rule_file, rel in literal:
        assert (rule_file.parent / rel).resolve().is_file(), f"{rule_file.name}: conda env {rel} does not exist"


def test_post_deploy_scripts_belong_to_an_environment():
    for script in ENVS.glob("*.post-deploy.sh"):
        assert (ENVS / script.name.replace(".post-deploy.sh", ".yaml")).is_file(), script.name
        assert script.read_text().startswith("#!/usr/bin/env bash"), script.name
