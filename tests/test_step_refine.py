"""steps/refine.py called directly with the mock trainer and selector (no Snakemake): halts,
candidates (including the extrapolative frames of every condition) and selection."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from conftest import mock_config

from mlip_autopipec.components.trainers.mock import MockTrainer
from mlip_autopipec.core.identity import structure_hash
from mlip_autopipec.core.io import read_structures, write_json, write_structures
from mlip_autopipec.domain_models.config import MockTrainerConfig
from mlip_autopipec.domain_models.records import ExplorationRecord, record_json
from mlip_autopipec.steps.refine import run_candidates, run_collect_halts, run_select


def frame(seed: int):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
    atoms.rattle(stdev=0.05, seed=seed)
    atoms.arrays["gamma"] = np.full(len(atoms), 3.0 + seed)  # what the dynamics attach
    return atoms


@pytest.fixture
def explored(tmp_path):
    """Condition `a` halted (frames a0, a1; a1 is the halt frame); `b` ran through with two
    frames above gamma_select (b0, b1) and no halt frame."""
    frames = {"a": [frame(0), frame(1)], "b": [frame(10), frame(11)]}
    for name, group in frames.items():
        for atoms in group:
            atoms.info["condition"] = name  # what the explore step tags its frames with
    records, frame_files = [], []
    for name, halted in (("a", True), ("b", False)):
        rec = ExplorationRecord(condition=name, halted=halted, steps_run=100 if halted else 1000, budget=1000,
                                max_gamma=6.0 if halted else 4.0, n_extrapolative=2)
        write_json(tmp_path / f"{name}.json", record_json(rec))
        write_structures(tmp_path / f"{name}.extxyz", frames[name])
        records.append(str(tmp_path / f"{name}.json"))
        frame_files.append(str(tmp_path / f"{name}.extxyz"))
    MockTrainer(MockTrainerConfig()).fit([], tmp_path / "pot", {}, None, 0)
    return tmp_path, records, frame_files, frames


def test_collect_halts_takes_the_last_frame_of_halted_conditions_only(explored):
    d, records, frame_files, frames = explored
    assert run_collect_halts(records, frame_files, str(d / "halt.xyz")) == 1
    (halt,) = read_structures(d / "halt.xyz")
    assert structure_hash(halt) == structure_hash(frames["a"][1])


def test_a_collapsed_halt_frame_gives_way_to_the_last_frame_that_keeps_the_pair_limits(explored):
    """An MD segment that collapsed between two gamma checks: the halt frame a1 has two atoms 1.0 Å apart."""
    from mlip_autopipec.core.min_distance import PairLimits

    d, records, frame_files, frames = explored
    collapsed = frames["a"][1].copy()
    collapsed.positions[1] = collapsed.positions[0] + [1.0, 0.0, 0.0]
    write_structures(frame_files[0], [frames["a"][0], collapsed])
    limits = PairLimits(uniform=1.5)
    assert run_collect_halts(records, frame_files, str(d / "halt.xyz"), limits) == 1
    [halt] = read_structures(d / "halt.xyz")
    assert structure_hash(halt) == structure_hash(frames["a"][0])
    # without limits (or when every frame collapsed) the halt frame stays / no halt is taken
    assert run_collect_halts(records, frame_files, str(d / "halt2.xyz")) == 1
    assert structure_hash(read_structures(d / "halt2.xyz")[0]) == structure_hash(collapsed)
    write_structures(frame_files[0], [collapsed])
    assert run_collect_halts(records, frame_files, str(d / "halt3.xyz"), limits) == 0


def test_collapsed_extrapolative_frames_are_not_offered(explored):
    d, records, frame_files, frames = explored
    collapsed = frames["b"][1].copy()
    collapsed.positions[1] = collapsed.positions[0] + [0.5, 0.0, 0.0]  # below the default pair limits
    write_structures(frame_files[1], [frames["b"][0], collapsed])
    run_collect_halts(records, frame_files, str(d / "halt.xyz"))
    rcfg = mock_config(d)
    run_candidates(rcfg, 0, str(d / "halt.xyz"), frame_files, str(d / "pot"), str(d / "cand.xyz"))
    offered = {structure_hash(a) for a in read_structures(d / "cand.xyz") if a.info["generator"] == "extrapolative"}
    assert structure_hash(frames["b"][0]) in offered and structure_hash(collapsed) not in offered


def test_candidates_keep_every_extrapolative_frame_of_a_condition_that_did_not_halt(explored):
    d, records, frame_files, frames = explored
    run_collect_halts(records, frame_files, str(d / "halt.xyz"))
    rcfg = mock_config(d)
    n = run_candidates(rcfg, 0, str(d / "halt.xyz"), frame_files, str(d / "pot"), str(d / "cand.xyz"))
    cands = read_structures(d / "cand.xyz")
    by_generator = {}
    for c in cands:
        by_generator.setdefault(c.info["generator"], []).append(structure_hash(c))
    h = {k: [structure_hash(f) for f in v] for k, v in frames.items()}
    assert by_generator["halt"] == [h["a"][1]]
    # a's halt frame is offered once (as the halt), b's last frame is NOT dropped: it is no halt
    assert by_generator["extrapolative"] == [h["a"][0], h["b"][0], h["b"][1]]
    assert n == len(cands) == rcfg.cfg.candidates.n_candidates + 1 + 3
    assert all("gamma" not in c.arrays and c.calc is None for c in cands)


def test_without_extrapolative_frames_only_the_swarm_is_offered(explored):
    d, records, frame_files, _ = explored
    run_collect_halts(records, frame_files, str(d / "halt.xyz"))
    rcfg = mock_config(d, candidates={"include_extrapolative": False})
    run_candidates(rcfg, 0, str(d / "halt.xyz"), frame_files, str(d / "pot"), str(d / "cand.xyz"))
    cands = read_structures(d / "cand.xyz")
    assert len(cands) == rcfg.cfg.candidates.n_candidates
    assert {c.info["halt_index"] for c in cands} == {0}
    assert {c.info["condition"] for c in cands} == {"a"}  # the condition that halted: selection.spread's source


def test_select_ranks_the_chosen_candidates(explored):
    d, *_ = explored
    write_structures(d / "cand.xyz", [frame(s) for s in range(12)])
    rcfg = mock_config(d)  # mock selector: n_select = 5 evenly spaced
    assert run_select(rcfg, 0, str(d / "cand.xyz"), str(d / "pot"), str(d / "sel.xyz")) == 5
    selected = read_structures(d / "sel.xyz")
    assert [a.info["selection_rank"] for a in selected] == list(range(5))
    assert [a.info["candidate_index"] for a in selected] == [0, 3, 6, 8, 11]


def test_select_from_no_candidates_selects_nothing(explored):
    d, *_ = explored
    write_structures(d / "cand.xyz", [])
    assert run_select(mock_config(d), 0, str(d / "cand.xyz"), str(d / "pot"), str(d / "sel.xyz")) == 0
    assert read_structures(d / "sel.xyz") == []


def test_two_level_select_takes_part_by_the_cheap_disagreement(explored):
    """With the cheap labels of every candidate, half of n_select (rounded up) goes to the candidates where the
    potential (the mock trainer's Morse) and the cheap level (a Morse of other parameters) disagree most."""
    from ase.calculators.morse import MorsePotential

    from mlip_autopipec.steps.label import run_label_cheap

    d, *_ = explored
    cands = [frame(s) for s in range(12)]
    for k, c in enumerate(cands):  # spread the disagreement: structures ever more compressed
        c.set_cell(c.cell * (1 - 0.004 * k), scale_atoms=True)
    write_structures(d / "cand.xyz", cands)
    rcfg = mock_config(d, cheap_oracle={"kind": "mock", "epsilon": 0.25, "r0": 2.65})
    run_label_cheap(rcfg, "iter_000", str(d / "cand.xyz"), str(d / "cheap.extxyz"), str(d / "cheap.json"),
                    str(d / "cheap_cache"))
    assert run_select(rcfg, 0, str(d / "cand.xyz"), str(d / "pot"), str(d / "sel.xyz"),
                      cheap_file=str(d / "cheap.extxyz")) == 5
    selected = read_structures(d / "sel.xyz")
    by = [a.info["selected_by"] for a in selected]
    assert by == ["gamma", "gamma", "disagreement", "disagreement", "disagreement"]
    assert [a.info["candidate_index"] for a in selected[:2]] == [0, 11]  # the mock selector's 2 evenly spaced
    # the disagreement computed here independently: the two Morse models' forces on every candidate
    dis = []
    for c in read_structures(d / "cand.xyz"):
        a, b = c.copy(), c.copy()
        a.calc = MorsePotential(epsilon=0.25, rho0=6.0, r0=2.65)
        b.calc = MorsePotential(epsilon=0.35, rho0=6.0, r0=2.55)
        dis.append(np.max(np.linalg.norm(a.get_forces() - b.get_forces(), axis=1)))
    expected = [i for i in np.argsort(dis)[::-1] if i not in (0, 11)][:3]
    assert [a.info["candidate_index"] for a in selected[2:]] == [int(i) for i in expected]
    assert selected[2].info["cheap_disagreement"] == pytest.approx(dis[expected[0]], rel=1e-6)
