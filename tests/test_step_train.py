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
