"""components/oracles/gpaw_result.py: the files between GPAWOracle and gpaw_driver (no GPAW needed;
the round trip through GPAW under MPI is test_oracles_gpaw.py's test_gpaw_under_mpi_gives_the_serial_result)."""

import json
import math

import pytest
from pydantic import ValidationError

from mlip_autopipec.components.oracles.gpaw_result import GpawDriverResult, GpawParameters, read_gpaw_result


def test_a_result_keeps_the_drivers_four_keys_and_a_nan_force(tmp_path):
    result = GpawDriverResult(free_energy=-10.5, energy=-10.4, forces=[[math.nan, 0.1, -0.2]], stress=None)
    text = json.dumps(result.model_dump())
    # the keys the driver's dict had, in its order; null stress written; NaN kept (json, not pydantic's JSON)
    assert text == '{"free_energy": -10.5, "energy": -10.4, "forces": [[NaN, 0.1, -0.2]], "stress": null}'
    (tmp_path / "result.json").write_text(text)
    back = read_gpaw_result(tmp_path / "result.json")
    assert not back.failed and math.isnan(back.forces[0][0]) and back.forces[0][1:] == [0.1, -0.2]


@pytest.mark.parametrize("failure, keys", [("setup", ["error", "error_type", "failure"]),
                                           ("bug", ["error", "error_type", "failure", "traceback"])])
def test_an_error_writes_only_its_keys(failure, keys):
    tb = "Traceback ..." if failure == "bug" else None
    result = GpawDriverResult(error="bad xc", error_type="ValueError", failure=failure, traceback=tb)
    assert list(result.model_dump()) == keys and result.failed


def test_half_a_result_or_an_unknown_failure_kind_is_an_error():
    with pytest.raises(ValidationError, match="either free_energy"):
        GpawDriverResult(free_energy=-1.0, forces=[[0.0, 0.0, 0.0]])
    with pytest.raises(ValidationError, match="either free_energy"):
        GpawDriverResult(free_energy=-1.0, energy=-1.0, forces=[[0.0, 0.0, 0.0]], error="x", error_type="E",
                         failure="program")
    with pytest.raises(ValidationError, match="failure"):
        GpawDriverResult(error="x", error_type="E", failure="crash")


def test_parameters_as_the_oracle_wrote_them():
    old = '{"gpaw": {"mode": {"name": "pw", "ecut": 200}, "kpts": [2, 2, 2]}, "need_stress": false}'
    spec = GpawParameters.model_validate_json(old)
    assert spec.gpaw["kpts"] == [2, 2, 2] and spec.need_stress is False
    assert json.dumps(spec.model_dump()) == old
    assert GpawParameters.model_validate_json('{"gpaw": {}}').need_stress is True
