"""Local swarm generators: reproducibility, distinctness, min-distance guarantee, normal-mode physics."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_autopipec.sampling import candidate_generator as cg
from mlip_autopipec.core.errors import StructureError
from mlip_autopipec.domain_models.config import CandidateMix, CandidatesConfig

CU_NN = 3.615 / np.sqrt(2)  # fcc nearest-neighbour distance of ASE's reference Cu lattice


@pytest.fixture(scope="module")
def cu4():
    return bulk("Cu", "fcc", cubic=True)  # 4 atoms


@pytest.fixture(scope="module")
def cu32():
    return bulk("Cu", "fcc", cubic=True) * (2, 2, 2)


@pytest.fixture(scope="module")
def cu4_rattled(cu4):
    atoms = cu4.copy()
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.fixture(scope="module")
def hess_cu4(cu4):
    return cg.hessian(cu4, EMT())


def _mic_displacements(a: Atoms, b: Atoms) -> np.ndarray:
    """Per-atom displacement b - a under the minimum-image convention (for wrapped snapshots)."""
    frac = (b.positions - a.positions) @ np.linalg.inv(a.cell)
    frac -= np.round(frac)
    return frac @ np.asarray(a.cell)


def _brute_force_min_distance(atoms: Atoms, reach: int = 2) -> float:
    """Independent reference: all pairs over an explicit block of periodic images."""
    shifts = np.array([(i, j, k) for i in range(-reach, reach + 1) for j in range(-reach, reach + 1)
                       for k in range(-reach, reach + 1)]) @ np.asarray(atoms.cell)
    pos = atoms.positions
    d = pos[None, :, None, :] - pos[:, None, None, :] + shifts[None, None, :, :]
    dist = np.linalg.norm(d, axis=-1)
    zero = np.flatnonzero(~np.any(shifts, axis=1))[0]
    for i in range(len(atoms)):
        dist[i, i, zero] = np.inf
    return float(dist.min())


# --------------------------------------------------------------------------------------------
# min_interatomic_distance
# --------------------------------------------------------------------------------------------
def test_min_distance_matches_brute_force_including_self_images(cu32):
    prim = bulk("Cu", "fcc")  # 1 atom: the only neighbours are its own periodic images
    assert cg.min_interatomic_distance(prim) == pytest.approx(_brute_force_min_distance(prim))
    rattled = cu32.copy()
    rattled.rattle(0.1, seed=0)
    assert cg.min_interatomic_distance(rattled) == pytest.approx(_brute_force_min_distance(rattled, 1))


def test_min_distance_non_periodic():
    mol = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    expected = min(np.linalg.norm(mol.positions[i] - mol.positions[j]) for i in range(3) for j in range(i))
    assert cg.min_interatomic_distance(mol) == pytest.approx(expected)
    assert cg.min_interatomic_distance(Atoms("Cu")) == np.inf


# --------------------------------------------------------------------------------------------
# rattle
# --------------------------------------------------------------------------------------------
def test_rattle_distinct_changed_and_seeded(cu32):
    a = cg.rattle(cu32, 8, 0.05, 1.5, np.random.default_rng(7))
    b = cg.rattle(cu32, 8, 0.05, 1.5, np.random.default_rng(7))
    c = cg.rattle(cu32, 8, 0.05, 1.5, np.random.default_rng(8))
    assert len(a) == 8
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not np.allclose(a[0].positions, c[0].positions)
    for i in range(len(a)):
        assert np.abs(a[i].positions - cu32.positions).max() > 1e-3
        for j in range(i):
            assert not np.allclose(a[i].positions, a[j].positions)
    # the amplitude is what was asked for (no silent shrinking at a harmless min distance)
    disp = np.concatenate([x.positions - cu32.positions for x in a])
    assert disp.std() == pytest.approx(0.05, rel=0.15)
    assert all(x.calc is None for x in a)


def test_rattle_respects_large_min_distance_with_large_stdev(cu32):
    min_distance = 2.2  # fcc Cu nearest neighbours are at 2.55 Å
    frames = cg.rattle(cu32, 10, 0.25, min_distance, np.random.default_rng(0))
    assert len(frames) == 10
    for f in frames:
        assert _brute_force_min_distance(f, 1) >= min_distance
    # the constraint was active: unconstrained displacements this large would break it
    assert 0.25 * np.sqrt(2) * 3 > CU_NN - min_distance
    disp = np.concatenate([f.positions - cu32.positions for f in frames])
    assert disp.std() > 0.15


def test_rattle_unsatisfiable_min_distance_raises(cu4):
    with pytest.raises(StructureError, match="min_distance"):
        cg.rattle(cu4, 1, 0.05, 3.0, np.random.default_rng(0), max_tries=5)


# --------------------------------------------------------------------------------------------
# Hessian and normal modes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["cu4", "cu4_rattled"])
def test_finite_difference_hessian_is_nearly_symmetric(which, request):
    atoms = request.getfixturevalue(which)
    raw = cg.hessian(atoms, EMT(), symmetrize=False)
    assert raw.shape == (3 * len(atoms), 3 * len(atoms))
    asym = np.abs(raw - raw.T).max()
    assert asym < 1e-3 * np.abs(raw).max()  # symmetrisation only removes numerical noise
    sym = cg.hessian(atoms, EMT())
    np.testing.assert_allclose(sym, sym.T)
    np.testing.assert_allclose(sym, 0.5 * (raw + raw.T))


def test_hessian_agrees_with_force_difference(cu4_rattled):
    """H predicts the force change of a small random displacement (second-order accurate)."""
    h = cg.hessian(cu4_rattled, EMT())
    dx = np.random.default_rng(1).normal(0, 1e-3, size=(len(cu4_rattled), 3))
    a0 = cu4_rattled.copy()
    a0.calc = EMT()
    f0 = a0.get_forces().ravel()
    a1 = a0.copy()
    a1.positions += dx
    a1.calc = EMT()
    df = a1.get_forces().ravel() - f0
    np.testing.assert_allclose(df, -h @ dx.ravel(), atol=5e-3 * np.abs(df).max())


def test_translations_have_zero_frequency(cu4, hess_cu4):
    freqs, modes = cg.normal_modes(hess_cu4, cu4.get_masses())
    assert freqs.shape == (12,) and modes.shape == (12, 12)
    soft = np.argsort(np.abs(freqs))[:3]
    assert np.all(np.abs(cg.frequencies_to_invcm(freqs[soft])) < 1.0)
    assert np.all(np.abs(cg.frequencies_to_invcm(np.delete(freqs, soft))) > 50.0)
    # the soft modes span the translations
    ext = cg.external_modes(cu4)
    assert ext.shape == (12, 3)
    np.testing.assert_allclose(np.linalg.svd(ext.T @ modes[:, soft])[1], 1.0, atol=1e-6)


@pytest.mark.parametrize("which", ["cu4", "cu4_rattled"])
def test_internal_modes_orthonormal_and_exclude_translations(which, request):
    atoms = request.getfixturevalue(which)
    h = cg.hessian(atoms, EMT())
    ext = cg.external_modes(atoms)
    freqs, modes = cg.normal_modes(h, atoms.get_masses(), ext)
    assert modes.shape == (12, 9) and freqs.shape == (9,)
    np.testing.assert_allclose(modes.T @ modes, np.eye(9), atol=1e-10)
    np.testing.assert_allclose(ext.T @ modes, 0.0, atol=1e-8)
    assert np.all(np.diff(freqs) >= 0)
    # eigen-equation of the mass-weighted Hessian
    w = np.repeat(1 / np.sqrt(atoms.get_masses()), 3)
    dyn = w[:, None] * h * w[None, :]
    np.testing.assert_allclose(dyn @ modes, modes * (np.sign(freqs) * freqs**2), atol=1e-6)


def test_molecule_drops_rotations_too():
    mol = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [1.2, 2.1, 0]])
    assert cg.external_modes(mol).shape == (9, 6)
    dimer = Atoms("Cu2", positions=[[0, 0, 0], [2.4, 0, 0]])
    assert cg.external_modes(dimer).shape == (6, 5)  # linear: one rotation is not a motion


def test_displacement_along_one_mode_has_requested_amplitude(cu4_rattled):
    h = cg.hessian(cu4_rattled, EMT())
    masses = cu4_rattled.get_masses()
    freqs, modes = cg.normal_modes(h, masses, cg.external_modes(cu4_rattled))
    k, amp = 4, 0.37
    coeffs = np.zeros(freqs.size)
    coeffs[k] = amp
    dx = cg.displace_along_modes(masses, modes, coeffs)
    assert dx.shape == (4, 3)
    q = (np.sqrt(masses)[:, None] * dx).ravel()
    assert np.linalg.norm(q) == pytest.approx(amp)
    np.testing.assert_allclose(modes.T @ q, coeffs, atol=1e-12)
    # harmonic energy of that displacement is omega^2 amp^2 / 2
    assert 0.5 * dx.ravel() @ h @ dx.ravel() == pytest.approx(0.5 * freqs[k] ** 2 * amp**2, rel=1e-6)


def test_harmonic_amplitudes_clip_soft_and_imaginary_modes():
    freqs = np.array([-0.5, 0.001, 0.2, 1.0])
    amps = cg.harmonic_amplitudes(freqs, 600.0, min_frequency=0.1)
    kt = units.kB * 600.0
    # an imaginary mode gets the largest (clip) amplitude whatever its |omega|, like the softest real mode
    np.testing.assert_allclose(amps, np.sqrt(kt) / np.array([0.1, 0.1, 0.2, 1.0]))
    assert amps[0] == amps.max()
    assert np.all(np.isfinite(amps))


def test_invcm_roundtrip():
    assert cg.frequencies_to_invcm(np.array([cg.invcm_to_frequency(123.0)]))[0] == pytest.approx(123.0)
    # 1 ASE frequency unit sqrt(eV/(Å² amu)) is about 521.5 cm^-1
    assert cg.frequencies_to_invcm(np.array([1.0]))[0] == pytest.approx(521.47, rel=1e-3)


def test_normal_mode_displacements_min_distance_and_temperature_scaling(cu4, hess_cu4):
    n = 200
    cold = cg.normal_mode_displacements(cu4, EMT(), n, 300.0, 1.5, np.random.default_rng(1), hess=hess_cu4)
    hot = cg.normal_mode_displacements(cu4, EMT(), n, 1200.0, 1.5, np.random.default_rng(2), hess=hess_cu4)
    assert len(cold) == len(hot) == n
    for f in cold + hot:
        assert cg.min_interatomic_distance(f) >= 1.5
        assert f.calc is None
    msd = [np.mean([np.sum((f.positions - cu4.positions) ** 2) for f in frames]) for frames in (cold, hot)]
    assert msd[1] / msd[0] == pytest.approx(4.0, rel=0.15)
    # absolute scale: sum_k kT / (m omega_k^2) for a monatomic cell
    freqs, _ = cg.normal_modes(hess_cu4, cu4.get_masses(), cg.external_modes(cu4))
    expected = np.sum(units.kB * 300.0 / freqs**2) / cu4.get_masses()[0]
    assert msd[0] == pytest.approx(expected, rel=0.2)
    # no rigid translation: displacements have zero mass-weighted mean
    com_shift = np.mean([np.abs((f.positions - cu4.positions).mean(axis=0)).max() for f in hot])
    assert com_shift < 1e-10


def test_normal_mode_displacements_seeded(cu4, hess_cu4):
    a = cg.normal_mode_displacements(cu4, None, 3, 600.0, 1.5, np.random.default_rng(5), hess=hess_cu4)
    b = cg.normal_mode_displacements(cu4, None, 3, 600.0, 1.5, np.random.default_rng(5), hess=hess_cu4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)


def test_normal_mode_displacements_respect_a_tight_min_distance(cu4, hess_cu4):
    frames = cg.normal_mode_displacements(
        cu4, EMT(), 20, 3000.0, 2.3, np.random.default_rng(0), hess=hess_cu4
    )
    assert all(_brute_force_min_distance(f, 1) >= 2.3 for f in frames)


# --------------------------------------------------------------------------------------------
# MD burst
# --------------------------------------------------------------------------------------------
def test_md_burst_seeded_and_valid(cu32):
    kw = dict(n=4, temperature=1200.0, steps=5, min_distance=1.8)
    a = cg.md_burst(cu32, EMT(), rng=np.random.default_rng(11), **kw)
    b = cg.md_burst(cu32, EMT(), rng=np.random.default_rng(11), **kw)
    c = cg.md_burst(cu32, EMT(), rng=np.random.default_rng(12), **kw)
    assert len(a) == 4
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
    assert not np.allclose(a[0].positions, c[0].positions)
    for i, f in enumerate(a):
        assert f.calc is None and "momenta" not in f.arrays
        assert cg.min_interatomic_distance(f) >= 1.8
        assert np.abs(_mic_displacements(cu32, f)).max() > 0.01
        for g in a[:i]:
            assert not np.allclose(f.positions, g.positions)


class _CollapsingCalculator(EMT):
    """EMT plus a strong pull between atoms 0 and 1: a 'young potential' with an unphysical hole."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.get_distance(0, 1, mic=True, vector=True)
        pull = 50.0 * d / np.linalg.norm(d)
        forces = self.results["forces"].copy()
        forces[0] += pull
        forces[1] -= pull
        self.results["forces"] = forces


