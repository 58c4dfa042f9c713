"""CP2K as the oracle (needs tools/install_oracles.sh: apt cp2k with its data in /usr/share/cp2k)."""

import json

import numpy as np
import pytest
from ase.build import bulk

from conftest import require_program
from mlip_autopipec.components.oracles.cp2k import kpoints_section, merge_sections
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.errors import OracleError, UserError
from mlip_autopipec.domain_models.oracle_config import CP2KOracleConfig

@pytest.fixture
def cp2k_installed():
    require_program("cp2k_shell", "CP2K: bash tools/install_oracles.sh .venv/bin/pip")


needs_cp2k = pytest.mark.usefixtures("cp2k_installed")


def rattled_si2():
    atoms = bulk("Si", "diamond", a=5.43)  # the 2-atom primitive cell
    atoms.rattle(0.05, seed=5)
    return atoms


@needs_cp2k
def test_cp2k_labels_a_small_cell(tmp_path):
    cfg = CP2KOracleConfig(cutoff_ev=2500, kpoints={"grid": [1, 1, 1]})
    oracle = make_oracle(cfg, scratch_root=tmp_path)
    oracle.check_setup()
    oracle.check_elements(["Si"])
    atoms = rattled_si2()
    labelled = oracle.label(atoms)
    forces, stress = labelled.get_forces(), labelled.get_stress()
    assert forces.shape == (2, 3) and np.all(np.isfinite(forces)) and np.abs(forces).max() > 0.1
    assert np.abs(forces.sum(axis=0)).max() < 0.05  # Newton's third law, up to grid noise
    assert stress.shape == (6,) and np.all(np.isfinite(stress))
    # GTH Si (4 valence electrons): about -100 eV per atom; Γ-only in a 2-atom cell is far from the
    # converged -107 eV/atom of an 8-atom cell with 2x2x2 k-points, but a real, bound total energy
    assert -110 < labelled.get_potential_energy() / 2 < -95
    settings = json.loads(labelled.info["oracle_settings"])
    assert labelled.info["oracle"] == "cp2k" and settings["basis_set"] == "DZVP-MOLOPT-SR-GTH"
    np.testing.assert_allclose(labelled.positions, atoms.positions)
    assert not list(tmp_path.iterdir())


@needs_cp2k
def test_cp2k_scf_not_converged_is_an_oracle_error(tmp_path):
    """CP2K only warns about an unconverged SCF and carries on; the oracle must not."""
    oracle = make_oracle(CP2KOracleConfig(cutoff_ev=2000, max_scf_iterations=2), scratch_root=tmp_path)
    with pytest.raises(OracleError, match=r"cp2k: SCF not converged in 2 iterations") as err:
        oracle.label(rattled_si2())
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("failed-cp2k-")]
    assert len(kept) == 1 and str(kept[0]) in str(err.value) and (kept[0] / "cp2k.out").is_file()


def test_cp2k_setup_mistakes_are_user_errors_naming_the_field(tmp_path):
    (tmp_path / "BASIS").write_text("Si DZVP-MOLOPT-SR-GTH DZVP-MOLOPT-SR-GTH-q4\n 1\n")
    (tmp_path / "POT").write_text("Si GTH-PBE-q4 GTH-PBE\n 2 2\n")
    ok = CP2KOracleConfig(data_dir=str(tmp_path), basis_set_file="BASIS", potential_file="POT")
    make_oracle(ok).check_elements(["Si"])
    with pytest.raises(UserError, match=r"oracle\.basis_set: .* has no DZVP-MOLOPT-SR-GTH basis for Cu"):
        make_oracle(ok).check_elements(["Si", "Cu"])
    with pytest.raises(UserError, match=r"oracle\.potential: .* has no GTH-BLYP potential for Si"):
        make_oracle(ok.model_copy(update={"potential": "GTH-BLYP"})).check_elements(["Si"])
    with pytest.raises(UserError, match=r"oracle\.basis_set_file: NOPE not found"):
        make_oracle(ok.model_copy(update={"basis_set_file": "NOPE"})).check_elements(["Si"])
    with pytest.raises(UserError, match=r"oracle\.executable: 'cp2k-nonexistent' not found"):
        make_oracle(CP2KOracleConfig(executable="cp2k-nonexistent")).check_setup()


@needs_cp2k
def test_cp2k_input_may_not_set_what_other_fields_set():
    """Checked after the program itself (check_setup finds cp2k_shell first)."""
    with pytest.raises(UserError, match=r"oracle\.inp sets MAX_SCF"):
        make_oracle(CP2KOracleConfig(inp="&FORCE_EVAL\n&DFT\n&SCF\nMAX_SCF 5\n&END SCF\n&END DFT\n"
                                         "&END FORCE_EVAL")).check_setup()


def test_cp2k_input_merges_user_sections_and_writes_kpoints():
    from ase.calculators.cp2k import parse_input

    oracle = make_oracle(CP2KOracleConfig(
        kpoints={"grid": [2, 2, 2]},
        inp="&FORCE_EVAL\n &DFT\n  &SCF\n   EPS_SCF 1.0E-7\n   &MIXING\n    ALPHA 0.2\n   &END MIXING\n"
            "  &END SCF\n &END DFT\n&END FORCE_EVAL\n"))
    text = oracle.full_inp(bulk("Si", "diamond", a=5.43), isolated=False)
    assert "EPS_SCF 1.0E-7" in text and "EPS_SCF 1.0E-6" not in text  # user keyword replaces ours
    assert "ALPHA 0.2" in text and "METHOD BROYDEN_MIXING" in text  # sections merge
    assert "SCHEME MONKHORST-PACK 2 2 2" in text and "ELECTRONIC_TEMPERATURE" in text
    assert "MACDONALD 2 2 1 0.25" in kpoints_section((2, 2, 1), gamma=True)
    assert kpoints_section((1, 1, 1), gamma=False) == ""
    root = parse_input("&A\n X 1\n&END A")
    merge_sections(root, parse_input("&A\n X 2\n Y 3\n&END A\n&B\n&END B"))
    assert root.write() == ["&A", "   X 2", "   Y 3", "&END A", "&B", "&END B"]
