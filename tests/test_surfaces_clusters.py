"""Surfaces, clusters and dilute elements end to end: the shipped examples converge with EMT, and
their final potentials are scored on held-out EMT MD frames they never saw (other temperatures, a
larger slab, a larger cluster); one Ni in Cu31 runs to convergence.

The examples run as shipped except that the loop ends at gamma-convergence (`--set
convergence.spot_checks=0`, CI time): the spot checks kept cu_cluster going five more iterations (87
Snakemake jobs, 400-670 s in the whole suite); without them it converged after 3 iterations with held-out
force errors of 2.0-4.9 meV/Å, and pt_slab after 2 with 0.6-1.0 meV/Å (session 17). Spot checks on a real
potential are tested on the default run (test_real_loop), their logic on mock runs (test_spot_checks)."""

import json
import shutil

import numpy as np
import pytest
from ase import units
from ase.build import fcc111
from ase.calculators.emt import EMT
from ase.cluster import Decahedron, Icosahedron, Octahedron
from ase.constraints import FixCom
from ase.md.langevin import Langevin

from conftest import CONFIGS, REPO, run, runner_cmd
from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.oracles.emt import EMTOracle
from mlip_autopipec.components.registry import make_trainer
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.core.metrics import rmse_metrics
from mlip_autopipec.loop.state import derive_state
from mlip_autopipec.domain_models.config import load_config

pytestmark = pytest.mark.slow


def emt_md_frames(atoms, temperature: float, n: int = 5, seed: int = 0, equilibrate: int = 200, every: int = 25):
    """EMT-labelled NVT snapshots (Langevin, centre of mass fixed)."""
    rng = np.random.default_rng(seed)
    work = atoms.copy()
    work.calc = EMT()
    work.set_constraint(FixCom())
    masses = work.get_masses()[:, None]
    work.set_momenta(rng.standard_normal((len(work), 3)) * np.sqrt(masses * units.kB * temperature))
    dyn = Langevin(work, 2 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng)
    dyn.run(equilibrate)
    oracle = EMTOracle()
    frames = []
    for _ in range(n):
        dyn.run(every)
        snap = work.copy()
        snap.set_constraint()
        snap.calc = None
        frames.append(oracle.label(snap))
    return frames


def run_example(name: str, tmp_path, *sets: str):
    for f in (REPO / "examples" / name).iterdir():
        shutil.copy(f, tmp_path / f.name)
    overrides = [arg for s in sets for arg in ("--set", s)]
    run(runner_cmd("run", "config.yaml", "--cores", "2", "--workdir", tmp_path, *overrides), cwd=tmp_path, timeout=2400)
    assert (tmp_path / "converged.flag").is_file(), f"{name} did not converge"
    state = derive_state(tmp_path)
    potential = PotentialFiles.in_dir(tmp_path / state.current_potential.rsplit("/", 1)[0])
    trainer = make_trainer(load_config(tmp_path / "config.yaml").cfg.trainer)
    return state, trainer.calculator(potential)


def score(calc, sets: dict) -> dict:
    out = {}
    for name, frames in sets.items():
        m = rmse_metrics(calc, frames)
        out[name] = 1000 * m["force_rmse"]
        print(f"  {name:40s} {m['n_structures']:3d} frames  F RMSE {1000 * m['force_rmse']:6.2f} meV/Å  "
              f"E RMSE {1000 * m['energy_rmse_per_atom']:6.2f} meV/atom")
    return out


def test_pt_slab_example_converges_and_scores_on_held_out_surfaces(tmp_path):
    state, calc = run_example("pt_slab", tmp_path, "convergence.spot_checks=0")
    labels = read_structures(tmp_path / "initial" / "labels.extxyz")
    assert all(list(a.pbc) == [True, True, False] for a in labels)
    assert all("stress" not in a.calc.results for a in labels)
    held_out = {
        "Pt(111) 3x3x4, 300 K": emt_md_frames(fcc111("Pt", (3, 3, 4), vacuum=7.0), 300.0, seed=1),
        "Pt(111) 3x3x4, 700 K": emt_md_frames(fcc111("Pt", (3, 3, 4), vacuum=7.0), 700.0, seed=2),
        "Pt(111) 4x4x5 (larger), 600 K": emt_md_frames(fcc111("Pt", (4, 4, 5), vacuum=7.0), 600.0, seed=3),
    }
    print(f"\npt_slab: {state.status.value} after {len(state.history)} iterations")
    rmse = score(calc, held_out)
    # ending at gamma-convergence: 0.6-1.0 meV/Å (session 17)
    assert max(rmse.values()) <= 4.0, rmse


def test_cu_cluster_example_converges_and_scores_on_held_out_clusters(tmp_path):
    state, calc = run_example("cu_cluster", tmp_path, "convergence.spot_checks=0")
    labels = read_structures(tmp_path / "initial" / "labels.extxyz")
    own = [a for a in labels if a.info["source"] != "initial:companion"]
    assert all(not a.pbc.any() and len(a) == 55 for a in own)
    # the icosahedron's close-packed core gets fcc companions at its bond length (cluster_companions)
    kinds = sorted(a.info["companion"] for a in labels if a.info["source"] == "initial:companion")
    assert kinds == ["bulk"] * 4 + ["compressed cluster"] * 2 + ["fcc(100) slab", "fcc(111) slab"]
    held_out = {
        "Cu55 icosahedron, 500 K": emt_md_frames(Icosahedron("Cu", 3), 500.0, seed=4),
        "Cu147 icosahedron (larger), 400 K": emt_md_frames(Icosahedron("Cu", 4), 400.0, seed=5),
        "Cu147 cuboctahedron (larger), 600 K": emt_md_frames(Octahedron("Cu", 7, 3), 600.0, seed=6),
        "Cu146 Marks decahedron (larger), 800 K": emt_md_frames(Decahedron("Cu", 3, 2, 1), 800.0, seed=8),
    }
    print(f"\ncu_cluster: {state.status.value} after {len(state.history)} iterations")
    rmse = score(calc, held_out)
    # Without the companions the larger clusters scored 17-19 meV/Å (Cu147 icosahedron 19.3, its
    # extrapolated core carrying most of it; energies off by 63-100 meV/atom); with them 13-15 (both with
    # the spot checks on); with them, ending at gamma-convergence: 4.7-4.9 (session 17).
    assert max(rmse.values()) <= 15.0, rmse


def test_one_ni_in_cu31_runs_to_convergence(tmp_path):
    shutil.copy(CONFIGS / "cu31ni_emt.yaml", tmp_path / "config.yaml")
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=2400)
    assert (tmp_path / "converged.flag").is_file()
    initial = read_structures(tmp_path / "initial" / "labels.extxyz")
    assert all(a.get_chemical_symbols().count("Ni") == 1 and len(a) == 32 for a in initial)
    fit = json.loads((tmp_path / "initial" / "train.json").read_text())
    assert not fit["kept_previous"] and fit["fit"]["elements"] == ["Cu", "Ni"]