def test_md_burst_drops_overlapping_snapshots(cu4):
    frames = cg.md_burst(cu4, _CollapsingCalculator(), 3, 300.0, 10, 2.0, np.random.default_rng(0))
    assert len(frames) < 3  # the pulled pair collapses; such snapshots must not be returned
    assert all(cg.min_interatomic_distance(f) >= 2.0 for f in frames)


# --------------------------------------------------------------------------------------------
# Swarm
# --------------------------------------------------------------------------------------------
def _w(r, m, nm):
    return {"rattle": r, "md_burst": m, "normal_modes": nm}


@pytest.mark.parametrize(
    "total, weights, expected",
    [
        (20, _w(0.4, 0.3, 0.3), _w(8, 6, 6)),
        (10, _w(1, 1, 1), _w(4, 3, 3)),  # tie in the remainders goes to the first generator
        (7, _w(0.5, 0.0, 0.5), _w(4, 0, 3)),
        (1, _w(0.2, 0.7, 0.1), _w(0, 1, 0)),
    ],
)
def test_split_counts_largest_remainder(total, weights, expected):
    assert cg.split_counts(total, weights) == expected


def test_split_counts_sum_is_exact():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = dict(zip(cg.GENERATORS, rng.random(3) * (rng.random(3) > 0.3) + np.array([1e-3, 0, 0])))
        total = int(rng.integers(1, 50))
        counts = cg.split_counts(total, w)
        assert sum(counts.values()) == total
        assert all(counts[k] == 0 for k, v in w.items() if v == 0)
        for k, v in w.items():  # each share within 1 of its exact value
            assert abs(counts[k] - total * v / sum(w.values())) < 1


