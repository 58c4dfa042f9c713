"""VASP cannot run here (licensed): the inputs it would get and the OUTCAR it writes are tested.

tests/data/synthetic_vasp_si8/OUTCAR is a SYNTHETIC OUTCAR in VASP 6 format (make_synthetic_outcar.py beside it; the
numbers are a GPAW PBE calculation of the same rattled cell), expected.json what it must parse to.
"""

import json
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from mlip_autopipec.components.oracles.vasp import outcar_converged, read_outcar
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.errors import OracleError, UserError
from mlip_autopipec.domain_models.oracle_config import VaspOracleConfig

DATA = Path(__file__).resolve().parent / "data" / "synthetic_vasp_si8"


@pytest.fixture
def pp_path(tmp_path) -> Path:
    """A fake POTCAR library: potpaw_PBE/<variant>/POTCAR holding just its own name."""
    root = tmp_path / "potcars"
    for variant in ("Si", "Si_GW", "Al", "Al_sv_GW"):
        (root / "potpaw_PBE" / variant).mkdir(parents=True)
        (root / "potpaw_PBE" / variant / "POTCAR").write_text(f"PAW_PBE {variant} 05Jan2001\n")
    return root


def incar(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key.strip().upper()] = value.strip()
    return out


def test_vasp_inputs_match_the_configuration(tmp_path, pp_path, monkeypatch):
    cfg = VaspOracleConfig(pp_path=str(pp_path), setups={"Si": "_GW"}, cutoff_ev=450,
                           kpoints={"grid": [3, 3, 2], "gamma": True},
                           smearing={"method": "gaussian", "width_ev": 0.05}, max_scf_iterations=77,
                           incar={"ALGO": "Fast", "LREAL": "Auto"})
    oracle = make_oracle(cfg, cores=4)
    oracle.check_elements(["Si", "Al"])
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.symbols[[1, 4]] = "Al"  # mixed species: VASP sees them sorted, POTCARs in that order
    rundir = tmp_path / "run"
    rundir.mkdir()
    calc = oracle.write_inputs(atoms, rundir)

    tags = incar(rundir / "INCAR")
    assert float(tags["ENCUT"]) == 450 and tags["ISMEAR"] == "0" and float(tags["SIGMA"]) == 0.05
    assert tags["NELM"] == "77" and tags["ISIF"] == "2" and tags["IBRION"] == "-1" and tags["NSW"] == "0"
    assert tags["GGA"] == "PE" and tags["ALGO"] == "Fast" and tags["LREAL"] == "Auto"
    assert tags["LWAVE"] == ".FALSE." and tags["LCHARG"] == ".FALSE." and tags["ISPIN"] == "1"

    kpoints = (rundir / "KPOINTS").read_text().splitlines()
    assert kpoints[2].strip().lower().startswith("gamma") and kpoints[3].split() == ["3", "3", "2"]

    poscar = read(rundir / "POSCAR", format="vasp")
    np.testing.assert_allclose(poscar.cell.array, atoms.cell.array, atol=1e-10)
    # POSCAR lists the atoms in ASE's species-sorted order (calc.sort), each species in one block
    assert poscar.get_chemical_symbols() == [atoms.get_chemical_symbols()[i] for i in calc.sort]
    blocks = [s for k, s in enumerate(poscar.get_chemical_symbols()) if k == 0 or s != poscar.get_chemical_symbols()[k - 1]]
    assert sorted(blocks) == sorted(set(atoms.get_chemical_symbols()))
    np.testing.assert_allclose(poscar.positions[calc.resort], atoms.positions, atol=1e-8)

    potcars = [ln.split()[1] for ln in (rundir / "POTCAR").read_text().splitlines()]
    species = list(dict.fromkeys(poscar.get_chemical_symbols()))
    assert potcars == [{"Si": "Si_GW", "Al": "Al"}[s] for s in species]
    # the default launcher depends on which mpirun PATH finds first (`default_mpirun`, tested in
    # test_oracles_config.py): a PATH without any MPI makes this independent of the user's shell
    (tmp_path / "no_mpi").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no_mpi"))
    assert oracle.command("vasp_std") == "mpirun -np 4 vasp_std"


