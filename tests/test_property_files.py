"""domain_models/property_files.py: the properties stage's JSON files as typed records.

The files under tests/data/synthetic_property_files_4fb40d8 were written by the untyped code before
these models existed (see its README): each must read into its model and write back byte for byte,
so a resumed run reads its old files and new files keep the old keys and values."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from test_properties_equilibrium import emt_a0

from mlip_autopipec.core.io import read_json, write_json
from mlip_autopipec.domain_models.properties_config import PropertyTolerances
from mlip_autopipec.domain_models.property_files import (BulkModulusSide, MdStabilityResult, OracleEquilibriumRecord,
                                                         PropertyDetails, PropertyLabelChunkRecord,
                                                         read_md_stability, read_md_stability_or_none,
                                                         read_oracle_equilibrium, read_property_details,
                                                         read_property_label_chunk, write_model)

OLD = Path(__file__).parent / "data" / "synthetic_property_files_4fb40d8"
RUN, FAIL = OLD / "run", OLD / "failures"

FILES = {
    "run/initial/properties/md_stability.json": read_md_stability,
    "run/final_fit/properties/md_stability.json": read_md_stability,
    "failures/iter_000/properties/md_stability.json": read_md_stability,
    "run/initial/properties/oracle_equilibrium.json": read_oracle_equilibrium,
    "failures/iter_000/properties/oracle_equilibrium.json": read_oracle_equilibrium,
    "failures/iter_001/properties/oracle_equilibrium.json": read_oracle_equilibrium,
    "run/initial/properties/oracle_jobs/0.json": read_property_label_chunk,
    "run/initial/properties/oracle_jobs/1.json": read_property_label_chunk,
    "failures/iter_000/properties/oracle_jobs/0.json": read_property_label_chunk,
    "run/initial/properties/details.json": read_property_details,
    "failures/iter_000/properties/details.json": read_property_details,
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_file_of_the_untyped_code_reads_and_writes_back_byte_for_byte(name, tmp_path):
    record = FILES[name](OLD / name)
    write_model(tmp_path / "out.json", record)
    assert (tmp_path / "out.json").read_text() == (OLD / name).read_text()


def test_the_old_files_hold_what_the_models_say():
    ok = read_oracle_equilibrium(RUN / "initial/properties/oracle_equilibrium.json")
    assert ok.failure is None and ok.equilibrium.a == pytest.approx(emt_a0(), abs=2e-4)  # the oracle was EMT
    failed = read_oracle_equilibrium(FAIL / "iter_001/properties/oracle_equilibrium.json")
    assert failed.equilibrium is None and "injected failure" in failed.failure
    chunk = read_property_label_chunk(FAIL / "iter_000/properties/oracle_jobs/0.json")
    assert [(f.index, f.task) for f in chunk.failures] == [(3, "eos/03"), (4, "eos/04"), (8, "vacancy/defect")]
    assert chunk.n_labelled + len(chunk.failures) == len(chunk.indices) == 9
    assert chunk.failures[2].oracle_settings["relax_fmax"] == 0.01  # a relaxation's cache key holds where it stops
    details = read_property_details(RUN / "initial/properties/details.json")
    side = BulkModulusSide.model_validate(details.potential["bulk_modulus_consistency"])
    assert side.ok and side.rel_diff == pytest.approx(abs(side.b_elastic - side.b_eos) / side.b_eos, abs=1e-6)
    assert details.md_stability == {k: v for k, v in read_json(RUN / "initial/properties/md_stability.json").items()
                                    if k != "trace"}
    no_gamma = read_md_stability(FAIL / "iter_000/properties/md_stability.json")
    assert no_gamma.max_gamma is None and no_gamma.trace.max_gamma == [] and no_gamma.complete


def test_the_md_records_use_the_bound_the_file_recorded():
    """A final fit's run carries its calibrated bound; a run of an earlier version (no bound recorded)
    falls back to properties.tolerances.md_max_gamma."""
    from mlip_autopipec.properties.md_stability import records

    final = read_md_stability(RUN / "final_fit/properties/md_stability.json")
    raw = read_json(RUN / "final_fit/properties/md_stability.json")
    rows = {r.name: r for r in records(final, PropertyTolerances(md_max_gamma=3.0), 2.0)}
    assert rows["md_max_gamma"].tolerance == raw["gamma_threshold"] == 5.0
    assert rows["md_max_gamma"].ok is (raw["max_gamma"] <= 5.0)
    older = MdStabilityResult.model_validate({k: v for k, v in raw.items() if not k.startswith("gamma_threshold")})
    assert older.without_trace() == {k: v for k, v in raw.items() if k != "trace" and not k.startswith("gamma_threshold")}
    assert {r.name: r for r in records(older, PropertyTolerances(md_max_gamma=3.0), 2.0)}["md_max_gamma"].tolerance == 3.0


def test_a_broken_run_fails_every_md_row():
    raw = read_json(RUN / "initial/properties/md_stability.json")
    broken = MdStabilityResult.model_validate({**raw, "steps_run": 20, "exploded": "non-finite energy"})
    from mlip_autopipec.properties.md_stability import records

    assert not broken.complete
    assert [r.ok for r in records(broken, PropertyTolerances(), 0.5)] == [False, False, False]


def test_a_misspelt_key_is_an_error_and_a_foreign_file_reads_as_none(tmp_path):
    raw = read_json(RUN / "initial/properties/md_stability.json")
    write_json(tmp_path / "typo.json", {**raw, "max_gama": 1.0})
    with pytest.raises(ValidationError, match="max_gama"):
        read_md_stability(tmp_path / "typo.json")
    assert read_md_stability_or_none(tmp_path / "typo.json") is None
    assert read_md_stability_or_none(tmp_path / "missing.json") is None
    with pytest.raises(ValidationError, match="failures"):
        PropertyLabelChunkRecord.model_validate({**read_json(RUN / "initial/properties/oracle_jobs/0.json"),
                                                 "failures": [{"task": "eos/00"}]})


def test_a_self_check_side_holds_its_numbers_or_why_it_was_skipped():
    assert BulkModulusSide(skipped="no elastic constants").model_dump() == {"skipped": "no elastic constants"}
    side = BulkModulusSide(b_eos=134.4, b_elastic=125.2, rel_diff=0.0685, tolerance=0.011)
    assert side.ok is False and list(side.model_dump()) == ["b_eos", "b_elastic", "rel_diff", "tolerance"]
    with pytest.raises(ValidationError, match="either all of"):
        BulkModulusSide(b_eos=134.4, rel_diff=0.01)
    with pytest.raises(ValidationError, match="either all of"):
        BulkModulusSide()


def test_an_equilibrium_record_writes_only_the_side_it_has():
    ok = OracleEquilibriumRecord(computed_now=False, wall_time_s=0.1,
                                 equilibrium={"volume_per_atom": 11.8, "residual_stress_GPa": None,
                                              "cell": [[3.6, 0, 0], [0, 3.6, 0], [0, 0, 3.6]], "relax_steps": None})
    assert json.loads(json.dumps(ok.model_dump())) == {
        "computed_now": False, "wall_time_s": 0.1,
        "equilibrium": {"volume_per_atom": 11.8, "residual_stress_GPa": None,
                        "cell": [[3.6, 0, 0], [0, 3.6, 0], [0, 0, 3.6]], "relax_steps": None}}
    assert PropertyDetails.model_fields["md_stability"].is_required()  # null is written, never left out