def test_generate_swarm_counts_labels_and_no_calculators(cu4):
    cfg = CandidatesConfig(
        n_candidates=11, mix=CandidateMix(rattle=0.5, md_burst=0.25, normal_modes=0.25),
        burst_steps=3, min_distance=1.8,
    )
    halt = cu4.copy()
    halt.rattle(0.05, seed=0)
    halt.calc = EMT()
    halt.get_forces()
    halt.info["max_gamma"] = 7.0
    swarm = cg.generate_swarm(halt, EMT(), cfg, np.random.default_rng(0))
    assert len(swarm) == 11
    labels = [f.info["generator"] for f in swarm]
    assert {k: labels.count(k) for k in cg.GENERATORS} == cg.split_counts(11, cfg.mix.model_dump())
    for f in swarm:
        assert f.calc is None
        assert set(f.arrays) <= {"numbers", "positions"}
        assert "max_gamma" not in f.info
        assert cg.min_interatomic_distance(f) >= cfg.min_distance
    again = cg.generate_swarm(halt, EMT(), cfg, np.random.default_rng(0))
    for x, y in zip(swarm, again):
        np.testing.assert_array_equal(x.positions, y.positions)


def test_generate_swarm_without_calculator_rattles_everything(cu4):
    cfg = CandidatesConfig(n_candidates=7)
    swarm = cg.generate_swarm(cu4, None, cfg, np.random.default_rng(0))
    assert len(swarm) == 7
    assert {f.info["generator"] for f in swarm} == {"rattle"}


