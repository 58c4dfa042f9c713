"""The local swarm: candidate structures around a structure where exploration halted.

When the extrapolation grade of the current potential blows up, the halt structure alone is a poor
training point: one configuration says little about the neighbourhood the potential will visit next.
The swarm samples that neighbourhood three ways, each with a different bias:

* ``rattle`` - isotropic Gaussian noise; cheap, needs no potential, covers every direction equally.
* ``md_burst`` - short hot Langevin MD with the current potential; follows the (approximate) energy
  landscape, so it reaches the anharmonic, thermally relevant configurations rattling misses.
* ``normal_modes`` - harmonic normal-mode sampling (as in ANI / pacemaker NMS); soft directions get
  large amplitudes and stiff ones small, which matches thermal fluctuations near a minimum.
* ``cell_strain`` - the halt frame in a randomly deformed cell (dpdata/DP-GEN's ``cell_pert_fraction``
  perturbation, periodic axes only): its thermal displacements at other densities and shapes. MD at
  one density barely teaches how the energy changes with volume; without these the default Cu run
  stayed at ~2 meV/Å on ±3 % strained cells while 1.0 at its own density. Structures without a
  periodic axis have no cell to strain: their share is rattled.

Every function takes a seeded ``numpy.random.Generator`` so a swarm is reproducible, and no candidate
has two atoms closer than ``min_distance``: such structures only waste oracle time (DFT fails or gives
huge forces that dominate a fit).

Shapes: N atoms; positions/displacements (N, 3); Hessian and mode matrices (3N, 3N) or (3N, K),
flattened atom-major (x0, y0, z0, x1, ...).

What happens when ``min_distance`` cannot be met
------------------------------------------------
* ``rattle``: offending atoms are redrawn one by one (not the whole structure, whose acceptance would
  vanish for large cells); after ``max_tries`` rounds the amplitude of that structure is halved
  (logged), at most ``_MAX_SHRINKS`` times; then a ``StructureError`` says which distance could not
  be met and how to fix it. Halving is needed only when the stdev is large compared with the room
  between atoms; the error only when the reference itself is (nearly) too compact.
* ``normal_mode_displacements``: same policy, but a whole sample is redrawn (modes are collective).
* ``md_burst``: overlapping snapshots are dropped and the run continues; a run that keeps producing them
  has collapsed (typical of a young potential) and is restarted from the input with fresh velocities.
  The total number of segments is bounded; on running out it returns fewer snapshots (logged).
* ``generate_swarm`` tops up any shortfall of ``md_burst``/``normal_modes`` with rattled structures
  (labelled ``rattle``), so it always returns exactly ``n_candidates`` or raises.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms, units
from ase.neighborlist import neighbor_list

from ..core.errors import StructureError
from ..core.min_distance import DEFAULT_FRACTION, PairLimits, as_limits
from ..core.periodicity import is_cluster

if TYPE_CHECKING:  # pragma: no cover
    from ..domain_models.config import CandidatesConfig

log = logging.getLogger(__name__)

GENERATORS = ("rattle", "md_burst", "normal_modes", "cell_strain")

_MAX_SHRINKS = 6
_SHRINK = 0.5
# Arrays that describe the structure itself (kept); everything else (forces, momenta, per-atom
# energies, gamma, ...) is a result of some earlier calculation and would be stale on a new structure.
_STRUCTURAL_ARRAYS = ("numbers", "positions", "masses", "tags", "initial_magmoms", "initial_charges")


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------
def min_interatomic_distance(atoms: Atoms) -> float:
    """Shortest distance between any two atoms, periodic images included.

    A neighbour list is used instead of ``get_all_distances(mic=True)`` because the minimum-image
    convention misses an atom's own periodic images and pairs beyond half a small cell (e.g. a
    1-atom primitive cell). The cutoff grows until a pair is found; for a periodic direction the
    shortest lattice vector bounds the answer, so the loop ends. Returns ``inf`` for fewer than two
    atoms without periodicity.
    """
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if n == 0 or (n == 1 and not pbc.any()):
        return float("inf")
    if not pbc.any() and n <= 1000:
        pos = atoms.positions
        d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        return float(d[np.triu_indices(n, 1)].min())
    if pbc.any():
        upper = float(atoms.cell.lengths()[pbc].min()) + 1e-6
    else:
        upper = float(np.linalg.norm(np.ptp(atoms.positions, axis=0))) + 1e-6
    cutoff = min(3.0, upper)
    while True:
        d = neighbor_list("d", atoms, cutoff)
        if d.size:
            return float(d.min())
        if cutoff >= upper:
            return float("inf")
        cutoff = min(2.0 * cutoff, upper)


def close_atoms(atoms: Atoms, min_distance: "float | PairLimits") -> np.ndarray:
    """Indices of atoms in at least one pair closer than ``min_distance`` (one length, or a limit per
    element pair), sorted and unique. Periodic images count only along periodic axes."""
    if isinstance(min_distance, PairLimits):
        bad = min_distance.too_close(atoms)
        return np.unique(bad[:, :2].astype(int).ravel())
    i, j = neighbor_list("ij", atoms, min_distance)
    return np.unique(np.concatenate([i, j]))


def _limit_text(min_distance, atoms: Atoms) -> str:
    if isinstance(min_distance, PairLimits):
        return f"their pair limits ({min_distance.describe(atoms.numbers)})"
    return f"{min_distance:.3f} Å"


def closest_pair(atoms: Atoms, cutoff: float) -> tuple[int, int, float] | None:
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    if not d.size:
        return None
    k = int(np.argmin(d))
    return int(i[k]), int(j[k]), float(d[k])


def strip_results(atoms: Atoms) -> Atoms:
    """A copy with only the structure: no calculator, no result arrays, empty ``info``.

    Candidates are new structures: a halt frame's energy, forces, momenta or gamma values would be
    wrong for them, and an attached calculator would be pickled/written along with them.
    """
    new = atoms.copy()
    new.calc = None
    for key in list(new.arrays):
        if key not in _STRUCTURAL_ARRAYS:
            del new.arrays[key]
    new.info = {}
    return new


def _with_positions(atoms: Atoms, positions: np.ndarray) -> Atoms:
    new = atoms.copy()
    new.calc = None
    new.positions = positions
    return new


def _key(pos: np.ndarray) -> bytes:
    """Hashable fingerprint of positions, to reject exact repeats in O(1)."""
    return np.round(pos, 8).tobytes()


# --------------------------------------------------------------------------------------------
# Rattle
# --------------------------------------------------------------------------------------------
def rattle(
    atoms: Atoms,
    n: int,
    stdev: float,
    min_distance: "float | PairLimits",
    rng: np.random.Generator,
    max_tries: int = 100,
) -> list[Atoms]:
    """``n`` distinct copies with Gaussian displacements (stdev in Å per Cartesian component).

    All atoms are displaced at once; then every atom still in a pair closer than ``min_distance``
    gets fresh Gaussian draws around its original position, each kept if it has no more close
    neighbours than the current one, until it is clear (up to ``_PER_ATOM_DRAWS`` per round,
    ``max_tries`` rounds). This hard-sphere-like redraw approximates the Gaussian conditioned on "no
    overlap" and, unlike redrawing whole structures (whose acceptance vanishes for large cells or
    large stdev), converges quickly. See the module docstring for what
    happens if it does not. Returned copies keep ``info``, constraints and structural arrays of
    ``atoms`` but no calculator.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    ref = atoms.positions.copy()
    images = _ImageChecker(atoms, min_distance)
    out: list[Atoms] = []
    seen = {_key(ref)}  # a candidate identical to the input is useless too
    while len(out) < n:
        pos = _rattle_one(atoms, ref, stdev, min_distance, rng, max_tries, images)
        if _key(pos) in seen:
            continue
        seen.add(_key(pos))
        out.append(_with_positions(atoms, pos))
    return out


