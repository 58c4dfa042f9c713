"""report/oracle_budget.py on synthetic label-job records (written here, not by a run)."""

from __future__ import annotations

from conftest import CONFIGS

from mlip_autopipec.core.io import write_json
from mlip_autopipec.domain_models.config import load_config
from mlip_autopipec.domain_models.records import LabelChunkRecord, LabelNoiseRecord, record_json
from mlip_autopipec.plan import build_plan, format_plan
from mlip_autopipec.loop.oracle_budget import budget_line, oracle_budget, spent


def chunk(path, computed, wall):
    rec = LabelChunkRecord(stage="initial", chunk=0, indices=list(range(2)), n_labelled=2,
                           n_computed_now=computed, wall_time_s=wall)
    write_json(path, record_json(rec))


def test_budget_before_any_label_uses_the_label_noise_check(tmp_path):
    rcfg = load_config(CONFIGS / "mock.yaml")  # 7 initial structures, 2 per job, n_select 5, max_cycles 10
    noise = LabelNoiseRecord(applicable=True, oracle="mock", force_tolerance=0.05, energy_tolerance=0.005,
                             passed=True, message="ok", base_wall_time_s=30.0, oracle_wall_time_s=400.0)
    write_json(tmp_path / "initial" / "label_noise.json", record_json(noise))
    budget = oracle_budget(rcfg, tmp_path, build_plan(rcfg, tmp_path))
    assert budget.spent_s == 400.0 and budget.n_computed == 0 and budget.per_label_s == 30.0
    # fewest: the 7 initial + the 5 of iteration 0; most: + 9 further iterations x 5
    assert (budget.remaining_min, budget.remaining_max) == (7 + 5, 7 + 5 + 9 * 5)
    assert budget.projected_s() == (12 * 30.0, 57 * 30.0)
    line = budget_line(budget)
    assert line.startswith("oracle: 7 min so far (0 labels computed), 30.0 s per calculation")
    assert "12-57 calculations, 6 min-28 min" in line


def test_budget_after_label_jobs_uses_their_cost_and_skips_cache_hits(tmp_path):
    rcfg = load_config(CONFIGS / "mock.yaml")
    jobs = tmp_path / "initial" / "label_jobs"
    jobs.mkdir(parents=True)
    chunk(jobs / "0.json", computed=2, wall=100.0)
    chunk(jobs / "1.json", computed=1, wall=20.0)
    chunk(jobs / "2.json", computed=0, wall=0.5)  # from the cache: no cost
    (jobs / "0.extxyz").write_text("")
    (jobs / "1.extxyz").write_text("")
    (jobs / "2.extxyz").write_text("")
    budget = oracle_budget(rcfg, tmp_path, build_plan(rcfg, tmp_path))
    assert budget.n_computed == 3 and budget.spent_s == 120.0 and budget.per_label_s == 40.0
    assert budget.remaining_min == 2 + 5  # one initial label job left (2 structures), iteration 0
    assert "oracle: 2 min so far (3 labels computed), 40.0 s per calculation" in format_plan(rcfg, tmp_path)


def test_the_properties_stage_oracle_jobs_count_as_spent(tmp_path):
    """Their records (PropertyLabelChunkRecord) carry no `stage`: read as label-job records they were
    all skipped, and the properties stage's oracle time was missing from the budget."""
    from mlip_autopipec.domain_models.property_files import PropertyLabelChunkRecord

    jobs = tmp_path / "initial" / "label_jobs"
    chunk(jobs / "0.json", computed=2, wall=100.0)
    prop = PropertyLabelChunkRecord(chunk=0, indices=[0, 1, 2], n_labelled=3, n_computed_now=3, wall_time_s=60.0)
    write_json(tmp_path / "final_fit" / "properties" / "oracle_jobs" / "0.json", prop.model_dump(mode="json"))
    seconds, n, per, _ = spent(tmp_path)
    assert (seconds, n) == (160.0, 5)
    assert per == 32.0