def test_generate_swarm_skips_zero_weight_generators(cu4):
    cfg = CandidatesConfig(n_candidates=5, mix=CandidateMix(rattle=0, md_burst=0, normal_modes=1))
    swarm = cg.generate_swarm(cu4, EMT(), cfg, np.random.default_rng(0))
    assert [f.info["generator"] for f in swarm] == ["normal_modes"] * 5


def test_generate_swarm_tops_up_a_collapsing_md_burst_with_rattle(cu4):
    cfg = CandidatesConfig(n_candidates=4, mix=CandidateMix(rattle=0, md_burst=1, normal_modes=0),
                           burst_steps=10, burst_temperature=300.0, min_distance=2.0)
    swarm = cg.generate_swarm(cu4, _CollapsingCalculator(), cfg, np.random.default_rng(0))
    assert len(swarm) == 4
    assert "rattle" in {f.info["generator"] for f in swarm}
    assert all(cg.min_interatomic_distance(f) >= 2.0 for f in swarm)


@pytest.mark.parametrize("cell_kind", ["primitive", "tilted", "cubic"])
def test_single_atom_conflict_count_matches_brute_force(cell_kind):
    """The per-atom check used by rattle counts close atoms and images exactly like a brute force."""
    if cell_kind == "primitive":
        atoms = bulk("Cu", "fcc") * (2, 1, 1)  # 2 atoms: own periodic images are within reach
    elif cell_kind == "tilted":
        atoms = bulk("Cu", "hcp", a=2.55, c=4.16) * (2, 1, 1)
    else:
        atoms = bulk("Cu", "fcc", cubic=True)
    rng = np.random.default_rng(0)
    atoms.positions += rng.normal(0, 0.3, size=atoms.positions.shape) + 7.3  # unwrapped on purpose
    min_distance = 2.6
    checker = cg._ImageChecker(atoms, min_distance)
    reach = 3
    shifts = np.array([(i, j, k) for i in range(-reach, reach + 1) for j in range(-reach, reach + 1)
                       for k in range(-reach, reach + 1)]) @ np.asarray(atoms.cell)
    for i in range(len(atoms)):
        for _ in range(5):
            p = atoms.positions[i] + rng.normal(0, 0.5, size=3)
            pos = atoms.positions.copy()
            pos[i] = p
            d = np.linalg.norm(pos[None, :, :] + shifts[:, None, :] - p, axis=-1)
            d[np.flatnonzero(~np.any(shifts, axis=1))[0], i] = np.inf
            assert checker.conflicts(atoms.positions, i, p) == np.count_nonzero(d < min_distance)


