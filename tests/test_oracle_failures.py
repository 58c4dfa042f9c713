"""The oracles' failure rule (components/oracles/base.py): the oracle program failing is recorded
and skipped; an exception in our own code stops the job with its traceback.

The "DFT program" here is a real subprocess, tests/synthetic_dft.py (EMT physics behind a program
interface, written by this project), run either by our own DFTOracle machinery (`launch` + our
parser) or by ASE's FileIOCalculator through the `ase` oracle kind, as a user would configure it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, CalculationFailed, CalculatorSetupError, ReadError, SCFError
from conftest import mock_config
from synthetic_dft import PROGRAM, parse_output, write_input

from mlip_autopipec.components.oracles.base import Oracle, interrupting_signal, is_program_failure
from mlip_autopipec.components.oracles.common import singlepoint
from mlip_autopipec.components.oracles.external import DFTOracle
from mlip_autopipec.core.errors import OracleError, OracleInterrupted, UserError
from mlip_autopipec.core.io import write_structures
from mlip_autopipec.domain_models.oracle_config import VaspOracleConfig
from mlip_autopipec.domain_models.records import LabelFailure, read_record
from mlip_autopipec.steps.label import RemoteTraceback, label_one, run_label_chunk
from mlip_autopipec.steps.label_cache import LabelCache


class ScriptOracle(DFTOracle):
    """A DFT oracle on the synthetic program: our launch, our parser (`parse_output`)."""

    name = "script"
    config_class = VaspOracleConfig

    def __init__(self, mode: str, scratch_root):
        super().__init__(VaspOracleConfig(launcher=""), scratch_root=scratch_root)
        self.mode = mode

    def compute(self, atoms, rundir, isolated):
        write_input(atoms, rundir)
        wall = self.launch(f"{shlex.quote(sys.executable)} {shlex.quote(str(PROGRAM))} {self.mode}", rundir, "synthetic")
        result = parse_output(rundir)
        return self.label_from_results(atoms, result["energy"], result["forces"], result["stress"], isolated, wall)


def cu(seed: int = 0):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def label_through_cache(oracle, tmp_path, timeout_s=None):
    cache = LabelCache(tmp_path / "cache")
    physics = {"kind": "script", "mode": oracle.mode}
    return label_one(oracle, cu(), cache, physics, {"attempt": 1}, timeout_s)


def test_a_good_run_of_the_program_is_a_label(tmp_path):
    labelled, failure, why = label_through_cache(ScriptOracle("ok", tmp_path / "runs"), tmp_path)
    from ase.calculators.emt import EMT
    ref = cu()
    ref.calc = EMT()
    assert failure is None and why == "new"
    np.testing.assert_allclose(labelled.get_forces(), ref.get_forces(), atol=1e-10)


@pytest.mark.parametrize("timeout_s", [None, 60.0], ids=["in-process", "forked-child"])
def test_a_program_exiting_non_zero_is_recorded_and_skipped(tmp_path, timeout_s):
    labelled, failure, _ = label_through_cache(ScriptOracle("exit", tmp_path / "runs"), tmp_path, timeout_s)
    assert labelled is None
    assert "script exited with code 3" in failure.reason and "cannot allocate the wave functions" in failure.reason
    stored = list((tmp_path / "cache").glob("*.failed.json"))
    assert len(stored) == 1 and read_record(LabelFailure, stored[0]).reason == failure.reason
    kept = [p.name for p in (tmp_path / "runs").iterdir()]
    assert len(kept) == 1 and kept[0].startswith("failed-script-")


@pytest.mark.parametrize("mode", ["sigterm", "exit143"])
@pytest.mark.parametrize("timeout_s", [None, 60.0], ids=["in-process", "forked-child"])
def test_a_program_stopped_from_outside_is_not_recorded_so_the_rerun_computes_it(tmp_path, timeout_s, mode):
    # a SLURM time limit or a killed run sends SIGTERM: recorded as failed, the structure would be skipped
    # by every rerun (session 14: a killed examples/al_espresso run lost a spot-check label this way)
    with pytest.raises(OracleInterrupted, match="stopped by SIGTERM.*rerun to compute it"):
        label_through_cache(ScriptOracle(mode, tmp_path / "runs"), tmp_path, timeout_s)
    assert list((tmp_path / "cache").iterdir()) == []
    labelled, failure, why = label_through_cache(ScriptOracle("ok", tmp_path / "runs"), tmp_path)
    assert failure is None and why == "new" and labelled is not None  # the rerun computes it


@pytest.mark.parametrize("code, expected", [(-15, "SIGTERM"), (143, "SIGTERM"), (130, "SIGINT"), (-1, "SIGHUP"),
                                            (137, None), (-9, None), (3, None), (0, None), (None, None)])
def test_interrupting_signal_reads_python_and_shell_exit_statuses(code, expected):
    # SIGKILL (137, -9) stays a failure: the out-of-memory killer sends it, and that would fail again
    found = interrupting_signal(code)
    assert (found.name if found is not None else None) == expected


class SelfTerminatingOracle(Oracle):
    """An in-process oracle whose labelling process gets SIGTERM (the forked child stopped from outside)."""

    name = "selfterm"

    def compute_label(self, atoms):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)


def test_a_labelling_child_stopped_from_outside_is_not_recorded(tmp_path):
    cache = LabelCache(tmp_path / "cache")
    with pytest.raises(OracleInterrupted, match="selfterm was stopped by SIGTERM"):
        label_one(SelfTerminatingOracle(), cu(), cache, {"kind": "selfterm"}, {"attempt": 1}, 60.0)
    assert list((tmp_path / "cache").iterdir()) == []


def test_non_finite_results_are_a_program_failure(tmp_path):
    labelled, failure, _ = label_through_cache(ScriptOracle("nan", tmp_path / "runs"), tmp_path)
    assert labelled is None and "non-finite forces" in failure.reason


@pytest.mark.parametrize("timeout_s", [None, 60.0], ids=["in-process", "forked-child"])
def test_a_keyerror_in_our_parser_stops_the_job_with_its_traceback(tmp_path, timeout_s):
    with pytest.raises(KeyError, match="'energy'") as err:
        label_through_cache(ScriptOracle("renamed", tmp_path / "runs"), tmp_path, timeout_s)
    if timeout_s is None:
        text = "".join(traceback.format_tb(err.value.__traceback__))
    else:  # the child's traceback travels as the cause
        assert isinstance(err.value.__cause__, RemoteTraceback)
        text = err.value.__cause__.text
    assert "in parse_output" in text and 'data["energy"]' in text
    assert list((tmp_path / "cache").iterdir()) == []  # nothing recorded: a bug is no label failure
    kept = [p.name for p in (tmp_path / "runs").iterdir()]
    assert len(kept) == 1 and kept[0].startswith("failed-script-")  # the program's output kept for the report


def ase_oracle_chunk(tmp_path, mode: str):
    """run_label_chunk (the LABEL job) with the `ase` oracle kind on the synthetic program."""
    rcfg = mock_config(tmp_path, oracle={"kind": "ase", "calculator": "synthetic_dft.SyntheticDFT",
                                         "parameters": {"mode": mode}, "scratch_dir": str(tmp_path / "runs")})
    write_structures(tmp_path / "selected.xyz", [cu(0), cu(1)])
    return run_label_chunk(rcfg, "iter_000", str(tmp_path / "selected.xyz"), 0, 2, str(tmp_path / "job0.extxyz"),
                           str(tmp_path / "job0.json"), str(tmp_path / "cache"))


def test_label_job_records_ase_calculation_failures_and_goes_on(tmp_path):
    record = ase_oracle_chunk(tmp_path, "exit")  # ASE: non-zero exit -> CalculationFailed
    assert record.n_labelled == 0 and [f.index for f in record.failures] == [0, 1]
    assert all("CalculationFailed" in f.reason for f in record.failures)


def test_label_job_stops_unrecorded_when_an_ase_calculators_program_is_stopped_by_sigterm(tmp_path):
    with pytest.raises(OracleInterrupted, match="stopped by SIGTERM"):
        ase_oracle_chunk(tmp_path, "sigterm")  # ASE: CalculationFailed('... error code -15')
    assert list((tmp_path / "cache").iterdir()) == []  # the job made its cache directory, then recorded nothing
    assert not (tmp_path / "job0.json").exists()


def test_label_job_stops_on_a_keyerror_in_an_ase_calculators_parser(tmp_path):
    with pytest.raises(KeyError, match="'energy'") as err:
        ase_oracle_chunk(tmp_path, "renamed")
    assert "in parse_output" in "".join(traceback.format_tb(err.value.__traceback__))
    assert not (tmp_path / "job0.json").exists()


# -- the rule itself, and in-process calculators -----------------------------------------------------
class _Raises(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        raise self.exc


class _InProcess(Oracle):
    name = "inproc"

    def __init__(self, exc):
        self.exc = exc

    def compute_label(self, atoms):
        return singlepoint(atoms, _Raises(self.exc), self.name)


class ConvergenceError(Exception):
    """Named like GPAW's (gpaw.ConvergenceError), which is not imported by the rule."""


