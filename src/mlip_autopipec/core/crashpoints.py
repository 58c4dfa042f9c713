"""Named crash points for fault-injection tests (the "failpoints" of databases).

When the environment variable MLIP_CRASHPOINT names a point, reaching it SIGKILLs the whole process
group: the run dies exactly as a power cut or `kill -9` of the session would leave it, at a known
place (e.g. `write:labels.extxyz` after the temporary file is written but before the rename). Unset,
a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "MLIP_CRASHPOINT"


def crashpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
