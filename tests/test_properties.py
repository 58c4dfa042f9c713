"""The properties stage: fits, finite differences and verdicts checked against independent physics."""


import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from mlip_autopipec.domain_models.properties_config import PropertiesConfig
from mlip_autopipec.domain_models.property_records import PropertyRecord
from mlip_autopipec.properties import EV_PER_A3_TO_GPA, TASK
from mlip_autopipec.properties.analyze import analyze
from mlip_autopipec.properties.compare import compare
from mlip_autopipec.properties.eos import birch_murnaghan, fit_birch_murnaghan
from mlip_autopipec.properties.evaluate import evaluate
from mlip_autopipec.properties.system import PropertySystem, build_tasks

A_CU = 3.61


def cu_system(a=A_CU):
    return PropertySystem("bulk", bulk("Cu", "fcc", a=a), bulk("Cu", "fcc", a=a, cubic=True), "Cu", "fcc", a)


def compute(pcfg, system, calc):
    return {t.info[TASK]: evaluate(t, calc, pcfg.fmax, pcfg.max_relax_steps) for t in build_tasks(pcfg, system)}


class StretchedEMT(Calculator):
    """EMT in coordinates stretched by `s`: the same crystal with every length (a0 too) times s."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, s):
        super().__init__()
        self.s = s

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        shrunk = self.atoms.copy()
        shrunk.set_cell(self.atoms.cell / self.s, scale_atoms=True)
        shrunk.calc = EMT()
        e = shrunk.get_potential_energy()
        self.results = {"energy": e, "free_energy": e, "forces": shrunk.get_forces() / self.s,
                        "stress": shrunk.get_stress() / self.s**3}


def test_eos_fit_recovers_synthetic_birch_murnaghan():
    e0, v0, b0_gpa, b0p = -3.7, 11.6, 134.0, 4.3
    vols = np.linspace(0.95, 1.05, 7) * v0 * 1.01  # not centred on V0
    energies = birch_murnaghan(vols, e0, v0, b0_gpa / EV_PER_A3_TO_GPA, b0p)
    fit = fit_birch_murnaghan(vols, energies)
    assert fit["v0"] == pytest.approx(v0, rel=1e-6)
    assert fit["b0"] == pytest.approx(b0_gpa, rel=1e-5)
    assert fit["b0p"] == pytest.approx(b0p, rel=1e-4)
    assert fit["e0"] == pytest.approx(e0, abs=1e-8)


def test_eos_fit_rejects_a_curve_without_minimum():
    vols = np.linspace(10, 12, 7)
    with pytest.raises(ValueError, match="not convex"):
        fit_birch_murnaghan(vols, -vols**2)


def test_emt_cu_eos_matches_ase_published_values():
    pcfg = PropertiesConfig(include=["eos"])
    values, _, errors = analyze(compute(pcfg, cu_system(), EMT()), cu_system(), pcfg)
    assert not errors
    assert values["lattice_constant"] == pytest.approx(3.590, abs=0.002)  # ASE's EMT table
    assert values["bulk_modulus"] == pytest.approx(134.4, rel=0.01)


def test_emt_cu_elastic_constants_agree_with_energy_finite_differences():
    # at EMT's own a0: there energy second derivatives and stress-strain slopes are the same constants
    # (away from it the residual pressure makes them differ by ~P, about 2 GPa at a = 3.61 Å)
    a0 = 3.5898
    system = cu_system(a0)
    pcfg = PropertiesConfig(include=["elastic"])
    values, details, _ = analyze(compute(pcfg, system, EMT()), system, pcfg)

    # independent check: second derivatives of the energy (not the stress) of the conventional cell
    cell = bulk("Cu", "fcc", a=a0, cubic=True)
    vol, h = cell.get_volume(), 0.005

    def energy(eps):
        a = cell.copy()
        a.set_cell(cell.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        a.calc = EMT()
        return a.get_potential_energy()

    def second_derivative(eps_unit):
        return (energy(h * eps_unit) - 2 * energy(0 * eps_unit) + energy(-h * eps_unit)) / h**2 / vol * EV_PER_A3_TO_GPA

    uniaxial = np.diag([1.0, 0, 0])  # d2E/de2 = V C11
    biaxial = np.diag([1.0, 1.0, 0])  # d2E/de2 = V (2 C11 + 2 C12)
    shear = np.array([[0, 0, 0], [0, 0, 0.5], [0, 0.5, 0]])  # engineering yz strain: d2E/dg2 = V C44
    c11 = second_derivative(uniaxial)
    c12 = second_derivative(biaxial) / 2 - c11
    c44 = second_derivative(shear)
    assert values["C11"] == pytest.approx(c11, rel=0.01)
    assert values["C12"] == pytest.approx(c12, rel=0.01)
    assert values["C44"] == pytest.approx(c44, rel=0.01)
    m = np.array(details["elastic_matrix_GPa"])
    assert abs(m[0, 3]) < 0.5 and abs(m[3, 4]) < 0.5  # cubic: no normal-shear coupling


def test_two_strains_give_the_cubic_constants_of_the_full_matrix():
    system = cu_system()
    full = PropertiesConfig(include=["elastic"])
    cubic = PropertiesConfig(include=["elastic"], elastic_components=[0, 3])
    v_full, _, _ = analyze(compute(full, system, EMT()), system, full)
    v_cubic, details, _ = analyze(compute(cubic, system, EMT()), system, cubic)
    assert len(build_tasks(cubic, system)) == 4
    for name in ("C11", "C12", "C44"):
        assert v_cubic[name] == pytest.approx(v_full[name], rel=1e-3)
    assert details["elastic_matrix_GPa"][0][1] is None  # column yy was not strained


def test_wrong_lattice_constant_is_flagged():
    pcfg = PropertiesConfig(include=["eos"])
    system = cu_system()
    oracle = analyze(compute(pcfg, system, EMT()), system, pcfg)
    wrong = analyze(compute(pcfg, system, StretchedEMT(1.02)), system, pcfg)
    records = {r.name: r for r in compare(oracle, wrong, pcfg)}
    lat = records["lattice_constant"]
    assert lat.ok is False
    assert lat.rel_error == pytest.approx(0.02, abs=0.002)
    assert lat.potential == pytest.approx(1.02 * lat.oracle, rel=1e-3)
    same = {r.name: r for r in compare(oracle, oracle, pcfg)}
    assert same["lattice_constant"].ok is True and same["bulk_modulus"].ok is True


def test_reference_values_appear_as_third_column():
    pcfg = PropertiesConfig(include=["eos"], reference={"lattice_constant": 3.615})
    side = analyze(compute(pcfg, cu_system(), EMT()), cu_system(), pcfg)
    rec = {r.name: r for r in compare(side, side, pcfg)}
    assert rec["lattice_constant"].reference == 3.615
    assert rec["bulk_modulus"].reference is None and "reference" not in rec["bulk_modulus"].model_dump()


def _decision(action, iteration=2, stale=0):
    from mlip_autopipec.domain_models.state import Decision

    return Decision(iteration=iteration, action=action, reason="r", progress=1.0, iterations_without_improvement=stale)


def test_property_gate_blocks_convergence_only_while_a_property_fails():
    from mlip_autopipec.loop.property_gate import gate_on_properties
    from mlip_autopipec.domain_models.state import Action

    bad = [PropertyRecord(name="C44", ok=False), PropertyRecord(name="bulk_modulus", ok=True)]
    good = [PropertyRecord(name="C44", ok=True)]
    assert gate_on_properties(_decision(Action.CONVERGED), good, 10, 5).action is Action.CONVERGED
    blocked = gate_on_properties(_decision(Action.CONVERGED), bad, 10, 5)
    assert blocked.action is Action.CONTINUE and "C44" in blocked.reason and "bulk_modulus" not in blocked.reason
    assert gate_on_properties(_decision(Action.CONVERGED, iteration=9), bad, 10, 5).action is Action.STOP_MAX_CYCLES
    assert gate_on_properties(_decision(Action.CONVERGED, stale=5), bad, 10, 5).action is Action.STOP_PATIENCE
    assert gate_on_properties(_decision(Action.CONTINUE), bad, 10, 5).action is Action.CONTINUE


# -- clusters: vibrational frequencies; slabs from a file: surface energy ---------------------------
class ScaledEMT(Calculator):
    """EMT with every energy times k: the same minimum, a Hessian k times stiffer, so every
    vibrational frequency is sqrt(k) times EMT's."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, k):
        super().__init__()
        self.k = k

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = EMT()
        e = self.k * a.get_potential_energy()
        self.results = {"energy": e, "free_energy": e, "forces": self.k * a.get_forces()}


