"""Config validation: every bad field gives a message naming the file, the field and the fix."""

import json
from pathlib import Path

import pytest
import yaml

from mlip_autopipec.core.errors import ConfigError
from mlip_autopipec.domain_models.config import OTFConfig, json_schema, load_config

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, data) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_repository_config_is_valid_and_matches_defaults():
    """The demo names only the system, the conditions and the oracle: everything else is a default
    (derived ones included), so a user's minimal config gets the same settings."""
    rcfg = load_config(REPO / "config" / "config.yaml")
    defaults = OTFConfig()
    assert rcfg.cfg.structures[1].vacancies == 1 and rcfg.cfg.structures[:1] == defaults.structures
    wide = rcfg.cfg.wide_cell()  # derived: structures[0] repeated past 2 x cutoff, explored at 1200 K
    assert len(rcfg.cfg.structures) == 2 and tuple(wide.supercell) == (3, 3, 3)
    assert rcfg.cfg.wide_exploration_condition() == "t1200"
    extra = [c for c in rcfg.cfg.exploration.conditions if c not in defaults.exploration.conditions]
    assert [c.name for c in extra] == ["vac900"]
    # the values the Cu benchmarks chose (benchmarks/RESULTS.md) are what the defaults give for Cu
    assert rcfg.cfg.initial_data.rattle_stdev == 0.1 and rcfg.cfg.initial_data.n_rattled == 8
    assert (rcfg.cfg.convergence.force_rmse, rcfg.cfg.convergence.energy_rmse) == (0.003, 0.001)
    assert rcfg.cfg.labeling.structures_per_job == 10 and rcfg.cfg.validation.n_generated == 24
    assert rcfg.cfg.properties.enabled and rcfg.cfg.has_final_fit() and rcfg.cfg.selection.n_select == 8
    # the held-out MD follows the conditions (600, 900, 1000, 1200 K: lowest, middle, highest)
    assert rcfg.cfg.validation.temperatures == [600.0, 900.0, 1200.0]
    assert defaults.validation.temperatures == [600.0, 1000.0, 1200.0]
    exploration = rcfg.cfg.exploration.model_copy(update={"conditions": defaults.exploration.conditions})
    as_defaults = rcfg.cfg.model_copy(update={"structures": defaults.structures, "exploration": exploration,
                                              "validation": defaults.validation})
    # fields only: the DEFAULTS reasons name the conditions' temperatures, which differ on purpose
    assert as_defaults.model_dump() == defaults.model_dump()


def test_demo_config_is_short():
    lines = (REPO / "config" / "config.yaml").read_text().splitlines()
    settings = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(settings) <= 40


def test_all_options_file_is_valid():
    load_config(REPO / "config" / "all_options.yaml")


def test_schema_file_is_generated_from_models():
    on_disk = json.loads((REPO / "config" / "schema.json").read_text())
    assert on_disk == json_schema(), "regenerate with: mlip-runner schema > config/schema.json"


def test_schema_validates_repository_config_with_snakemake():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "config" / "schema.json"), set_default=False)
    config["max_cycles"] = "many"
    with pytest.raises(WorkflowError, match="'many' is not of type 'integer'"):
        validate(config, str(REPO / "config" / "schema.json"), set_default=False)
    # a section without `kind` is the default implementation there too (as in the models)
    validate({"trainer": {"basis": {"cutoff": 6.0}}}, str(REPO / "config" / "schema.json"), set_default=False)
    with pytest.raises(WorkflowError, match="'x' is not of type 'number'"):
        validate({"trainer": {"basis": {"cutoff": "x"}}}, str(REPO / "config" / "schema.json"), set_default=False)


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"max_cyles": 3}, "max_cyles", "unknown key"),
        ({"max_cycles": "many"}, "max_cycles", "integer"),
        ({"max_cycles": 0}, "max_cycles", "greater than or equal to 1"),
        ({"initial_exploration_steps": -5}, "initial_exploration_steps", "greater than or equal to 1"),
        ({"patience": 0}, "patience", "greater than or equal to 1"),
        ({"exploration": {"gamma_select": 6, "gamma_halt": 5}}, "exploration", "gamma_halt"),
        ({"oracle": {"kind": "vasp2"}}, "oracle", "kind"),
        ({"trainer": {"kind": "mock", "basis": {}}}, "trainer.mock.basis", "unknown key"),
        ({"selection": {"kind": "maxvol", "n_select": 30}}, "<top level>", "n_candidates"),
        ({"exploration": {"conditions": [{"name": "a b"}]}}, "exploration.conditions.0.name", "pattern"),
        ({"exploration": {"conditions": [{"name": "a", "structure": 3}]}}, "<top level>", "structure 3"),
        ({"exploration": {"conditions": []}}, "exploration.conditions", "at least 1"),
        ({"structures": [{"kind": "bulk", "supercell": [2, 2]}]}, "structures.0.bulk.supercell", ""),
        ({"candidates": {"min_distance": -1}}, "candidates.min_distance", "greater than 0"),
        ({"oracle": {"cutoff_ev": 300}}, "oracle", "has no `kind:` (add `kind:` naming the implementation: one of emt, mock, gpaw,"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path, data, field, words):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    assert field in msg
    assert words in msg
    assert "Traceback" not in msg


def test_a_section_without_kind_is_the_default_implementation(tmp_path):
    """`trainer: {basis: {cutoff: 6}}` (what `--set trainer.basis.cutoff=6` makes of a config without a
    trainer) is the default trainer, with its derived ladder, at that cutoff."""
    cfg = load_config(write(tmp_path, {"trainer": {"basis": {"cutoff": 6.0}}, "selection": {"n_select": 4},
                                       "dynamics": {"friction": 0.01}})).cfg
    default = OTFConfig()
    assert (cfg.trainer.kind, cfg.selection.kind, cfg.dynamics.kind) == (
        default.trainer.kind, default.selection.kind, default.dynamics.kind)
    assert cfg.trainer.basis.cutoff == 6.0
    assert cfg.trainer.ladder == default.trainer.ladder
    assert (cfg.selection.n_select, cfg.dynamics.friction) == (4, 0.01)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_cycles: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(lst)


def test_relative_paths_resolve_against_config_file(tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    rcfg = load_config(write(sub, {"validation": {"file": "data/val.extxyz"}}))
    assert rcfg.resolve(rcfg.cfg.validation.file) == sub / "data" / "val.extxyz"


def test_final_fit_ladder_tries_every_rung_and_only_linear_ace_has_one():
    rung = {"number_of_functions_per_element": 30, "max_order": 2, "nradmax_by_orders": [8, 4], "lmax_by_orders": [0, 2]}
    big = {**rung, "number_of_functions_per_element": 60}
    cfg = OTFConfig.model_validate({"trainer": {"kind": "linear_ace", "ladder": {"rungs": [rung], "final_rungs": [big]}}})
    assert cfg.has_final_fit()
    final = cfg.final_fit_trainer()
    assert [r.number_of_functions_per_element for r in final.ladder.rungs] == [30, 60]
    assert final.ladder.final_rungs == [] and cfg.trainer.ladder.final_rungs  # the config itself is unchanged
    assert not OTFConfig.model_validate({"trainer": {"kind": "linear_ace", "ladder": {"rungs": [rung]}}}).has_final_fit()
    assert not OTFConfig.model_validate({"trainer": {"kind": "mock"}}).has_final_fit()
