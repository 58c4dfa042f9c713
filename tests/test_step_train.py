"""steps/train.py called directly with the mock trainer (no Snakemake)."""

from __future__ import annotations

import json

import pytest
from ase.build import bulk
from conftest import mock_config

from mlip_autopipec.components.oracles.mock import MockOracle
from mlip_autopipec.core.errors import TrainingError
from mlip_autopipec.core.io import write_json, write_structures
from mlip_autopipec.domain_models.config import MockOracleConfig
from mlip_autopipec.domain_models.records import FitReport, TrainRecord
from mlip_autopipec.steps.train import run_train


def labelled(n: int, seed: int) -> list:
    oracle = MockOracle(MockOracleConfig())
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        atoms.rattle(stdev=0.05, seed=seed + k)
        out.append(oracle.label(atoms))
    return out


@pytest.fixture
def files(tmp_path):
    write_structures(tmp_path / "a.extxyz", labelled(2, 0))
    write_structures(tmp_path / "b.extxyz", labelled(3, 10))
    write_structures(tmp_path / "val.extxyz", labelled(2, 100))
    write_json(tmp_path / "ref.json", {"Cu": 0.0})
    return tmp_path


def train(rcfg, d, stage, out, previous=None, validation=True):
    return run_train(rcfg, stage, [str(d / "a.extxyz"), str(d / "b.extxyz")], str(d / "ref.json"), str(d / out),
                     None if previous is None else str(d / previous),
                     str(d / "val.extxyz") if validation else None, str(d / f"{out}.json"))


def test_fit_on_every_label_file_with_a_typed_record(files):
    rcfg = mock_config(files)
    record = train(rcfg, files, "initial", "pot0")
    on_disk = json.loads((files / "pot0.json").read_text())
    assert TrainRecord.model_validate(on_disk) == record
    assert (record.n_structures, record.trainer, record.kept_previous) == (5, "mock", False)
    assert record.fit == FitReport(n_structures=5, generation=0)  # the mock trainer reports these two
    assert "error" not in on_disk  # keys of the dict records: no `error` unless a fit failed
    # the mock potential is the mock oracle's Morse model: exact on the held-out labels
    assert record.validation.n_structures == 2
    assert record.validation.force_rmse == pytest.approx(0.0, abs=1e-6)  # extxyz rounding


def test_a_failed_fit_keeps_the_previous_potential(files):
    rcfg = mock_config(files, trainer={"kind": "mock", "fail_generations": [1]})
    train(rcfg, files, "initial", "pot0", validation=False)
    record = train(rcfg, files, "iter_000", "pot1", previous="pot0", validation=False)
    assert record.kept_previous and "diverged" in record.error and record.fit is None
    assert (files / "pot1" / "potential.yace").read_text() == (files / "pot0" / "potential.yace").read_text()
    assert "validation" not in json.loads((files / "pot1.json").read_text())


def test_a_failed_first_fit_stops(files):
    rcfg = mock_config(files, trainer={"kind": "mock", "fail_generations": [0]})
    with pytest.raises(TrainingError, match="generation 0 diverged"):
        train(rcfg, files, "initial", "pot0")
    assert not (files / "pot0.json").exists()


def test_two_level_train_hands_the_cheap_labels_to_the_fit_and_scores_both_held_out_sets(files):
    """The mock trainer lists the prior labels it got; train.json counts them and scores the held-out set
    against the cheap labels beside the expensive ones; a one-level record has neither key."""
    from mlip_autopipec.core.identity import structure_hash
    from mlip_autopipec.core.io import read_structures

    d = files
    cheap_oracle = MockOracle(MockOracleConfig(epsilon=0.3, r0=2.6))
    cheap = [cheap_oracle.label(a) for a in read_structures(d / "a.extxyz") + read_structures(d / "val.extxyz")]
    write_structures(d / "cheap.extxyz", cheap[:2])
    write_structures(d / "cheap_val.extxyz", cheap[2:])
    rcfg = mock_config(d, cheap_oracle={"kind": "mock", "epsilon": 0.3, "r0": 2.6})
    record = run_train(rcfg, "initial", [str(d / "a.extxyz")], str(d / "ref.json"), str(d / "two"), None,
                       str(d / "val.extxyz"), str(d / "two.json"), cheap_files=[str(d / "cheap.extxyz")],
                       cheap_validation_file=str(d / "cheap_val.extxyz"))
    pot = json.loads((d / "two" / "potential.yace").read_text())
    assert pot["prior_labels"] == [structure_hash(a) for a in cheap[:2]]
    on_disk = json.loads((d / "two.json").read_text())
    assert on_disk["n_cheap_structures"] == 2 and record.two_level is None  # the mock fits no prior
    # the mock potential is the default Morse = the expensive level: zero error there, not against the cheap one
    assert on_disk["validation"]["force_rmse"] < 1e-6 < on_disk["validation_cheap"]["force_rmse"]
    train(mock_config(d), d, "initial", "one")
    one = json.loads((d / "one.json").read_text())
    assert not {"n_cheap_structures", "validation_cheap", "two_level"} & set(one)
    assert "prior_labels" not in json.loads((d / "one" / "potential.yace").read_text())
