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
* anything else (KeyError, TypeError, AttributeError, ... in the project's own code, e.g. the
  parser of a program's output) is a bug: it stops the job with its traceback. Recording it as a
  per-structure failure would let the loop go on with silently fewer labels.

Every oracle derives from `Oracle` and fills in `compute_label` (and `compute_isolated` when it
has isolated-atom energies); `label` and `isolated_atom_energy` apply the rule.
"""

from __future__ import annotations

import contextlib
import subprocess
from typing import Callable, Iterator, Sequence

from ase import Atoms
from ase.calculators.calculator import CalculationFailed, CalculatorSetupError, PropertyNotPresent, ReadError

from ...core.errors import OracleError, UserError

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


def is_program_failure(exc: BaseException) -> bool:
    """Whether `exc` reports a failed calculation of the oracle program (not a bug of ours)."""
    if isinstance(exc, PROGRAM_FAILURE_TYPES):
        return True
    return any(cls.__name__ in PROGRAM_FAILURE_NAMES for cls in type(exc).__mro__)


def classify(exc: Exception, oracle_name: str, reason: str | None = None) -> BaseException | None:
    """What the rule makes of `exc`: an OracleError to record, a UserError that stops the job, or
    None (a bug: re-raise `exc` itself, traceback and all). `reason`: the program's own account of
    the failure read from its output (`diagnose`); with one, the program failed whatever was raised."""
    if isinstance(exc, UserError):
        return exc
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