def cu13():
    from ase.cluster import Icosahedron

    c = Icosahedron("Cu", 2)  # 13 atoms
    c.rattle(0.05, seed=1)  # off the minimum: the stage must relax it
    return c


def test_cluster_vibrations_agree_with_ase_vibrations_and_flag_a_stiffer_potential(tmp_path, monkeypatch):
    from ase.vibrations import Vibrations

    pcfg = PropertiesConfig(include=["relaxation", "vibrations"], fmax=0.001)
    system = PropertySystem("cluster", cu13(), cu13())
    oracle = compute(pcfg, system, EMT())
    freqs = analyze(oracle, system, pcfg)[1]["vibration_frequencies_THz"]
    assert len(freqs) == 3 * 13 - 6 and min(freqs) > 1.0  # a minimum: no imaginary, no rigid modes

    # ASE's own finite differences at the stage's relaxed geometry (cm^-1 -> THz)
    relaxed = oracle["vibrations/cluster"].copy()
    relaxed.calc = EMT()
    monkeypatch.chdir(tmp_path)
    vib = Vibrations(relaxed, delta=pcfg.phonon_delta, nfree=2)
    vib.run()
    ase_thz = np.sort(np.real(vib.get_frequencies())) * 0.0299792458
    assert ase_thz[6:] == pytest.approx(freqs, abs=1e-3)

    stiff = compute(pcfg, system, ScaledEMT(1.21))  # frequencies 1.1 x EMT's
    records = {r.name: r for r in compare(analyze(oracle, system, pcfg), analyze(stiff, system, pcfg), pcfg)}
    expected = 0.1 * np.sqrt(np.mean(np.square(freqs)))
    assert records["vibration_rmse"].potential == pytest.approx(expected, rel=1e-3)
    assert expected > pcfg.tolerances.vibration_rmse and records["vibration_rmse"].ok is False
    assert records["relaxed_geometry_rmsd"].ok is True  # same minimum, different curvature
    same = {r.name: r for r in compare(analyze(oracle, system, pcfg), analyze(oracle, system, pcfg), pcfg)}
    assert same["vibration_rmse"].potential == 0 and same["vibration_rmse"].ok is True


