"""Quantum ESPRESSO pw.x as the oracle, with the pseudopotentials shipped in
src/mlip_autopipec/data/pseudo (needs tools/install_oracles.sh: apt quantum-espresso, pip gpaw)."""

import json
import time

import numpy as np
import pytest
from ase.build import bulk

from conftest import require_module, require_program
from mlip_autopipec.components.oracles.espresso import SHIPPED_PSEUDO_DIR, kpoint_pools
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.errors import OracleError, UserError
from mlip_autopipec.steps.label_cache import physics_settings
from mlip_autopipec.domain_models.oracle_config import RYDBERG_EV, EspressoOracleConfig, GPAWOracleConfig

@pytest.fixture
def pw_installed():
    require_program("pw.x", "Quantum ESPRESSO: bash tools/install_oracles.sh .venv/bin/pip")


needs_pw = pytest.mark.usefixtures("pw_installed")


def rattled_si8():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.08, seed=3)
    return atoms


@needs_pw
def test_espresso_forces_agree_with_gpaw_on_the_same_structure(tmp_path):
    require_module("gpaw", "bash tools/install_oracles.sh .venv/bin/pip")
    atoms = rattled_si8()
    shared = {"kpoints": {"grid": [2, 2, 2], "gamma": False},  # shifted Monkhorst-Pack on both
              "smearing": {"method": "fermi-dirac", "width_ev": 0.1}, "xc": "PBE"}
    qe = make_oracle(EspressoOracleConfig(cutoff_ev=30 * RYDBERG_EV, **shared), scratch_root=tmp_path)
    qe.check_setup()
    qe.check_elements(["Si"])
    t0 = time.perf_counter()
    by_qe = qe.label(atoms)
    t_qe = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_gpaw = make_oracle(GPAWOracleConfig(cutoff_ev=400, **shared), scratch_root=tmp_path).label(atoms)
    t_gpaw = time.perf_counter() - t0

    settings = json.loads(by_qe.info["oracle_settings"])
    assert by_qe.info["oracle"] == "espresso" and settings["pseudopotentials"] == {"Si": "Si.pbe-tm-mlip.UPF"}
    assert by_qe.get_stress().shape == (6,)
    diff = np.abs(by_qe.get_forces() - by_gpaw.get_forces()).max()
    print(f"pw.x {t_qe:.1f} s, GPAW {t_gpaw:.1f} s; max |F_QE - F_GPAW| = {diff:.3f} eV/Å "
          f"(max |F| = {np.abs(by_gpaw.get_forces()).max():.2f} eV/Å)")
    assert diff < 0.1


@pytest.mark.parametrize("ranks, grid, requested, pools", [
    (2, (5, 10, 10), None, 2),   # 250 grid points, ~125 after time reversal: one pool per rank
    (2, (1, 1, 1), None, 1),     # Γ only: nothing to divide
    (6, (2, 1, 1), None, 1),     # one k-point after time reversal
    (6, (2, 2, 1), None, 2),     # two k-points: 2 pools of 3 ranks
    (6, (3, 2, 1), None, 3),
    (4, (3, 1, 1), None, 2),     # 2 k-points, 4 ranks
    (8, (4, 4, 4), None, 8),
    (2, (5, 10, 10), 1, 1),      # the user's own value wins
])
def test_kpoint_pools_divide_the_ranks_and_never_outnumber_the_kpoints(ranks, grid, requested, pools):
    assert kpoint_pools(ranks, grid, requested) == pools


@needs_pw
def test_espresso_kpoint_pools_on_two_ranks_give_the_same_label_and_cache_key(tmp_path):
    """The derived -nk 2 reaches pw.x (its output says so) and changes nothing a label holds: same forces to
    SCF precision, same physics settings (the label cache key)."""
    atoms = rattled_si8()
    common = {"cutoff_ev": 20 * RYDBERG_EV, "kpoints": {"grid": [2, 2, 2], "gamma": False}, "keep_runs": True}
    labels, texts = {}, {}
    for pools in (None, 1):
        scratch = tmp_path / f"pools_{pools}"
        cfg = EspressoOracleConfig(pools=pools, **common)
        oracle = make_oracle(cfg, cores=2, scratch_root=scratch)
        labels[pools] = oracle.label(atoms)
        texts[pools] = next(scratch.rglob("espresso.pwo")).read_text()
        assert physics_settings(oracle, cfg, atoms) == physics_settings(
            make_oracle(EspressoOracleConfig(**common), cores=1), EspressoOracleConfig(**common), atoms)
    assert "K-points division:     npool     =       2" in texts[None]
    assert "K-points division" not in texts[1]
    # measured 2.7e-5 eV/Å and 0 eV (2026-12-07): SCF precision, the layout changes only the summation order
    assert np.abs(labels[None].get_forces() - labels[1].get_forces()).max() < 1e-4
    assert labels[None].get_potential_energy() == pytest.approx(labels[1].get_potential_energy(), abs=1e-5)


