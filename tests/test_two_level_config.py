"""Config of two-level labelling (domain_models/two_level_config.py, OTFConfig's checks, preflight)."""

import pytest
import yaml

from conftest import CONFIGS, mock_config
from mlip_autopipec.core.errors import ConfigError, UserError
from mlip_autopipec.plan import n_label_jobs
from mlip_autopipec.preflight import preflight


def test_absent_cheap_oracle_is_one_level(tmp_path):
    cfg = mock_config(tmp_path).cfg
    assert cfg.cheap_oracle is None and not cfg.two_level_on()
    assert not cfg.cheap_labels("candidates")
    assert cfg.expensive_per_iteration() == 5  # selection.n_select of tests/configs/mock.yaml


def test_cheap_oracle_defaults(tmp_path):
    cfg = mock_config(tmp_path, cheap_oracle={"kind": "mock", "epsilon": 0.3}).cfg
    assert cfg.two_level_on() and cfg.cheap_oracle.epsilon == 0.3
    assert [cfg.cheap_labels(w) for w in ("initial", "candidates", "validation")] == [True, True, True]
    assert cfg.two_level.disagreement_share == 0.5 and cfg.two_level.fit.prior_strength == "auto"


def test_dft_per_iteration_sets_the_expensive_label_jobs(tmp_path):
    cfg = mock_config(tmp_path, cheap_oracle={"kind": "mock"}, two_level={"dft_per_iteration": 3}).cfg
    assert cfg.expensive_per_iteration() == 3
    assert n_label_jobs(cfg, "iter_000") == 2  # 3 structures in jobs of 2 (labeling.structures_per_job)


@pytest.mark.parametrize("overrides, words", [
    ({"two_level": {"disagreement_share": 0.2}}, "two_level is set but cheap_oracle is not"),
    ({"cheap_oracle": {"kind": "gpaw"}}, "a DFT code"),
    ({"cheap_oracle": {"kind": "mock"}, "two_level": {"cheap_labels": ["initial"]}}, "'candidates' is not in"),
    ({"cheap_oracle": {"kind": "mock"}, "two_level": {"dft_per_iteration": 50}}, "dft_per_iteration (50) exceeds"),
    ({"cheap_oracle": {"kind": "mock"}, "two_level": {"fit": {"prior_strength": 0}}}, "prior_strength must be"),
    ({"cheap_oracle": {"kind": "mock"}, "two_level": {"cheap_labels": ["initial", "initial"]}}, "twice"),
    ({"cheap_oracle": {"kind": "mock"}, "two_level": {"flavour": 1}}, "two_level.flavour"),
    ({"cheap_oracle": {"kind": "mock"}, "trainer": {"kind": "pacemaker"}}, "linear_ace"),
    ({"cheap_oracle": {"kind": "mock"}, "trainer": {"kind": "linear_ace", "ladder": None}}, "trainer.ladder"),
])
def test_bad_two_level_configs_name_the_field(tmp_path, overrides, words):
    with pytest.raises(ConfigError) as err:
        mock_config(tmp_path, **overrides)
    assert words in str(err.value)


def test_preflight_checks_the_cheap_oracle_knows_the_elements(tmp_path):
    raw = yaml.safe_load((CONFIGS / "mock.yaml").read_text())
    rcfg = mock_config(tmp_path, cheap_oracle={"kind": "emt"},
                       structures=[{"kind": "bulk", "element": "Si", "crystal": "diamond", "a": 5.43}])
    assert raw["oracle"]["kind"] == "mock"  # the expensive level knows every element
    with pytest.raises(UserError) as err:
        preflight(rcfg)
    assert "cheap_oracle:" in str(err.value) and "Si" in str(err.value)


def test_the_plan_counts_one_cheap_label_job_per_stage(tmp_path):
    from mlip_autopipec.plan import cheap_label_stages, cheap_validation, initial_jobs, iteration_jobs

    one = mock_config(tmp_path).cfg
    assert "label_cheap" not in initial_jobs(one) and "label_cheap" not in iteration_jobs(one)
    assert cheap_label_stages(one, "iter_001") == []
    two = mock_config(tmp_path, cheap_oracle={"kind": "mock"}, validation={"n_generated": 4}).cfg
    assert cheap_validation(two)
    assert initial_jobs(two)["label_cheap"] == 2  # the initial set and the held-out set
    assert initial_jobs(two)["cheap_reference_energies"] == 1 and "cheap_reference_energies" not in initial_jobs(one)
    assert iteration_jobs(two)["label_cheap"] == 1 and "label_cheap" not in iteration_jobs(two, refines=False)
    assert cheap_label_stages(two, "iter_001") == ["initial", "iter_000", "iter_001"]
    only_initial = mock_config(tmp_path, cheap_oracle={"kind": "mock"},
                               two_level={"cheap_labels": ["initial"], "disagreement_share": 0}).cfg
    assert cheap_label_stages(only_initial, "iter_001") == ["initial"] and not cheap_validation(only_initial)
    assert "label_cheap" not in iteration_jobs(only_initial)
