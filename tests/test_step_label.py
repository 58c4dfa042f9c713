"""steps/label.py called directly with the mock oracle (no Snakemake): chunking, the label cache,
failure records, the gather step's all-failed stop."""

from __future__ import annotations

import json

import pytest
from ase.build import bulk
from conftest import mock_config

from mlip_autopipec.core.errors import UserError
from mlip_autopipec.core.io import read_structures, write_structures
from mlip_autopipec.domain_models.records import LabelChunkRecord
from mlip_autopipec.steps.label import chunk_indices, run_gather_labels, run_label_chunk


def cells(n: int) -> list:
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
        atoms.rattle(stdev=0.05, seed=k)
        out.append(atoms)
    return out


def label(rcfg, tmp_path, chunk: int, per_job: int = 2, name: str = "job"):
    return run_label_chunk(rcfg, "iter_000", str(tmp_path / "selected.xyz"), chunk, per_job,
                           str(tmp_path / f"{name}{chunk}.extxyz"), str(tmp_path / f"{name}{chunk}.json"),
                           str(tmp_path / "cache"))


def test_chunks_cover_every_structure_once():
    assert [list(chunk_indices(5, k, 2)) for k in range(4)] == [[0, 1], [2, 3], [4], []]


def test_a_chunk_labels_its_structures_and_writes_a_typed_record(tmp_path):
    rcfg = mock_config(tmp_path)
    write_structures(tmp_path / "selected.xyz", cells(3))
    record = label(rcfg, tmp_path, chunk=1)
    labelled = read_structures(tmp_path / "job1.extxyz")
    assert [a.info["selected_index"] for a in labelled] == [2]
    assert labelled[0].calc is not None and labelled[0].info["source_stage"] == "iter_000"
    on_disk = LabelChunkRecord.model_validate_json((tmp_path / "job1.json").read_text())
    assert on_disk == record
    assert (record.indices, record.n_labelled, record.n_computed_now, record.failures) == ([2], 1, 1, [])


def test_a_rerun_takes_every_label_from_the_cache(tmp_path):
    rcfg = mock_config(tmp_path)
    write_structures(tmp_path / "selected.xyz", cells(2))
    first = label(rcfg, tmp_path, chunk=0, name="a")
    again = label(rcfg, tmp_path, chunk=0, name="b")
    assert (first.n_computed_now, again.n_computed_now, again.n_labelled) == (2, 0, 2)
    # the oracle time a job spent: none for cached labels, though they carry the first job's time
    a_time = sum(x.info["oracle_wall_time_s"] for x in read_structures(tmp_path / "a0.extxyz"))
    assert first.oracle_s_now == round(a_time, 6) and a_time > 0 and again.oracle_s_now == 0.0
    a, b = read_structures(tmp_path / "a0.extxyz"), read_structures(tmp_path / "b0.extxyz")
    assert [x.get_potential_energy() for x in a] == [x.get_potential_energy() for x in b]


def test_an_empty_chunk_writes_empty_outputs_and_builds_no_oracle(tmp_path):
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "fail_fraction": 0.99})
    write_structures(tmp_path / "selected.xyz", cells(1))
    record = label(rcfg, tmp_path, chunk=3)
    assert (record.indices, record.n_labelled) == ([], 0)
    assert read_structures(tmp_path / "job3.extxyz") == []


def test_failures_are_recorded_with_index_and_reason_and_gathered(tmp_path):
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "fail_fraction": 0.99})  # every structure fails
    write_structures(tmp_path / "selected.xyz", cells(3))
    records = [label(rcfg, tmp_path, chunk=k) for k in (0, 1)]
    failures = [f for r in records for f in r.failures]
    assert [f.index for f in failures] == [0, 1, 2]
    assert all("injected failure" in f.reason and f.oracle == "mock" for f in failures)
    cached = json.loads(next((tmp_path / "cache").glob("*.failed.json")).read_text())
    assert "index" not in cached and "injected failure" in cached["reason"]
    with pytest.raises(UserError, match="all 3 oracle calculations of iter_000 failed"):
        run_gather_labels("iter_000", [str(tmp_path / f"job{k}.extxyz") for k in (0, 1)],
                          [str(tmp_path / f"job{k}.json") for k in (0, 1)],
                          str(tmp_path / "labels.extxyz"), str(tmp_path / "failed.json"))
    assert not (tmp_path / "labels.extxyz").exists()