@needs_pw
def test_espresso_scf_not_converged_is_an_oracle_error_with_the_run_kept(tmp_path):
    oracle = make_oracle(EspressoOracleConfig(cutoff_ev=300, kpoints={"grid": [1, 1, 1]}, max_scf_iterations=2),
                         scratch_root=tmp_path)
    with pytest.raises(OracleError, match=r"SCF not converged in 2 iterations") as err:
        oracle.label(rattled_si8())
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("failed-espresso-")]
    assert len(kept) == 1 and str(kept[0]) in str(err.value) and (kept[0] / "espresso.pwo").is_file()


@needs_pw
def test_espresso_corrupt_pseudopotential_is_an_oracle_error_naming_it(tmp_path):
    pseudo = tmp_path / "pseudo"
    pseudo.mkdir()
    text = (SHIPPED_PSEUDO_DIR / "Si.pbe-tm-mlip.UPF").read_text()
    (pseudo / "Si.pbe-tm-mlip.UPF").write_text(text[: len(text) // 20])  # truncated download
    oracle = make_oracle(EspressoOracleConfig(pseudo_dir=str(pseudo), cutoff_ev=300, kpoints={"grid": [1, 1, 1]}),
                         scratch_root=tmp_path / "runs")
    oracle.check_elements(["Si"])  # the file is there: only running pw.x finds it broken
    with pytest.raises(OracleError, match=r"pw.x crashed.*while reading the pseudopotentials.*oracle.pseudo_dir"):
        oracle.label(rattled_si8())


def test_espresso_setup_mistakes_are_user_errors_naming_the_field(tmp_path, monkeypatch):
    monkeypatch.delenv("ESPRESSO_PSEUDO", raising=False)
    with pytest.raises(UserError, match=r"oracle\.executable: 'pw-nonexistent.x' not found on PATH"):
        make_oracle(EspressoOracleConfig(executable="pw-nonexistent.x")).check_setup()
    with pytest.raises(UserError, match=r"oracle\.pseudopotentials: no pseudopotential for Cu"):
        make_oracle(EspressoOracleConfig()).check_elements(["Si", "Cu"])
    with pytest.raises(UserError, match=r"oracle\.pseudopotentials\.Si: Si\.missing\.UPF not found"):
        make_oracle(EspressoOracleConfig(pseudopotentials={"Si": "Si.missing.UPF"})).check_elements(["Si"])
    with pytest.raises(UserError, match=r"oracle\.pseudo_dir \(.*nowhere\) is not a directory"):
        make_oracle(EspressoOracleConfig(pseudo_dir=str(tmp_path / "nowhere"))).check_elements(["Si"])
    (tmp_path / "Si.a.upf").write_text("x")
    (tmp_path / "Si_b.UPF").write_text("x")
    with pytest.raises(UserError, match=r"2 candidate files for Si"):
        make_oracle(EspressoOracleConfig(pseudo_dir=str(tmp_path))).check_elements(["Si"])
    monkeypatch.setenv("ESPRESSO_PSEUDO", str(SHIPPED_PSEUDO_DIR))
    assert make_oracle(EspressoOracleConfig()).pseudopotential("Al") == "Al.pbe-tm-mlip.UPF"


def test_shipped_pseudopotentials_carry_their_licence_and_generation_inputs():
    for element in ("Si", "Al"):
        upf = (SHIPPED_PSEUDO_DIR / f"{element}.pbe-tm-mlip.UPF").read_text()
        assert 'functional="PBE"' in upf and 'pseudo_type="NC"' in upf
        assert (SHIPPED_PSEUDO_DIR / f"{element}.ld1.in").is_file()
    assert "CC0" in (SHIPPED_PSEUDO_DIR / "LICENSE.md").read_text()


@needs_pw
def test_shipped_si_pseudopotential_regenerates_with_ld1(tmp_path):
    """The shipped file is what QE's ld1.x makes from the shipped input (reproducible provenance)."""
    import subprocess

    require_program("ld1.x", "it comes with Quantum ESPRESSO: bash tools/install_oracles.sh .venv/bin/pip")
    inp = (SHIPPED_PSEUDO_DIR / "Si.ld1.in").read_text()
    subprocess.run(["ld1.x"], input=inp, text=True, cwd=tmp_path, capture_output=True, check=True, timeout=60)

    def numbers(text, tag):
        block = text.split(f"<{tag}")[1].split(">", 1)[1].split(f"</{tag}>")[0]
        return np.array(block.split(), dtype=float)

    fresh = (tmp_path / "Si.pbe-tm-mlip.UPF").read_text()
    shipped = (SHIPPED_PSEUDO_DIR / "Si.pbe-tm-mlip.UPF").read_text()
    # ld1.x's last printed digits follow the machine's floating-point path (1.1e-7 relative seen between
    # two machines of the same kind); a different input or ld1.x changes them by far more than 1e-6.
    for tag in ("PP_LOCAL", "PP_NLCC"):
        np.testing.assert_allclose(numbers(fresh, tag), numbers(shipped, tag), rtol=1e-6, atol=1e-10)