class KohnShamConvergenceError(ConvergenceError):
    pass


@pytest.mark.parametrize("exc", [SCFError("scf"), CalculationFailed("crash"), ReadError("truncated"),
                                 subprocess.CalledProcessError(1, "pw.x"), KohnShamConvergenceError("no")],
                         ids=lambda e: type(e).__name__)
def test_an_in_process_calculation_failure_is_an_oracle_error(exc):
    assert is_program_failure(exc)
    with pytest.raises(OracleError, match=f"inproc: calculation failed: {type(exc).__name__}"):
        _InProcess(exc).label(cu())


@pytest.mark.parametrize("exc", [KeyError("x"), TypeError("t"), AttributeError("a"), IndexError("i")],
                         ids=lambda e: type(e).__name__)
def test_an_in_process_bug_propagates_unchanged(exc):
    assert not is_program_failure(exc)
    with pytest.raises(type(exc)) as err:
        _InProcess(exc).label(cu())
    assert err.value is exc


def test_a_calculator_setup_error_stops_the_job_in_one_line():
    with pytest.raises(UserError, match=r"inproc.*rejected its setup.*fix the oracle settings"):
        _InProcess(CalculatorSetupError("no command")).label(cu())


def start_label_job(script: str, pid_file: Path) -> subprocess.Popen:
    """A label job (`script`, a Python program) started, once its oracle program has written its pid."""
    import os
    import time

    job = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    deadline = time.monotonic() + 60
    while not pid_file.is_file() or not pid_file.read_text():
        assert time.monotonic() < deadline and job.poll() is None
        time.sleep(0.05)
    return job


