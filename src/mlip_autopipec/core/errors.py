"""Typed errors: setup mistakes (bad input, missing program) vs. failures of a run.

The CLI and the Snakemake scripts print `UserError`s as one line without a traceback; anything
else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake the user can fix; the message names the file, the field and the fix."""


class ConfigError(UserError):
    """The configuration file is invalid."""


class StructureError(UserError):
    """A structure file is missing, empty, corrupt or physically unusable."""


class OracleError(Exception):
    """One oracle calculation failed (recorded and skipped, never fatal on its own)."""


class OracleInterrupted(Exception):
    """The oracle program was stopped from outside (SIGTERM of a scheduler's time limit or preemption,
    Ctrl-C, a closed terminal): not a failed calculation. The label job stops without recording a
    failure, so the rerun computes the structure again instead of skipping it for good."""


class TrainingError(Exception):
    """A fit failed (e.g. diverged); the previous potential is kept."""
