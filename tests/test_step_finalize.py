"""steps/finalize.py called directly on a decision file (no Snakemake)."""

from __future__ import annotations

from mlip_autopipec.core.io import write_json
from mlip_autopipec.domain_models.state import Action, Decision
from mlip_autopipec.steps.finalize import run_finalize


def test_the_flag_says_how_and_why_the_loop_ended(tmp_path):
    decision = Decision(iteration=3, action=Action.CONVERGED, reason="all ran through", progress=1.0)
    write_json(tmp_path / "decision.json", decision.model_dump(mode="json"))
    assert run_finalize(str(tmp_path / "decision.json"), str(tmp_path / "converged.flag")) == decision
    assert (tmp_path / "converged.flag").read_text() == "converged: iteration 3: all ran through\n"