def test_gather_joins_chunks_in_order_and_lists_the_failures(tmp_path):
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "fail_fraction": 0.5})
    write_structures(tmp_path / "selected.xyz", cells(6))
    records = [label(rcfg, tmp_path, chunk=k) for k in range(3)]
    result = run_gather_labels("iter_000", [str(tmp_path / f"job{k}.extxyz") for k in range(3)],
                               [str(tmp_path / f"job{k}.json") for k in range(3)],
                               str(tmp_path / "labels.extxyz"), str(tmp_path / "failed.json"))
    n_failed = sum(len(r.failures) for r in records)
    assert 0 < n_failed < 6  # the hash-based injection fails some of these six, not all
    assert result == {"n_labelled": 6 - n_failed, "n_failed": n_failed}
    gathered = read_structures(tmp_path / "labels.extxyz")
    assert [a.info["selected_index"] for a in gathered] == sorted(a.info["selected_index"] for a in gathered)
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert sorted([f["index"] for f in failed] + [a.info["selected_index"] for a in gathered]) == list(range(6))


@pytest.mark.parametrize("mode, reason", [("raise", "injected failure"), ("nan", "non-finite forces"),
                                          ("wrong_atoms", "returned 3 atoms for a 4-atom structure")])
def test_every_failure_mode_is_recorded_and_the_rest_labelled(tmp_path, mode, reason):
    """What a whole run with a failing oracle relies on (test_fault_injection.py runs one mode
    through Snakemake): every structure is labelled or listed as failed, with the mode's reason,
    and no label is short of atoms."""
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "fail_fraction": 0.5, "fail_mode": mode})
    write_structures(tmp_path / "selected.xyz", cells(6))
    records = [label(rcfg, tmp_path, chunk=k) for k in range(3)]
    failures = [f for r in records for f in r.failures]
    assert 0 < len(failures) < 6
    assert all(reason in f.reason for f in failures)
    labelled = [a for k in range(3) for a in read_structures(tmp_path / f"job{k}.extxyz")]
    assert len(labelled) + len(failures) == 6
    assert all(len(a) == 4 for a in labelled)


def test_the_cheap_level_labels_a_whole_stage_in_one_job_with_its_own_oracle(tmp_path):
    """Two-level labelling: run_label_cheap uses cheap_oracle (a Morse of other parameters here), labels every
    structure in one job and marks its record `level: cheap`; the expensive record has no `level` key."""
    from ase.calculators.morse import MorsePotential

    from mlip_autopipec.steps.label import run_label_cheap

    rcfg = mock_config(tmp_path, cheap_oracle={"kind": "mock", "epsilon": 0.2, "r0": 2.7})
    write_structures(tmp_path / "selected.xyz", cells(3))
    record = run_label_cheap(rcfg, "initial", str(tmp_path / "selected.xyz"), str(tmp_path / "cheap.extxyz"),
                             str(tmp_path / "cheap.json"), str(tmp_path / "cheap_cache"))
    assert (record.level, record.indices, record.n_labelled) == ("cheap", [0, 1, 2], 3)
    assert json.loads((tmp_path / "cheap.json").read_text())["level"] == "cheap"
    cheap = read_structures(tmp_path / "cheap.extxyz")
    for atoms, ref in zip(cheap, cells(3)):  # the cheap Morse's energy, computed here independently
        ref.calc = MorsePotential(epsilon=0.2, rho0=6.0, r0=2.7)
        assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-7)  # extxyz digits
    label(rcfg, tmp_path, chunk=0, name="dft")
    assert "level" not in json.loads((tmp_path / "dft0.json").read_text())
    expensive = read_structures(tmp_path / "dft0.extxyz")[0]
    assert expensive.get_potential_energy() != pytest.approx(cheap[0].get_potential_energy(), rel=1e-3)


def test_cheap_labels_need_a_cheap_oracle(tmp_path):
    from mlip_autopipec.steps.label import run_label_cheap

    write_structures(tmp_path / "selected.xyz", cells(1))
    with pytest.raises(UserError, match="no cheap_oracle"):
        run_label_cheap(mock_config(tmp_path), "initial", str(tmp_path / "selected.xyz"), str(tmp_path / "c.extxyz"),
                        str(tmp_path / "c.json"), str(tmp_path / "cc"))
