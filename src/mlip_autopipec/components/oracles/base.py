"""What every oracle shares: the one rule that tells a failure of the oracle program from a bug.

A label call can fail in three ways, and each is treated differently:

* the oracle *program* failed: it exited non-zero, its SCF did not converge, it timed out, it
  wrote NaN/inf or no result, or its output says it stopped. That is a property of one structure
  and the settings; the LABEL step records it (label_cache `.failed.json`, `LabelFailure`) and
  the loop goes on without that structure. Such failures arrive as `OracleError` (raised by our
  code once it has read the program's verdict) or as one of the exception types ASE calculators
  and the DFT codes use for a failed calculation (`is_program_failure`).
* the *setup* is wrong (a missing program, a calculator that rejects its parameters): every
  structure would fail alike, so it stops the job with a one-line `UserError`.
* the program was *stopped from outside* (SIGTERM, SIGINT, SIGHUP, SIGQUIT: a scheduler's time limit,
  preemption, Ctrl-C): nothing is wrong with the structure, so nothing is recorded; `OracleInterrupted`
  stops the job and the rerun computes it again (recorded as failed, it would be skipped for good).
* anything else (KeyError, TypeError, AttributeError, ... in the project's own code, e.g. the
  parser of a program's output) is a bug: it stops the job with its traceback. Recording it as a
  per-structure failure would let the loop go on with silently fewer labels.

Every oracle derives from `Oracle` and fills in `compute_label` (and `compute_isolated` when it
has isolated-atom energies); `label` and `isolated_atom_energy` apply the rule.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from typing import Callable, Iterator, Sequence

from ase import Atoms
from ase.calculators.calculator import CalculationFailed, CalculatorSetupError, PropertyNotPresent, ReadError

from ...core.errors import OracleError, OracleInterrupted, UserError

# Exception types that mean "the calculation failed" whoever raised them: ASE's own classes for a
# failed run (SCFError is a CalculationFailed) or for output it cannot read, a program started by
# `subprocess` that exited non-zero or ran out of time, and memory exhaustion of an in-process code.
PROGRAM_FAILURE_TYPES: tuple[type[BaseException], ...] = (
    OracleError, CalculationFailed, ReadError, PropertyNotPresent,
    subprocess.CalledProcessError, subprocess.TimeoutExpired, MemoryError,
)
# The codes' own classes for an unconverged calculation, matched by name anywhere in the class's
# ancestry so that the code need not be importable here (GPAW: KohnShamConvergenceError <
# ConvergenceError < Exception).
PROGRAM_FAILURE_NAMES = frozenset({"ConvergenceError", "KohnShamConvergenceError", "SCFError"})


# Signals that stop a program from outside; SIGKILL is not among them: the kernel's out-of-memory killer
# sends it too, and a structure too large for the job's memory would fail again on every rerun.
INTERRUPT_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM})


def interrupting_signal(returncode: int | None) -> signal.Signals | None:
    """The signal in a program's exit status when it is one that stops it from outside: -n from
    Python's subprocess and multiprocessing, 128 + n from a shell or mpirun (143 for SIGTERM)."""
    if returncode is None:
        return None
    number = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 160 else None
    return next((s for s in INTERRUPT_SIGNALS if s.value == number), None)


def interrupted_by(exc: BaseException) -> signal.Signals | None:
    """The signal when `exc`, or an exception it was raised from, reports a program stopped from outside:
    subprocess.CalledProcessError (ASE's profiles raise CalculationFailed from it) or the 'error code N'
    of an ASE FileIOCalculator's CalculationFailed."""
    seen: BaseException | None = exc
    while seen is not None:
        code = seen.returncode if isinstance(seen, subprocess.CalledProcessError) else None
        if code is None and isinstance(seen, CalculationFailed):
            match = re.search(r"error code (-?\d+)", str(seen))
            code = int(match.group(1)) if match else None
        found = interrupting_signal(code)
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def interruption(oracle_name: str, sig: signal.Signals, detail: str = "") -> OracleInterrupted:
    return OracleInterrupted(f"{oracle_name} was stopped by {sig.name}{f' ({detail})' if detail else ''}: not a "
                             "failed calculation, so it is not recorded as one; rerun to compute it")


def is_program_failure(exc: BaseException) -> bool:
    """Whether `exc` reports a failed calculation of the oracle program (not a bug of ours)."""
    if isinstance(exc, PROGRAM_FAILURE_TYPES):
        return True
    return any(cls.__name__ in PROGRAM_FAILURE_NAMES for cls in type(exc).__mro__)


def classify(exc: Exception, oracle_name: str, reason: str | None = None) -> BaseException | None:
    """What the rule makes of `exc`: an OracleError to record, a UserError or OracleInterrupted that
    stops the job, or None (a bug: re-raise `exc` itself, traceback and all). `reason`: the program's own account of
    the failure read from its output (`diagnose`); with one, the program failed whatever was raised."""
    if isinstance(exc, (UserError, OracleInterrupted)):
        return exc
    sig = interrupted_by(exc)
    if sig is not None:  # before the program's own account: mpirun reports a killed rank as a crash
        return interruption(oracle_name, sig, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, OracleError):
        if reason and reason not in str(exc):
            return OracleError(f"{oracle_name}: {reason} ({exc})")
        return exc
    if isinstance(exc, CalculatorSetupError):
        return UserError(f"oracle ({oracle_name}): the calculator rejected its setup ({type(exc).__name__}: {exc}); "
                         f"fix the oracle settings in the config")
    if reason is not None or is_program_failure(exc):
        return OracleError(f"{oracle_name}: {reason or 'calculation failed'}: {type(exc).__name__}: {exc}")
    return None


class Oracle:
    """Base of every oracle: applies the failure rule around the hooks that compute."""

    name = "oracle"

    # -- the Oracle protocol (components/base.py) ----------------------------------------------------
    def label(self, atoms: Atoms) -> Atoms:
        """A copy of `atoms` with energy, forces (and stress). OracleError: the program failed
        (recorded and skipped); UserError: a setup mistake; anything else: a bug (stops the job)."""
        with self.failure_rule():
            return self.compute_label(atoms)

    def isolated_atom_energy(self, symbol: str) -> float:
        with self.failure_rule():
            return self.compute_isolated(symbol)

    def check_elements(self, symbols: Sequence[str]) -> None:
        return None

    def check_setup(self) -> None:
        return None

    # -- what subclasses implement ------------------------------------------------------------------
    def compute_label(self, atoms: Atoms) -> Atoms:
        raise NotImplementedError

    def compute_isolated(self, symbol: str) -> float:
        raise NotImplementedError

    # -- the rule ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def failure_rule(self, diagnose: Callable[[], str | None] | None = None) -> Iterator[None]:
        """Classify what the block raises (see the module docstring). `diagnose`: reads the program's
        output for the reason of a failure (external programs: their run directory)."""
        try:
            yield
        except Exception as exc:
            reason = _safe(diagnose) if diagnose is not None and not isinstance(exc, UserError) else None
            verdict = classify(exc, self.name, reason)
            if verdict is None:
                raise  # a bug of ours: stop the job with its traceback
            if verdict is exc:
                raise
            raise verdict from exc


def _safe(diagnose: Callable[[], str | None]) -> str | None:
    """The diagnosis, or None when reading the output itself fails (an unreadable file must not hide
    the exception being classified)."""
    try:
        return diagnose()
    except OSError:
        return None
