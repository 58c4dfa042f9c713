"""domain_models/property_records.py: the rows of properties.json read and written through the model,
with the keys the dict records had (files of earlier runs read unchanged)."""

import json

import pytest
from pydantic import ValidationError

from mlip_autopipec.domain_models.property_records import (PropertyRecord, read_property_records,
                                                           write_property_records)

# rows as the dict-based writer put them on disk (hand-written in its layout: a compared value with a
# reference, the self-check with one side skipped, a failed group without tolerance_kind)
ON_DISK = [
    {"name": "lattice_constant", "unit": "Å", "oracle": 3.589828, "potential": 3.625727, "abs_error": 0.035898,
     "rel_error": 0.01, "tolerance": 0.005, "tolerance_kind": "rel", "ok": False, "reference": 3.615},
    {"name": "md_min_distance", "unit": "Å", "oracle": None, "potential": 2.1, "abs_error": None, "rel_error": None,
     "tolerance": 1.584, "tolerance_kind": "min", "ok": True},
    {"name": "bulk_modulus_consistency", "unit": "rel", "oracle": 0.000833, "potential": None, "abs_error": None,
     "rel_error": None, "tolerance": 0.010249, "tolerance_kind": "consistency", "ok": True, "check": "B ...",
     "oracle_B_GPa": {"eos": 134.4, "elastic": 134.5}, "oracle_tolerance": 0.010249,
     "skipped": "potential: not computed"},
    {"name": "vacancy", "unit": None, "oracle": None, "potential": None, "abs_error": None, "rel_error": None,
     "tolerance": None, "ok": False, "error": "oracle: missing calculation 'vacancy/defect'"},
]


def test_the_file_round_trips_with_the_same_keys(tmp_path):
    path = tmp_path / "properties.json"
    path.write_text(json.dumps(ON_DISK))
    records = read_property_records(path)
    assert [r.name for r in records] == ["lattice_constant", "md_min_distance", "bulk_modulus_consistency", "vacancy"]
    assert records[2].oracle_B_GPa.elastic == 134.5 and records[2].potential_B_GPa is None
    assert records[3].tolerance_kind is None and records[3].error.startswith("oracle:")
    write_property_records(tmp_path / "again.json", records)
    assert json.loads((tmp_path / "again.json").read_text()) == ON_DISK


def test_the_failed_row_and_the_side_tolerance():
    assert PropertyRecord.failed("eos", "potential: boom").model_dump() == {
        "name": "eos", "unit": None, "oracle": None, "potential": None, "abs_error": None, "rel_error": None,
        "tolerance": None, "ok": False, "error": "potential: boom"}
    check = PropertyRecord.model_validate(ON_DISK[2])
    assert check.side_tolerance("oracle") == 0.010249 and check.side_tolerance("potential") == 0.010249
    assert PropertyRecord(name="x", ok=True, tolerance=0.2, oracle_tolerance=0.1).side_tolerance("oracle") == 0.1


def test_a_misspelt_key_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="rel_eror"):
        PropertyRecord.model_validate({**ON_DISK[0], "rel_eror": 0.01})
    path = tmp_path / "properties.json"
    path.write_text(json.dumps([{"name": "C44"}]))
    with pytest.raises(ValidationError, match="ok"):
        read_property_records(path)
