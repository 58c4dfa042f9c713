"""The pacemaker trainer's environment for the tests: found as in a real run (pacemaker_env).

CI installs it (tools/install_pacemaker_extra.sh), so with CI=1 or MLIP_CI=1 a missing one FAILS
the pacemaker tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlip_autopipec.components.trainers.pacemaker_env import pacemaker_python
from mlip_autopipec.core.errors import UserError


def in_ci() -> bool:
    return any(os.environ.get(k, "") not in ("", "0", "false") for k in ("CI", "MLIP_CI"))


def require_pacemaker_python() -> Path:
    try:
        return pacemaker_python()
    except UserError as exc:
        if in_ci():
            pytest.fail(f"pacemaker environment missing under CI: {exc}", pytrace=False)
        pytest.skip(f"pacemaker environment missing: {exc}")