def test_vibrations_at_an_oracle_saddle_point_are_reported_but_not_judged():
    """EMT's CH4 relaxed from the tetrahedral geometry stays tetrahedral (symmetric forces) and is a saddle:
    its five bending modes are imaginary (its minimum is a distorted CH4, found by a relaxation from a
    rattled start: 21 meV lower)."""
    from ase.build import molecule

    ch4 = molecule("CH4")
    pcfg = PropertiesConfig(include=["relaxation", "vibrations"], fmax=0.001)
    system = PropertySystem("cluster", ch4, ch4)
    oracle = analyze(compute(pcfg, system, EMT()), system, pcfg)
    freqs = oracle[1]["vibration_frequencies_THz"]
    assert len(freqs) == 9 and sum(f < -1.0 for f in freqs) == 5  # the bends: imaginary
    stiff = analyze(compute(pcfg, system, ScaledEMT(1.21)), system, pcfg)
    row = {r.name: r for r in compare(oracle, stiff, pcfg)}["vibration_rmse"]
    assert row.potential == pytest.approx(0.1 * np.sqrt(np.mean(np.square(freqs))), rel=1e-3)  # still reported
    assert row.ok is True and row.skipped.startswith("oracle: 5 imaginary mode(s)")
    from mlip_autopipec.report.properties import _ratio, table_rows

    assert table_rows([row])[0][4].startswith("not judged (oracle: 5") and _ratio(row) is None  # no bar either
    cluster = PropertySystem("cluster", cu13(), cu13())  # a minimum: judged as before
    cu = analyze(compute(pcfg, cluster, EMT()), cluster, pcfg)
    assert {r.name: r for r in compare(cu, cu, pcfg)}["vibration_rmse"].skipped is None