# --------------------------------------------------------------------------------------------
# cell_strain
# --------------------------------------------------------------------------------------------
def test_cell_strain_deforms_the_cell_within_the_fraction_and_moves_atoms_with_it(cu32):
    halt = cu32.copy()
    halt.rattle(0.05, seed=1)
    strained = cg.cell_strain(halt, 12, 0.03, 1.5, np.random.default_rng(4))
    assert len(strained) == 12
    volumes = []
    for s in strained:
        deformation = np.linalg.solve(halt.cell.array, s.cell.array)  # cell_new = cell_old @ F
        assert np.allclose(deformation, deformation.T)
        assert np.all(np.abs(np.diag(deformation) - 1) <= 0.03)
        assert np.all(np.abs(deformation[~np.eye(3, dtype=bool)]) <= 0.015)
        np.testing.assert_allclose(s.get_scaled_positions(wrap=False), halt.get_scaled_positions(wrap=False),
                                   atol=1e-12)
        volumes.append(s.get_volume() / halt.get_volume())
    assert min(volumes) < 0.98 and max(volumes) > 1.02  # volumes change by a few % either way


def test_cell_strain_leaves_a_slabs_vacuum_axis_alone():
    from ase.build import fcc111

    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    slab.pbc = (True, True, False)
    for s in cg.cell_strain(slab, 5, 0.05, 1.5, np.random.default_rng(0)):
        np.testing.assert_allclose(s.cell.array[2], slab.cell.array[2])
        np.testing.assert_allclose(s.positions[:, 2], slab.positions[:, 2])
        assert not np.allclose(s.cell.array[:2], slab.cell.array[:2])


def test_generate_swarm_rattles_the_cell_strain_share_of_a_cluster():
    from ase.cluster import Icosahedron

    cluster = Icosahedron("Cu", 2)
    cfg = CandidatesConfig(n_candidates=4, mix=CandidateMix(rattle=0, md_burst=0, normal_modes=0, cell_strain=1))
    swarm = cg.generate_swarm(cluster, EMT(), cfg, np.random.default_rng(0))
    assert [f.info["generator"] for f in swarm] == ["rattle"] * 4
    periodic = cg.generate_swarm(bulk("Cu", "fcc", cubic=True) * (2, 2, 2), EMT(), cfg, np.random.default_rng(0))
    assert [f.info["generator"] for f in periodic] == ["cell_strain"] * 4


def test_generate_swarm_runs_its_md_bursts_at_the_given_step(cu4, monkeypatch):
    """The swarm's MD bursts integrate the user's system: at the system's step (OTFConfig.md_timestep_fs)."""
    steps = []
    real = cg.md_burst

    def spy(*args, **kw):
        steps.append(kw["timestep_fs"])
        return real(*args, **kw)

    monkeypatch.setattr(cg, "md_burst", spy)
    cfg = CandidatesConfig(n_candidates=2, mix=CandidateMix(rattle=0, md_burst=1, normal_modes=0), burst_steps=2)
    assert len(cg.generate_swarm(cu4, EMT(), cfg, np.random.default_rng(0), timestep_fs=0.5)) == 2
    assert steps == [0.5]