def test_a_stop_signal_to_the_label_job_reaches_the_oracle_program_in_the_childs_group(tmp_path):
    """The labelling child runs in its own process group (a timeout kills MPI ranks with it), which a
    signal to the label job does not reach by itself: the job forwards SIGTERM, so the oracle's program
    (here `sleep`) ends with the job instead of running on, and the job stops unrecorded."""
    import os
    import signal
    import time

    pid_file = tmp_path / "program.pid"
    script = f"""
import subprocess, sys
from mlip_autopipec.core.errors import OracleInterrupted
from mlip_autopipec.steps.label import _call_with_timeout

def call():
    program = subprocess.Popen(["sleep", "120"])
    open({str(pid_file)!r}, "w").write(str(program.pid))
    program.wait()

try:
    _call_with_timeout(call, "sleeper", 300.0)
except OracleInterrupted as exc:
    print("interrupted:", exc)
"""
    job = start_label_job(script, pid_file)
    program = int(pid_file.read_text())
    job.send_signal(signal.SIGTERM)
    out, _ = job.communicate(timeout=60)
    assert "interrupted: sleeper was stopped by SIGTERM" in out
    for _ in range(100):  # the orphaned program is reaped by init once it ends
        try:
            os.kill(program, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(program, signal.SIGKILL)
        raise AssertionError("the oracle's program outlived its label job")


def test_a_forwarded_stop_is_an_interruption_whatever_exit_status_the_launcher_chose(tmp_path):
    """OpenMPI's mpirun ends with exit status 1 after a SIGINT (143 after a SIGTERM), so the program's
    status alone reads as a failed calculation. Seen with pw.x: a run stopped with SIGINT recorded its
    running label as failed, and the rerun skipped the structure. The label job itself knows it
    forwarded a stop: the outcome is OracleInterrupted (not recorded, the rerun computes it). Here the
    launcher is a Python program that exits 1 on SIGINT, and the labelling child ignores SIGINT as a job
    started in the background of a shell does."""
    import signal

    pid_file = tmp_path / "program.pid"
    # the launcher writes its pid once its SIGINT handler is in place (before it, SIGINT is ignored)
    launcher = ("import os, signal, sys, time; signal.signal(signal.SIGINT, lambda *a: sys.exit(1)); "
                f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)")
    script = f"""
import signal, subprocess, sys
from mlip_autopipec.core.errors import OracleError, OracleInterrupted
from mlip_autopipec.steps.label import _call_with_timeout

def call():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    program = subprocess.Popen([sys.executable, "-c", {launcher!r}])
    if program.wait() != 0:
        raise OracleError(f"launcher: calculation failed: exit status {{program.returncode}}")

try:
    print("returned:", _call_with_timeout(call, "launcher", 300.0))
except OracleInterrupted as exc:
    print("interrupted:", exc)
except OracleError as exc:
    print("recorded as failed:", exc)
"""
    job = start_label_job(script, pid_file)
    job.send_signal(signal.SIGINT)
    out, _ = job.communicate(timeout=60)
    assert "interrupted: launcher was stopped by SIGINT" in out, out