def _slab_config(tmp_path, slab, **props):
    from ase.io import write

    from mlip_autopipec.domain_models.config import config_from_dict

    write(tmp_path / "slab.extxyz", slab)
    structures = [{"kind": "file", "path": "slab.extxyz"}, *props.pop("extra_structures", [])]
    raw = {"structures": structures,
           "properties": {"enabled": True, "include": ["surface", "relaxation"], **props}}
    return config_from_dict(raw, tmp_path / "config.yaml")


def test_slab_file_surface_energy_matches_a_direct_computation_and_the_built_facet(tmp_path):
    from ase.build import fcc111
    from ase.optimize import BFGS

    from mlip_autopipec.properties import EV_PER_A2_TO_J_PER_M2
    from mlip_autopipec.properties.system import property_system

    slab = fcc111("Cu", size=(2, 2, 5), a=3.61, vacuum=6.0)  # pbc T T F: a slab
    rcfg = _slab_config(tmp_path, slab)
    system = property_system(rcfg)
    assert system.kind == "slab" and system.groups(rcfg.cfg.properties.include) == ["surface", "relaxation"]
    pcfg = rcfg.cfg.properties
    gamma = analyze(compute(pcfg, system, EMT()), system, pcfg)[0]["surface_energy"]

    # direct: relaxed slab against ASE's reference fcc Cu (3.61 Å), both EMT
    work = slab.copy()
    work.calc = EMT()
    BFGS(work, logfile=None).run(fmax=0.001)
    ref = bulk("Cu", "fcc", a=3.61)
    ref.calc = EMT()
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    direct = (work.get_potential_energy() - len(work) * ref.get_potential_energy()) / (2 * area)
    assert gamma == pytest.approx(direct * EV_PER_A2_TO_J_PER_M2, rel=2e-3)
    # the bulk crystal's own (111) facet of the same thickness (a 1x1 slab): the same surface
    facets = analyze(compute(PropertiesConfig(include=["surface"]), cu_system(), EMT()), cu_system(),
                     PropertiesConfig(include=["surface"]))[0]
    assert gamma == pytest.approx(facets["surface_energy_111"], rel=2e-3)

    # a bulk spec as the reference: the same crystal gives the same number
    (tmp_path / "b").mkdir()
    spec = {"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}
    rcfg_b = _slab_config(tmp_path / "b", slab, surface_bulk=1, extra_structures=[spec])
    system_b = property_system(rcfg_b)
    assert analyze(compute(pcfg, system_b, EMT()), system_b, pcfg)[0]["surface_energy"] == pytest.approx(gamma)


def test_a_slab_without_a_matching_bulk_reference_is_refused(tmp_path):
    from ase.build import fcc111

    from mlip_autopipec.core.errors import StructureError
    from mlip_autopipec.properties.system import property_system

    slab = fcc111("Cu", size=(2, 2, 3), a=3.61, vacuum=6.0)
    slab.symbols[0] = "Ni"
    with pytest.raises(StructureError, match=r"holds Cu, Ni.*set properties.surface_bulk"):
        property_system(_slab_config(tmp_path, slab))
    (tmp_path / "b").mkdir()
    rcfg = _slab_config(tmp_path / "b", slab, surface_bulk=1,
                        extra_structures=[{"kind": "bulk", "element": "Cu", "crystal": "fcc"}])
    with pytest.raises(StructureError, match=r"composition .* is no multiple of .*surface_bulk"):
        build_tasks(rcfg.cfg.properties, property_system(rcfg))
    (tmp_path / "c").mkdir()  # without `surface` the slab is fine
    assert build_tasks(PropertiesConfig(include=["relaxation"]), property_system(
        _slab_config(tmp_path / "c", slab, include=["relaxation"])))