_PER_ATOM_DRAWS = 10


class _ImageChecker:
    """How many atoms (or periodic images) are closer than ``min_distance`` to one atom at ``p``?

    Checking a single moved atom against all N atoms and the few lattice translations that can come
    within ``min_distance`` is O(N) and avoids rebuilding a neighbour list for every trial draw.
    """

    def __init__(self, atoms: Atoms, min_distance: "float | PairLimits"):
        limits = as_limits(min_distance)
        self.numbers = np.asarray(atoms.numbers)
        self.limit2 = limits.table[self.numbers][:, self.numbers] ** 2  # (N, N) squared limits
        reach_len = limits.max_for(self.numbers)
        self.pbc = np.asarray(atoms.pbc, dtype=bool)
        self.cell = np.asarray(atoms.cell.complete())
        self.inv = np.linalg.inv(self.cell)
        # After wrapping a fractional difference into [-1/2, 1/2], image s along axis k is at least
        # (|s| - 1/2) plane spacings away, so |s| < 1/2 + min_distance / spacing suffices.
        x = reach_len * np.linalg.norm(self.inv, axis=0)
        reach = [int(np.ceil(0.5 + x[k])) - 1 if self.pbc[k] else 0 for k in range(3)]
        grid = np.array(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")).reshape(3, -1).T
        self.shifts = grid @ self.cell  # (S, 3) lattice translations
        self.zero = int(np.flatnonzero(~grid.any(axis=1))[0])

    def conflicts(self, positions: np.ndarray, i: int, p: np.ndarray) -> int:
        d = positions - p  # (N, 3)
        d[i] = 0.0  # atom i itself sits at p; only its lattice images count
        if self.pbc.any():
            frac = d @ self.inv
            frac[:, self.pbc] -= np.round(frac[:, self.pbc])
            d = frac @ self.cell
        dist2 = np.sum((d[None, :, :] + self.shifts[:, None, :]) ** 2, axis=-1)  # (S, N)
        dist2[self.zero, i] = np.inf
        return int(np.count_nonzero(dist2 < self.limit2[i][None, :]))


def _rattle_one(atoms, ref, stdev, min_distance, rng, max_tries, images) -> np.ndarray:
    probe = atoms.copy()
    probe.calc = None
    amp = stdev
    for shrink in range(_MAX_SHRINKS + 1):
        pos = ref + rng.normal(0.0, amp, size=ref.shape)
        for _ in range(max_tries):
            probe.positions = pos
            bad = close_atoms(probe, min_distance)
            if not bad.size:
                return pos
            for i in rng.permutation(bad):
                current = images.conflicts(pos, i, pos[i])
                for _ in range(_PER_ATOM_DRAWS):
                    if current == 0:
                        break  # freed by an earlier move in this round
                    trial = ref[i] + rng.normal(0.0, amp, size=3)
                    n_trial = images.conflicts(pos, i, trial)
                    if n_trial <= current:  # "<=" lets two blocking atoms swap out of a deadlock
                        pos[i], current = trial, n_trial
        if shrink < _MAX_SHRINKS:
            log.warning(
                "rattle: atoms still closer than %s after %d rounds of redraws at stdev %.4f Å; "
                "halving the amplitude",
                _limit_text(min_distance, atoms), max_tries, amp,
            )
            amp *= _SHRINK
    raise StructureError(
        f"rattle: cannot keep all atoms of {atoms.get_chemical_formula()} at least "
        f"{_limit_text(min_distance, atoms)} apart (the input's shortest distance is "
        f"{min_interatomic_distance(atoms):.3f} Å); lower candidates.min_distance or check the structure"
    )


# --------------------------------------------------------------------------------------------
# MD burst
# --------------------------------------------------------------------------------------------
def md_burst(
    atoms: Atoms,
    calculator,
    n: int,
    temperature: float,
    steps: int,
    min_distance: "float | PairLimits",
    rng: np.random.Generator,
    timestep_fs: float = 2.0,
    friction_per_fs: float = 0.02,
    max_bad_in_a_row: int = 3,
) -> list[Atoms]:
    """``n`` snapshots of hot Langevin MD (one every ``steps`` steps) started from ``atoms``.

    Velocities and Langevin noise both come from ``rng``, so a seed fixes the trajectory (for a
    deterministic calculator). Snapshots closer than ``min_distance`` are dropped and the run goes on;
    after ``max_bad_in_a_row`` such snapshots the run is restarted from ``atoms`` with fresh velocities,
    because a young potential that lets atoms collapse will not recover. At most ``4 n + 10`` segments
    are run; on exhaustion fewer snapshots are returned (logged). Snapshots are wrapped into the cell
    and carry no calculator or momenta. The centre of mass is not fixed (``fixcm=False``, ASE >= 3.28
    deprecates the approximate ``fixcm=True``); its drift over a short burst is a rigid translation,
    irrelevant for candidates.
    """
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary

    if n <= 0:
        return []

    def start():
        work = strip_results(atoms)
        work.calc = calculator
        # Maxwell-Boltzmann momenta drawn here (not with ASE's helper, renamed in 3.29) so the
        # stream of random numbers is the same on every supported ASE version.
        masses = work.get_masses()[:, None]
        work.set_momenta(rng.standard_normal((len(work), 3)) * np.sqrt(masses * units.kB * temperature))
        Stationary(work)
        dyn = Langevin(
            work,
            timestep=timestep_fs * units.fs,
            temperature_K=temperature,
            friction=friction_per_fs / units.fs,
            fixcm=False,
            rng=rng,
        )
        return work, dyn

    work, dyn = start()
    out: list[Atoms] = []
    bad_in_a_row = restarts = 0
    max_segments = 4 * n + 10
    for _ in range(max_segments):
        dyn.run(steps)
        snap = strip_results(work)
        if np.any(snap.pbc):
            snap.wrap()
        if np.all(np.isfinite(snap.positions)) and not close_atoms(snap, min_distance).size:
            out.append(snap)
            bad_in_a_row = 0
            if len(out) == n:
                break
            continue
        bad_in_a_row += 1
        if bad_in_a_row >= max_bad_in_a_row or not np.all(np.isfinite(snap.positions)):
            restarts += 1
            bad_in_a_row = 0
            work, dyn = start()
    if restarts:
        log.warning(
            "md_burst: restarted %d collapsed run(s) (atoms closer than %s)", restarts,
            _limit_text(min_distance, atoms),
        )
    if len(out) < n:
        log.warning(
            "md_burst: only %d of %d snapshots kept atoms at least %s apart within %d segments",
            len(out), n, _limit_text(min_distance, atoms), max_segments,
        )
    return out


# --------------------------------------------------------------------------------------------
# Hessian and normal modes
# --------------------------------------------------------------------------------------------
def hessian(atoms: Atoms, calculator, delta: float = 0.01, symmetrize: bool = True) -> np.ndarray:
    """Cartesian Hessian (3N, 3N) in eV/Å² from central finite differences of the forces.

    Costs 6N force calls. Each column is -(F(x + δ e_j) - F(x - δ e_j)) / 2δ, with O(δ²) truncation
    error. The exact Hessian is symmetric (second derivatives commute), but these columns are
    independent numerical estimates, so H differs from H.T by truncation and round-off noise. That
    noise is removed by (H + H.T)/2, which is the closest symmetric matrix and lets ``eigh`` return
    real eigenvalues with orthonormal eigenvectors (the normal modes). ``symmetrize=False`` returns the
    raw estimate, e.g. to check that the asymmetry is small (a large one means ``delta`` is wrong or the
    forces are not the gradient of an energy).
    """
    work = strip_results(atoms)
    work.calc = calculator
    ref = work.positions.copy()
    n3 = 3 * len(work)
    h = np.empty((n3, n3))
    for a in range(len(work)):
        for i in range(3):
            pos = ref.copy()
            pos[a, i] += delta
            work.positions = pos
            f_plus = work.get_forces().ravel()
            pos[a, i] -= 2 * delta
            work.positions = pos
            f_minus = work.get_forces().ravel()
            h[:, 3 * a + i] = -(f_plus - f_minus) / (2 * delta)
    work.calc = None
    if symmetrize:
        h = 0.5 * (h + h.T)
    return h


def external_modes(atoms: Atoms) -> np.ndarray:
    """Orthonormal basis (3N, K) of rigid-body motions in mass-weighted coordinates.

    Rigid motions cost no energy, so their Hessian eigenvalues are zero up to noise and equipartition
    would give them unbounded amplitudes. Translations (K=3) are always rigid. Rotations about the
    centre of mass are rigid for a cluster or molecule (K=6, or 5 for a linear molecule, found by the
    rank of the basis) and, for a wire (one periodic axis), the rotation about that axis (K=4); a
    slab or bulk cell has no rigid rotation (it would turn the lattice).
    """
    masses = atoms.get_masses()
    sqrt_m = np.sqrt(masses)
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    vecs = []
    for axis in np.eye(3):
        vecs.append((sqrt_m[:, None] * axis[None, :]).ravel())
    if n > 1 and pbc.sum() <= 1:
        r = atoms.positions - atoms.get_center_of_mass()
        if pbc.any():  # a wire: only the rotation about its periodic lattice vector
            along = atoms.cell[int(np.flatnonzero(pbc)[0])]
            axes = [along / np.linalg.norm(along)]
        else:
            axes = list(np.eye(3))
        for axis in axes:
            vecs.append((sqrt_m[:, None] * np.cross(axis, r)).ravel())
    basis = np.array(vecs).T  # (3N, 3 or 6)
    u, s, _ = np.linalg.svd(basis, full_matrices=False)
    rank = int(np.sum(s > 1e-8 * s.max()))
    return u[:, :rank]


def normal_modes(
    hess: np.ndarray, masses: np.ndarray, external: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Signed angular frequencies (K,) and orthonormal mass-weighted modes (3N, K), ascending.

    Frequencies are in ASE units, sqrt(eV / (Å² amu)) (1 unit ≈ 521.5 cm⁻¹); an imaginary frequency
    (negative curvature) is returned as a negative number. Modes are eigenvectors of the
    mass-weighted Hessian M^-1/2 H M^-1/2, so a displacement q along mode k in mass-weighted
    coordinates is Δx = M^-1/2 q e_k in Å.

    If ``external`` (3N, R) is given (see ``external_modes``), those rigid motions are projected out
    and their R modes dropped (K = 3N - R); otherwise all 3N modes are returned (K = 3N).
    """
    masses = np.asarray(masses, dtype=float)
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
    dyn = inv_sqrt_m[:, None] * hess * inv_sqrt_m[None, :]
    dyn = 0.5 * (dyn + dyn.T)
    if external is not None and external.size:
        proj = np.eye(dyn.shape[0]) - external @ external.T
        dyn = proj @ dyn @ proj
    eig, vecs = np.linalg.eigh(dyn)
    if external is not None and external.size:
        # The projected matrix has exactly zero eigenvalues along the rigid motions; those
        # eigenvectors lie in the external subspace, so drop the R modes with the largest overlap.
        overlap = np.linalg.norm(external.T @ vecs, axis=0)
        drop = np.argsort(overlap)[::-1][: external.shape[1]]
        keep = np.setdiff1d(np.arange(eig.size), drop)
        eig, vecs = eig[keep], vecs[:, keep]
    freqs = np.sign(eig) * np.sqrt(np.abs(eig))
    return freqs, vecs


def frequencies_to_invcm(freqs: np.ndarray) -> np.ndarray:
    """Convert ASE-unit angular frequencies (from ``normal_modes``) to wavenumbers in cm⁻¹."""
    hbar_omega_ev = units._hbar * 1e10 / np.sqrt(units._e * units._amu) * np.asarray(freqs)
    return hbar_omega_ev / units.invcm


def invcm_to_frequency(wavenumber: float) -> float:
    """Inverse of ``frequencies_to_invcm`` for one value."""
    return float(wavenumber / frequencies_to_invcm(np.array([1.0]))[0])


def displace_along_modes(masses: np.ndarray, modes: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Cartesian displacement (N, 3) in Å for mass-weighted mode amplitudes ``coefficients`` (K,).

    ``modes`` is (3N, K) from ``normal_modes``; amplitudes are in Å·sqrt(amu), so the mass-weighted
    displacement sqrt(m) Δx has norm |coefficients| (modes are orthonormal).
    """
    masses = np.asarray(masses, dtype=float)
    q = modes @ np.asarray(coefficients, dtype=float)
    return (q / np.repeat(np.sqrt(masses), 3)).reshape(-1, 3)


def harmonic_amplitudes(
    freqs: np.ndarray, temperature: float, min_frequency: float
) -> np.ndarray:
    """Classical thermal rms amplitude per mode, sqrt(kB T) / ω, in Å·sqrt(amu).

    Equipartition gives <q²> ω² = kB T for each harmonic mode. Soft or imaginary modes (the halt
    structure is usually not a minimum) would get huge or undefined amplitudes, so soft real modes
    have ω clipped from below at ``min_frequency`` (same units) and every imaginary mode, however
    large |ω|, is treated as ω = ``min_frequency``: they all get the largest, but bounded, amplitude,
    which is what we want - those are the directions the potential knows least. (A strongly
    imaginary mode is not stiff: its |ω| measures how fast energy drops along it.)
    """
    freqs = np.asarray(freqs, dtype=float)
    omega = np.where(freqs < 0, min_frequency, np.maximum(freqs, min_frequency))
    return np.sqrt(units.kB * temperature) / omega


def normal_mode_displacements(
    atoms: Atoms,
    calculator,
    n: int,
    temperature: float,
    min_distance: "float | PairLimits",
    rng: np.random.Generator,
    min_frequency_cm: float = 50.0,
    delta: float = 0.01,
    max_tries: int = 200,
    hess: np.ndarray | None = None,
) -> list[Atoms]:
    """``n`` structures displaced along random combinations of normal modes (normal-mode sampling).

    Each sample has coefficients c_k = a_k ξ_k with ξ_k ~ N(0, 1) and a_k from
    ``harmonic_amplitudes`` (|ω| clipped at ``min_frequency_cm``, default 50 cm⁻¹, a bit below the
    softest acoustic phonons of typical metals in small cells). Rigid translations (and rotations of
    non-periodic structures) are excluded. A sample with atoms closer than ``min_distance`` is redrawn;
    after ``max_tries`` failures all amplitudes are halved (logged), and after repeated halving a
    ``StructureError`` is raised. ``hess`` skips the 6N force calls when a Hessian is already known.
    """
    if n <= 0:
        return []
    if hess is None:
        hess = hessian(atoms, calculator, delta=delta)
    masses = atoms.get_masses()
    freqs, modes = normal_modes(hess, masses, external_modes(atoms))
    if freqs.size == 0:
        raise StructureError(
            f"normal_modes: {atoms.get_chemical_formula()} has no internal vibrational modes"
        )
    n_soft = int(np.sum(freqs < 0))
    if n_soft:
        log.info("normal_modes: %d imaginary mode(s); the structure is not a minimum (clipped)", n_soft)
    amps = harmonic_amplitudes(freqs, temperature, invcm_to_frequency(min_frequency_cm))
    ref = atoms.positions.copy()
    probe = strip_results(atoms)
    out: list[Atoms] = []
    seen = {_key(ref)}
    scale = 1.0
    shrinks = tries = 0
    while len(out) < n:
        coeffs = scale * amps * rng.standard_normal(amps.size)
        pos = ref + displace_along_modes(masses, modes, coeffs)
        probe.positions = pos
        if close_atoms(probe, min_distance).size or _key(pos) in seen:
            tries += 1
            if tries >= max_tries:
                if shrinks >= _MAX_SHRINKS:
                    raise StructureError(
                        f"normal_modes: cannot keep all atoms of {atoms.get_chemical_formula()} at "
                        f"least {_limit_text(min_distance, atoms)} apart (the input's shortest distance is "
                        f"{min_interatomic_distance(atoms):.3f} Å); lower candidates.min_distance or "
                        "candidates.normal_mode_temperature"
                    )
                shrinks += 1
                scale *= _SHRINK
                tries = 0
                log.warning(
                    "normal_modes: %d samples in a row had atoms closer than %s; amplitudes "
                    "scaled by %.3g", max_tries, _limit_text(min_distance, atoms), scale,
                )
            continue
        tries = 0
        seen.add(_key(pos))
        out.append(_with_positions(atoms, pos))
    return out


# --------------------------------------------------------------------------------------------
# Cell strain
# --------------------------------------------------------------------------------------------
def strain_matrix(fraction: float, pbc, rng: np.random.Generator) -> np.ndarray:
    """dpdata's cell perturbation: 1 + U(-f, f) on the diagonal, U(-f, f) / 2 off it, symmetric;
    components touching a non-periodic axis stay 0 (a slab's vacuum and a wire's cross-section keep
    their size)."""
    e = rng.uniform(-fraction, fraction, 6)
    eps = np.array([[e[0], 0.5 * e[5], 0.5 * e[4]],
                    [0.5 * e[5], e[1], 0.5 * e[3]],
                    [0.5 * e[4], 0.5 * e[3], e[2]]])
    periodic = np.asarray(pbc, dtype=bool)
    eps[~periodic, :] = 0.0
    eps[:, ~periodic] = 0.0
    return np.eye(3) + eps


def cell_strain(
    atoms: Atoms, n: int, fraction: float, min_distance: "float | PairLimits", rng: np.random.Generator,
    max_tries: int = 100,
) -> list[Atoms]:
    """``n`` copies of ``atoms`` in deformed cells, atoms moved with the cell (fractional coordinates
    kept). A draw that brings atoms closer than ``min_distance`` is redrawn; after ``max_tries``
    rejections in a row a ``StructureError`` says so. Raises on a structure without periodic axes."""
    if is_cluster(atoms):
        raise StructureError("cell_strain: the structure has no periodic axis, so no cell to strain")
    out: list[Atoms] = []
    rejected = 0
    while len(out) < n:
        deformed = atoms.copy()
        deformed.calc = None
        deformed.set_cell(atoms.cell.array @ strain_matrix(fraction, atoms.pbc, rng), scale_atoms=True)
        if close_atoms(deformed, min_distance).size:
            rejected += 1
            if rejected >= max_tries:
                raise StructureError(f"cell_strain: {max_tries} deformed cells in a row put atoms closer than "
                                     f"{_limit_text(min_distance, atoms)}; lower candidates.cell_strain_fraction")
            continue
        rejected = 0
        out.append(deformed)
    return out


# --------------------------------------------------------------------------------------------
# The swarm
# --------------------------------------------------------------------------------------------
def split_counts(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` by ``weights`` with largest-remainder rounding (sums exactly to ``total``).

    Ties in the remainder go to the earlier key, so the split is deterministic. Zero weights get 0.
    """
    names = [k for k, w in weights.items() if w > 0]
    if not names:
        raise ValueError("at least one weight must be positive")
    w = np.array([weights[k] for k in names], dtype=float)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(int)
    remainder = total - int(counts.sum())
    order = sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:remainder]:
        counts[i] += 1
    result = {k: 0 for k in weights}
    result.update({k: int(c) for k, c in zip(names, counts)})
    return result


def generate_swarm(
    atoms: Atoms, calculator, cfg: "CandidatesConfig", rng: np.random.Generator, timestep_fs: float = 2.0
) -> list[Atoms]:
    """Exactly ``cfg.n_candidates`` candidates around ``atoms``, mixed as ``cfg.mix`` says.

    Each candidate is a bare structure (no calculator, results or stale info) labelled
    ``info['generator']``. Without a calculator only rattling is possible, so it gets the whole
    budget. A shortfall of ``md_burst`` or ``normal_modes`` (collapsing runs, unsatisfiable
    min_distance) is topped up by rattling, so the count is always exact. ``timestep_fs``: the MD
    bursts' step, the system's (``OTFConfig.md_timestep_fs``: 0.5 fs with H); ``burst_steps`` stay steps.
    """
    weights = {name: float(getattr(cfg.mix, name)) for name in GENERATORS}
    if calculator is None:
        if weights["md_burst"] > 0 or weights["normal_modes"] > 0:
            log.info("generate_swarm: no calculator, so the MD-burst and normal-mode candidates are rattled")
        weights["rattle"] += weights["md_burst"] + weights["normal_modes"]
        weights["md_burst"] = weights["normal_modes"] = 0.0
    if is_cluster(atoms):
        weights["rattle"] += weights["cell_strain"]  # no cell to strain
        weights["cell_strain"] = 0.0
    counts = split_counts(cfg.n_candidates, weights)
    limits = candidate_limits(cfg)
    if close_atoms(atoms, limits).size:
        log.warning(
            "generate_swarm: the halt structure has atoms closer than %s (shortest distance %.3f Å)",
            _limit_text(limits, atoms), min_interatomic_distance(atoms),
        )

    made: dict[str, list[Atoms]] = {}
    if counts["md_burst"]:
        made["md_burst"] = _guarded(
            "md_burst",
            lambda: md_burst(
                atoms, calculator, counts["md_burst"], cfg.burst_temperature, cfg.burst_steps,
                limits, rng, timestep_fs=timestep_fs,
            ),
        )
    if counts["normal_modes"]:
        made["normal_modes"] = _guarded(
            "normal_modes",
            lambda: normal_mode_displacements(
                atoms, calculator, counts["normal_modes"], cfg.normal_mode_temperature,
                limits, rng,
            ),
        )
    if counts["cell_strain"]:
        made["cell_strain"] = _guarded(
            "cell_strain",
            lambda: cell_strain(atoms, counts["cell_strain"], cfg.cell_strain_fraction, limits, rng),
        )
    shortfall = sum(counts[k] - len(v) for k, v in made.items())
    if shortfall:
        log.warning("generate_swarm: topping up %d missing candidate(s) with rattled ones", shortfall)
    made["rattle"] = rattle(atoms, counts["rattle"] + shortfall, cfg.rattle_stdev, limits, rng)

    swarm = []
    for name in GENERATORS:
        for cand in made.get(name, []):
            bare = strip_results(cand)
            bare.info["generator"] = name
            swarm.append(bare)
    return swarm


def candidate_limits(cfg: "CandidatesConfig") -> PairLimits:
    """The per-pair minimum distances of ``cfg`` (see ``core.min_distance``)."""
    return PairLimits.from_setting(cfg.min_distance, getattr(cfg, "min_distance_fraction", DEFAULT_FRACTION))


def _guarded(name: str, make) -> list[Atoms]:
    try:
        return make()
    except StructureError as exc:
        log.warning("generate_swarm: %s failed (%s); its share is rattled instead", name, exc)
        return []