def test_synthetic_outcar_is_parsed_into_energy_forces_stress():
    expected = json.loads((DATA / "expected.json").read_text())
    result = read_outcar(DATA / "OUTCAR")
    assert result["free_energy"] == pytest.approx(expected["free_energy"], abs=1e-6)
    assert result["energy_sigma0"] == pytest.approx(expected["energy_sigma0"], abs=1e-6)
    np.testing.assert_allclose(result["forces"], expected["forces"], atol=1e-6)
    np.testing.assert_allclose(result["stress"], expected["stress"], atol=1e-7)  # eV/Å³, ASE sign
    # resorting: VASP's order back to the caller's
    order = [7, 6, 5, 4, 3, 2, 1, 0]
    np.testing.assert_allclose(read_outcar(DATA / "OUTCAR", resort=order)["forces"],
                               np.array(expected["forces"])[order], atol=1e-6)


def test_unconverged_or_truncated_outcar_is_an_oracle_error(tmp_path):
    text = (DATA / "OUTCAR").read_text()
    assert outcar_converged(text)
    unconverged = tmp_path / "OUTCAR"
    unconverged.write_text(text.replace("aborting loop because EDIFF is reached",
                                        "aborting loop EDIFF was not reached (unconverged)"))
    with pytest.raises(OracleError, match=r"SCF not converged in 100 electronic steps"):
        read_outcar(unconverged)
    vasp5 = text.replace("------------------------ aborting loop because EDIFF is reached", "")
    assert outcar_converged(vasp5)  # 14 steps < NELM 100
    assert not outcar_converged(re.sub(r"NELM(\s*)=(\s*)100", r"NELM\1=\2 14", vasp5))
    truncated = tmp_path / "truncated" / "OUTCAR"
    truncated.parent.mkdir()
    truncated.write_text(text[: text.index(" POSITION ")])
    with pytest.raises(OracleError, match="cannot read .*VASP did not finish"):
        read_outcar(truncated)
    with pytest.raises(OracleError, match="wrote no OUTCAR"):
        read_outcar(tmp_path / "missing" / "OUTCAR")


def test_vasp_oracle_end_to_end_with_a_stand_in_program(tmp_path, pp_path):
    """The whole label path — inputs, launch, OUTCAR — with a script in place of vasp_std that
    checks its inputs are there and 'computes' by copying the synthetic OUTCAR."""
    fake = tmp_path / "fake_vasp"
    fake.write_text(f"#!/bin/sh\nfor f in INCAR KPOINTS POSCAR POTCAR; do test -s $f || exit 3; done\n"
                    f"cp {DATA / 'OUTCAR'} OUTCAR\necho ' running on 1 total cores'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    oracle = make_oracle(VaspOracleConfig(pp_path=str(pp_path), executable=str(fake), kpoints={"grid": [2, 2, 2]}),
                         scratch_root=tmp_path / "runs")
    oracle.check_setup()
    atoms = read(DATA / "structure.extxyz")
    labelled = oracle.label(atoms)
    expected = json.loads((DATA / "expected.json").read_text())
    assert labelled.get_potential_energy() == pytest.approx(expected["free_energy"], abs=1e-6)
    assert labelled.info["energy_sigma0"] == pytest.approx(expected["energy_sigma0"], abs=1e-6)
    np.testing.assert_allclose(labelled.get_forces(), expected["forces"], atol=1e-6)
    np.testing.assert_allclose(labelled.get_stress(), expected["stress"], atol=1e-7)
    assert json.loads(labelled.info["oracle_settings"])["kind"] == "vasp"

    broken = tmp_path / "broken_vasp"
    broken.write_text("#!/bin/sh\necho ' VERY BAD NEWS! internal error in subroutine IBZKPT' ; exit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    oracle = make_oracle(VaspOracleConfig(pp_path=str(pp_path), executable=str(broken)), scratch_root=tmp_path / "runs")
    with pytest.raises(OracleError, match=r"VASP reported: VERY BAD NEWS! internal error in subroutine IBZKPT"):
        oracle.label(atoms)


def test_vasp_setup_mistakes_are_user_errors_naming_the_field(tmp_path, pp_path, monkeypatch):
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    with pytest.raises(UserError, match=r"oracle\.pp_path is not set"):
        make_oracle(VaspOracleConfig()).check_elements(["Si"])
    with pytest.raises(UserError, match=r"oracle\.setups.*no POTCAR for Si at .*potpaw_PBE/Si_pv/POTCAR"):
        make_oracle(VaspOracleConfig(pp_path=str(pp_path), setups={"Si": "_pv"})).check_elements(["Si"])
    with pytest.raises(UserError, match=r"oracle\.executable: 'vasp_std' not found on PATH.*VASP module"):
        make_oracle(VaspOracleConfig(pp_path=str(pp_path))).check_setup()
