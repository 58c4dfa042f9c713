"""domain_models/property_summary.py: one stage's entry of `WorkflowState.properties`.

The state files under tests/data/synthetic_property_files_4fb40d8 were written by the untyped code
(its README): they must load into the typed state and write the same section back."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlip_autopipec.core.io import read_json
from mlip_autopipec.domain_models.property_summary import PropertyStageSummary
from mlip_autopipec.domain_models.state import WorkflowState
from mlip_autopipec.loop.property_state import summary_line

OLD = Path(__file__).parent / "data" / "synthetic_property_files_4fb40d8"


def test_a_state_file_of_the_untyped_code_loads_and_writes_its_properties_back():
    raw = read_json(OLD / "run" / "workflow_state" / "workflow_state.json")
    state = WorkflowState.model_validate(raw)
    assert all(isinstance(v, PropertyStageSummary) for v in state.properties.values())
    dumped = state.model_dump(mode="json")["properties"]
    assert json.dumps(dumped) == json.dumps(raw["properties"])  # keys, order and values
    assert state.properties["initial"].self_check == "ok" and state.properties["final_fit"].n_ok == 9


@pytest.mark.parametrize("name", ["state_properties_before_records.json", "state_properties_after_records.json"])
def test_entries_without_verdicts_or_self_check_keep_those_keys_out(name):
    raw = read_json(OLD / "failures" / name)
    state = WorkflowState(status="EXPLORING", iteration=0, properties=raw)
    assert state.model_dump(mode="json")["properties"] == raw
    assert "self_check" not in raw["iter_000"]


def test_the_status_line_words():
    counts = {"initial": PropertyStageSummary(n_tasks=21, n_labelled=20, n_failed=1),
              "iter_000": PropertyStageSummary(n_tasks=21, n_labelled=21, n_failed=0, n_properties=11, n_ok=7,
                                               self_check="FAILED")}
    assert summary_line(counts) == ("properties: initial 20/21 oracle calculations (1 failed); iter_000 21/21 oracle "
                                    "calculations (0 failed), 7/11 within tolerance, B(Cij) = B(EOS) check FAILED")
    assert summary_line({}) is None


def test_an_unknown_self_check_word_or_key_is_an_error():
    with pytest.raises(ValidationError, match="self_check"):
        PropertyStageSummary(n_tasks=1, n_labelled=1, n_failed=0, self_check="passed")
    with pytest.raises(ValidationError, match="n_fail"):
        PropertyStageSummary.model_validate({"n_tasks": 1, "n_labelled": 1, "n_failed": 0, "n_fail": 0})
