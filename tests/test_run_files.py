"""domain_models/records.py readers of the two plain-JSON run files other modules read: the label step's
gathered failures and the isolated-atom reference energies. The files are written here with the writers
the steps use (core.io.write_json of the same structures), not copied from a run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlip_autopipec.core.io import write_json
from mlip_autopipec.domain_models.records import (LabelFailure, read_label_failures, read_reference_energies_file,
                                                  record_json)


def test_label_failures_round_trip_and_a_foreign_entry_is_refused(tmp_path):
    failure = LabelFailure(index=3, hash="ab12", reason="SCF not converged", wall_time_s=12.5, oracle="espresso")
    path = tmp_path / "labels_failed.json"
    write_json(path, [record_json(failure)])
    assert read_label_failures(path) == [failure]
    write_json(path, [{"index": 3, "why": "?"}])
    with pytest.raises(ValidationError, match="hash"):
        read_label_failures(path)


def test_reference_energies_are_numbers_per_element(tmp_path):
    path = tmp_path / "reference_energies.json"
    write_json(path, {"Cu": 3.51, "Ni": -0.2})
    assert read_reference_energies_file(path) == {"Cu": 3.51, "Ni": -0.2}
    write_json(path, {"Cu": "three"})
    with pytest.raises(ValidationError, match="Cu"):
        read_reference_energies_file(path)


def test_read_or_none_is_none_for_a_missing_or_foreign_file_and_the_record_otherwise(tmp_path):
    from mlip_autopipec.domain_models._strict import read_or_none

    path = tmp_path / "labels_failed.json"
    assert read_or_none(read_label_failures, path) is None
    path.write_text('[{"index": ')  # a partial file another program was writing
    assert read_or_none(read_label_failures, path) is None
    write_json(path, [])
    assert read_or_none(read_label_failures, path) == []
