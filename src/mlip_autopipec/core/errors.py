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


class TrainingError(Exception):
    """A fit failed (e.g. diverged); the previous potential is kept."""
