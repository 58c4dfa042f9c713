"""Defaults that depend on the system, derived from it (elements, exploration temperatures, oracle)
instead of tuned on one system. Each function returns the value and the reason, which the initial
step logs (`log_lines`), so a user sees why a setting has the value it has.

* Rattle amplitude of the initial data: the thermal displacement the exploration will produce. The
  Debye model's mean-square displacement per Cartesian component at high temperature is
  <u_x^2> = 3 k_B T / (m w_D^2), w_D = k_B Theta_D / hbar, taken at the lowest exploration
  temperature and rounded to one significant digit (the estimate is no better): Cu at 600 K gives
  0.108 -> 0.1 Å, the value the Cu benchmarks chose (README "Initial rattle": 0.1 beat 0.05); at
  most 0.1 Å (the model says nothing about molecules and light atoms: H at 300 K would get 1 Å).
* Spot-check force tolerance: "accurate" relative to the forces the system has. The thermal force
  scale per component is F_rms = sqrt(k_B T <m w^2>) with the Debye average <w^2> = 3/5 w_D^2; the
  tolerance is 0.5 % of it at the lowest exploration temperature (Cu at 600 K: 0.64 eV/Å -> 3 meV/Å,
  the benchmarked Cu value), rounded to one significant digit, capped at 50 meV/Å. A portfolio (bulk,
  liquid, defects, slabs, a cluster) gets 1 % for the whole set (Cu: 5 meV/Å) and 2.4x that for each
  kind's spot frames (Cu: 12 meV/Å): surfaces and clusters have errors 2-2.5x the set's (the Cu
  portfolio's development run, benchmarks/RESULTS.md), and the issue's Cu targets are these numbers.
* Label jobs: an in-process oracle that costs milliseconds (emt, mock) labels 10 structures per job
  (job start-up dominates); every other oracle one per job.
* Wide training cell (a cell wider than 2 x cutoff, for environments free of their own images): on
  for an in-process oracle (emt, mock, chgnet), off for a DFT code, whose ~100-atom label would cost
  as much as tens of the configured cells' labels.
* The starting crystals' lattice constant (`initial_data.oracle_lattice`): the oracle's own equilibrium
  (sampling/oracle_lattice.py) for a DFT code or a universal potential, where a crystal would take ASE's
  experimental value (PBE is typically 1-2 % above experiment, and NVT keeps the starting cell). Off for emt
  and mock: the EMT benchmarks and tests were measured at ASE's values; with it the default Cu run's held-out
  energy moved 0.050 -> 0.053 meV/atom (test_real_loop's bound), and EMT's Al (1.4 % below ASE's a, its NVT
  labels all at 16.6 Å^3/atom against EMT's 15.93) gained nothing measurable (seed 4, development draw: held-out
  F 8.6 / 11.7 / 11.6 meV/Å, B -10.9 %, C_ij 12-13 % soft, 11/15 properties as at ASE's a).
* Properties stage: on, unless the oracle or the trainer is a mock (nothing physical to compare). A
  target read from a file (its first frame, `PropertyTarget`) is classified by its periodic axes like the
  properties stage does (properties/system.py): a slab (2) or a cluster/molecule (0) of at most
  PROPERTY_MAX_ATOMS = 200 atoms gets its own groups (relaxation; surface energy; vibrations). The
  dearest of them is a cluster's Hessian, 6N single points of the relaxed N-atom cluster on each side:
  1200 at 200 atoms, seconds to minutes with an in-process oracle; 200 holds the magic-number clusters
  the project uses (Cu55, Cu147). With a DFT oracle a cluster's Hessian would cost 6N DFT calculations
  of the whole cluster, so only a molecule-sized one (MOLECULE_MAX_ATOMS, <= 120 calculations, about
  what the loop labels for a molecule) gets them. A 3D-periodic file cell of at most
  PROPERTY_BULK_MAX_ATOMS = 8 atoms gets the bulk groups: its phonon and MD cells are 27 x the file's
  cell and its vacancy cell 8 x, so 8 atoms give the 216-atom cells a bulk spec's 8-atom diamond cell
  gets. A wire (1 axis) has no group; a slab of several elements needs `properties.surface_bulk` for
  its surface energy (or `surface` left out of properties.include): off, with the reason.
* Surface slabs in the initial data: on when the properties stage computes the (111)/(100)/(110) surface
  energies of an fcc crystal and no starting structure has a surface of its own. A bulk-only minimal
  config never shows the potential a surface, yet its surface energies are reported: the matrix of
  minimal configs (benchmarks/RESULTS.md, seeds 1-3) had Cu's 16-77 % off on every seed, Ni's 30-139 %,
  Pt's and Pd's on some seeds. Three rattled copies of each 2x2 slab of the properties stage.
* Deformed cells in the initial data (`initial_data.cell_strain_copies`): 16 copies of the property crystal's
  starting cell in randomly deformed cells (every strain component up to 2 %), rattled, when the properties
  stage computes its elastic constants and no condition explores that crystal at constant pressure (NPT
  changes the cell's shape itself); with them a linear ACE's final fit weighs the stress rows 10 (not
  0.01) and allows rungs by fitted rows (2 per function, as a molecule), where those are not set (the
  loop's fits keep the defaults: with the rows rule examples/si_gpaw's first fits took 300 functions on
  26-41 labels and halted every exploration at its first gamma check). The initial strains are isotropic
  and NVT exploration keeps the cell, so no label shows a sheared or tetragonal cell: Si with GPAW (matrix si, 33-37 labels) had B within 5 % but C11,
  C12, C44 20-38 % off on every seed. Refits of those labels (benchmarks/si_elastic_training.py, a
  development draw, benchmarks/RESULTS.md "Si elastic constants"): the deformed cells alone moved little
  (100-function rung, stress weight 0.01: 34-36 % off), stress weight 1-10 alone nothing, both on the
  100-function rung 6-16 % off at held-out forces up to 2x worse; with the rows rule (200-300 functions)
  8 cells and weight 1 were 5-14 % off over the three runs, 16 cells and weight 10 3-4 %.
  Also for a universal potential (chgnet: labels few structures, like DFT). Off for emt and mock: the EMT
  matrix metals are within 1 % on C_ij without them; EMT Al is 10-18 % soft, and refitted with 16 such
  cells at stress weight 10 5-10 %, but in its run the stress-weighted final fit was 1.9 meV/Å worse on
  the fresh spot checks (16.8 against the loop's 14.9) and was not shipped (benchmarks/RESULTS.md).
* A small molecule or cluster (every starting structure a non-periodic file of at most 20 atoms):
  `trainer.molecule` sizes the basis to its data. Its rarest element has one environment per label
  (CH4's carbon), so the ladder's bulk rungs (100-300 functions per element, 2 environments each)
  are all refused for the first ~150 labels and the fall-back interpolates 13 labels with 200
  functions (held-out F 361 eV/Å on the first fit). Instead: rungs of 25, 50, 100, 200 functions
  per element allowed by the fitted rows (15 force components + 1 energy per CH4 label, 2 per
  function), enough rattled copies for the largest rung, and a cutoff of the molecule's longest
  distance + 1 Å (at least 3, at most 5 Å): a 5 Å radial basis spends its functions on distances a
  molecule never has. Development draw (EMT CH4, MD frames at 300/600 K, seeds 11/12 for training,
  101/102 held out): 99 labels, 200 functions per element, held-out F 6.5 meV/Å at 3 Å, 10.0 at 4,
  20.8 at 5; 100 functions 25.7 / 14.4 / 39.3; 50 functions 25.6 / 50.6 / 65.2. No ZBL core: its
  inner radius from the shortest labelled distance put CH4's H-H core at 1.35 Å, inside its thermal
  range (the first fit's held-out F 952 eV/Å with it, 0.77 without). A force cap (`molecule_force_cap`)
  keeps the swarm's H-H collisions out of the least squares. The spot-check tolerance of a molecule
  is 3 % of the thermal force scale (not 0.5 %): EMT CH4 with 300 labels floors at 7 meV/Å = 1 % of
  its 0.64 eV/Å force scale, and a 5-atom spot frame has 15 components; its energy tolerance is in
  the Cu proportion (`molecule_energy_tolerance`).
  Patience 15 (bulk 5): a molecule's progress (the share of the MD budget before the first halt) is
  one noisy draw per condition; with seed 1 it went 0.28, 0.13, 0.015, 0.01, 0.10, 0.025 while the
  potential was still learning, and patience 5 stopped the CH4 run there.

* MD time step (`dynamics.timestep_fs`, and every MD of the user's system: held-out oracle MD, MD
  bursts of the swarm, the MD stability run): at equal bond stiffness a vibration's period grows as
  sqrt(m), so the step is 0.5 fs x sqrt(m / amu) of the lightest element, two significant digits, at
  most 2 fs (the step every metal benchmark ran: Cu, Al, Ni, Pt, Pd). H gets 0.5 fs: EMT's C-H stretch
  has a 13.5 fs period (27 steps). EMT CH4, NVE from 600 K, 1000 steps, 3 seeds: total energy spread
  0.043 eV at 2 fs (almost k_B T, 0.052 eV), 0.006 at 1 fs, 0.0016 at 0.5 fs (300 K: 0.017 / 0.0035 /
  0.0007). Every element from O (16 amu) up keeps 2 fs; C gets 1.7, Li 1.3. Mass only:
  a stiff light solid (diamond's optical period is 25 fs, 15 steps of 1.7 fs) may want less.
* Exploration budget (`initial_exploration_steps`): 2 ps of MD per condition, the benchmarked 1000
  steps of 2 fs, at the derived step (H: 4000 steps of 0.5 fs). In steps alone, a CH4 run at 0.5 fs
  explored a quarter of the time per iteration, ran through its budget without a halt from iteration
  8 on and then only learnt from failed spot checks: held-out F 23.5 meV/Å against 7.9 at 2 fs
  (loop seed 42, 160 labels each; benchmarks/molecule_heldout.py); with 2 ps, 11.6 (152 labels). The
  swarm's `burst_steps` and the MD stability run's `md_steps` stay steps: bursts of 80 steps (40 fs,
  as at 2 fs) gave 19.4 meV/Å with 124 labels on the same seed, no better.
* Held-out MD temperatures (`validation.temperatures`): those the exploration runs at, at most three
  (the lowest, the highest and the one nearest their middle): a held-out set at other temperatures
  scores the potential where the loop never looked (the old fixed 300/900 K had EMT's CH4 falling
  apart at 900 K while the loop explored 300-600 K).

Debye temperatures: Kittel, Introduction to Solid State Physics, table 5.1 (low-temperature values);
an element missing there uses 300 K, said in the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

KB = 8.617333262e-5  # eV/K
HBAR = 6.582119569e-16  # eV s
AMU_EV = 1.0364269e-28  # 1 amu in eV s^2/Å^2 (m w^2 in eV/Å^2 with w in 1/s)

DEBYE_TEMPERATURE = {  # K
    "Li": 344, "Be": 1440, "C": 2230, "Na": 158, "Mg": 400, "Al": 428, "Si": 645, "K": 91,
    "Ca": 230, "Sc": 360, "Ti": 420, "V": 380, "Cr": 630, "Mn": 410, "Fe": 470, "Co": 445, "Ni": 450,
    "Cu": 343, "Zn": 327, "Ga": 320, "Ge": 374, "Rb": 56, "Sr": 147, "Y": 280, "Zr": 291, "Nb": 275,
    "Mo": 450, "Ru": 600, "Rh": 480, "Pd": 274, "Ag": 225, "Cd": 209, "In": 108, "Sn": 200, "Sb": 211,
    "Cs": 38, "Ba": 110, "La": 142, "Hf": 252, "Ta": 240, "W": 400, "Re": 430, "Os": 500, "Ir": 420,
    "Pt": 240, "Au": 165, "Pb": 105, "Bi": 119,
}
FALLBACK_DEBYE = 300.0  # K
RATTLE_CAP = 0.1  # Å: the Debye model is no description of molecules or light atoms (H at 300 K: 1 Å)
SPOT_CHECK_FRACTION = 0.005  # of the thermal force scale
PORTFOLIO_SPOT_CHECK_FRACTION = 0.01  # a portfolio's whole set (Cu: 5 meV/Å)
KIND_FACTOR = 2.4  # a portfolio's worst kind against the whole set (Cu: 12 meV/Å)
MOLECULE_SPOT_CHECK_FRACTION = 0.03  # a small molecule (module docstring)
SPOT_CHECK_CAP = 0.05  # eV/Å, the old fixed default: never looser than this
CHEAP_ORACLES = ("emt", "mock")  # in-process, milliseconds per structure
CHEAP_STRUCTURES_PER_JOB = 10
UNIVERSAL_ORACLES = ("chgnet",)  # in-process machine-learned potentials: a 100-atom label in ~0.1 s
MOLECULE_MAX_ATOMS = 20  # a starting structure this small and non-periodic is a molecule / small cluster
MOLECULE_CUTOFF_MARGIN = 1.0  # Å beyond the longest distance (thermal stretching, bending)
MOLECULE_CUTOFF_RANGE = (3.0, 5.0)  # Å
MOLECULE_FUNCTIONS = (25, 50, 100, 200)  # per element, the molecule's ladder
MOLECULE_ROWS_PER_FUNCTION = 2.0
MOLECULE_PATIENCE = 15  # iterations without progress: a molecule's halt step is a noisy draw (module docstring)
PROPERTY_MAX_ATOMS = 200  # a slab or cluster from a file whose properties are on by default (module docstring)
PROPERTY_BULK_MAX_ATOMS = 8  # a 3D-periodic file cell: its 27x phonon / MD cells stay at 216 atoms
TIMESTEP_CAP_FS = 2.0  # fs: the step of every metal benchmark; every element from O up keeps it
TIMESTEP_PER_SQRT_AMU = 0.5  # fs: H (1.008 amu) gets 0.5 fs (module docstring)
EXPLORATION_TIME_FS = 2000.0  # fs: the benchmarked budget, 1000 steps of 2 fs
VALIDATION_TEMPERATURES_MAX = 3  # the lowest, the highest and the one nearest their middle
CELL_STRAIN_COPIES = 16  # deformed copies of the property crystal (module docstring)
CELL_STRAIN_STRESS_WEIGHT = 10.0  # trainer.stress_weight with them (the default 0.01 ignores their stresses)
CELL_STRAIN_ROWS_PER_FUNCTION = 2.0  # trainer.ladder.rows_per_function with them (as a molecule's)


@dataclass(frozen=True)
class Derived:
    value: float | int | bool | list
    reason: str


def one_digit(x: float) -> float:
    """Round to one significant digit (0.108 -> 0.1, 0.0032 -> 0.003)."""
    if x <= 0:
        return x
    exponent = math.floor(math.log10(x))
    return round(round(x / 10 ** exponent) * 10 ** exponent, 12)


def _debye(element: str) -> tuple[float, bool]:
    theta = DEBYE_TEMPERATURE.get(element)
    return (float(theta), True) if theta else (FALLBACK_DEBYE, False)


def _stiffness(element: str) -> tuple[float, bool]:
    """m w_D^2 in eV/Å^2."""
    from ase.data import atomic_masses, atomic_numbers

    theta, known = _debye(element)
    omega = KB * theta / HBAR
    # an unknown symbol is the structure check's to report (one line naming the field); here it only
    # must not crash the derivation that runs before it
    mass = atomic_masses[atomic_numbers[element]] if element in atomic_numbers else atomic_masses[29]
    return mass * AMU_EV * omega ** 2, known and element in atomic_numbers


def thermal_force_scale(elements: Sequence[str], temperature: float) -> float:
    """sqrt(kT 3/5 m w_D^2) in eV/Å, averaged over the elements: the RMS force of a Debye crystal at
    `temperature`, the scale the spot-check tolerances and a molecule's force cap are fractions of."""
    scales = [math.sqrt(0.6 * KB * temperature * _stiffness(el)[0]) for el in elements]
    return sum(scales) / len(scales)


def _unknown_note(elements: Iterable[str]) -> str:
    missing = sorted(el for el in elements if el not in DEBYE_TEMPERATURE)
    return f"; no Debye temperature for {', '.join(missing)}: {FALLBACK_DEBYE:.0f} K assumed" if missing else ""


def thermal_rattle(elements: Sequence[str], temperatures: Sequence[float]) -> Derived:
    """initial_data.rattle_stdev (Å): the Debye RMS displacement per component at the lowest
    exploration temperature, averaged over the elements, to one significant digit."""
    t = min(temperatures)
    per = [math.sqrt(3 * KB * t / _stiffness(el)[0]) for el in elements]
    value = min(RATTLE_CAP, one_digit(sum(per) / len(per)))
    detail = ", ".join(f"{el} {u:.3f}" for el, u in zip(elements, per))
    return Derived(value, f"thermal RMS displacement per component at the lowest exploration temperature "
                          f"{t:.0f} K, Debye model sqrt(3 kT / (m w_D^2)): {detail} Å, cap {RATTLE_CAP} Å"
                          f"{_unknown_note(elements)}")


def spot_check_force_tolerance(elements: Sequence[str], temperatures: Sequence[float],
                               portfolio: bool = False, molecule: bool = False) -> Derived:
    """convergence.force_rmse (eV/Å): 0.5 % of the thermal force scale at the lowest exploration
    temperature (1 % for a portfolio, 3 % for a small molecule), to one significant digit, at most
    50 meV/Å."""
    t = min(temperatures)
    scale = thermal_force_scale(elements, t)
    fraction = (MOLECULE_SPOT_CHECK_FRACTION if molecule else PORTFOLIO_SPOT_CHECK_FRACTION if portfolio
                else SPOT_CHECK_FRACTION)
    why = (" (a portfolio: its slabs, cluster and liquid are harder than the crystal; whole-set tolerance)"
           if portfolio else "")
    if molecule:
        why = (" (a small molecule: a 5-atom spot frame has few force components, and a linear ACE fit of EMT CH4 "
               "floors at ~1 % of its force scale)")
    value = min(SPOT_CHECK_CAP, one_digit(fraction * scale))
    return Derived(value, f"{100 * fraction:.1f} % of the thermal force scale sqrt(kT 3/5 m w_D^2) = "
                          f"{scale:.2f} eV/Å at {t:.0f} K{why} (cap {SPOT_CHECK_CAP} eV/Å){_unknown_note(elements)}")


def kind_force_tolerance(force_rmse: float) -> Derived:
    """convergence.kind_force_rmse (eV/Å) of a portfolio: KIND_FACTOR x the whole-set tolerance."""
    value = round(KIND_FACTOR * force_rmse, 12)
    return Derived(value, f"{KIND_FACTOR:g} x convergence.force_rmse {force_rmse:g}: the worst kind may be that "
                          "much above the whole set (Cu portfolio: slabs and the cluster 2-2.5x the set's error)")


def wide_cell_enabled(oracle_kind: str) -> Derived:
    """initial_data.wide_cell: a cell wider than 2 x cutoff is worth its labels when they are cheap; with
    a DFT code its ~100 atoms would cost (100/N)^2-3 labels of the configured N-atom cells each."""
    if oracle_kind in CHEAP_ORACLES + UNIVERSAL_ORACLES:
        return Derived(True, f"oracle {oracle_kind} is in-process: a wide cell's labels cost little")
    return Derived(False, f"oracle {oracle_kind}: a cell wider than 2 x cutoff would be the run's dearest "
                          "label (DFT cost grows as N^2-N^3); set initial_data.wide_cell: true to add it")


def oracle_lattice(oracle_kind: str, n_reference_specs: int) -> Derived:
    """initial_data.oracle_lattice: the starting crystals at the oracle's equilibrium, not the experimental
    one (sampling/oracle_lattice.py: EMT Al 1.4 % below ASE's value, and its NVT labels then all at one
    strained volume)."""
    if not n_reference_specs:
        return Derived(False, "no starting crystal takes its lattice constant from ASE's reference data")
    if oracle_kind in CHEAP_ORACLES:
        return Derived(False, f"oracle {oracle_kind}: ASE's values, at which the EMT benchmarks were measured (EMT Al, "
                              "1.4 % below ASE's a, showed no gain with its own; set true to use the oracle's)")
    return Derived(True, f"{n_reference_specs} starting structure(s) take ASE's experimental lattice constant; "
                         f"{oracle_kind}'s own equilibrium (an equation of state of the primitive cell, 7 calculations "
                         "of 1-2 atoms) replaces it, so NVT exploration samples the oracle's volume")


def wide_exploration(has_wide_cell: bool, condition: str | None, vacancies: int = 0) -> Derived:
    """exploration.wide_cell: the loop's gamma-convergence should cover the cell size the MD-stability
    check and production MD use. Measured (2026-12-07): a Cu/EMT potential that converged exploring 32-atom
    cells reached max gamma 3.2-7.5 over 8 seeds of the 108-atom stability MD at 1200 K (4 of 8 above
    gamma_halt 5): in the small cell the rare environments of the large one are seldom drawn."""
    if not has_wide_cell:
        return Derived(False, "no wide cell is derived (initial_data.wide_cell): every condition runs in its own cell")
    if condition is None:
        return Derived(False, "no exploration condition starts from structures[0], the structure the wide cell repeats")
    if vacancies:
        return Derived(False, f"structures[0] has {vacancies} vacancies and the wide cell none: {condition} keeps "
                              "its own cell")
    return Derived(True, f"condition {condition} (the hottest on structures[0]) runs in the wide cell: the "
                         "MD-stability check and production MD use cells that large")


def structures_per_job(oracle_kind: str) -> Derived:
    if oracle_kind in CHEAP_ORACLES:
        return Derived(CHEAP_STRUCTURES_PER_JOB, f"oracle {oracle_kind} is in-process and costs milliseconds: "
                                                 "job start-up dominates")
    return Derived(1, f"oracle {oracle_kind}: one calculation per job (they run in parallel)")


@dataclass(frozen=True)
class PropertyTarget:
    """The first frame of a structure file that the properties are computed on, as the config read it."""

    periodic_axes: int  # 3 bulk, 2 slab, 1 wire, 0 cluster or molecule (the file's pbc)
    n_atoms: int
    elements: tuple[str, ...]  # sorted, distinct


def properties_enabled(oracle_kind: str, trainer_kind: str, target_kind: str = "bulk",
                       target: PropertyTarget | None = None, surface_reference: bool = False) -> Derived:
    """`target_kind`: the kind of the structure spec the properties are computed on
    (`properties.structure`). A crystal built from a spec (`bulk`, or a portfolio's bulk part) is a
    small cell with bulk properties; a `file` target is judged by `target`, its first frame (None: not
    readable here), see the module docstring. `surface_reference`: a slab's surface energy has its bulk
    reference whatever the slab holds (properties.surface_bulk set, or `surface` not included)."""
    if "mock" in (oracle_kind, trainer_kind):
        return Derived(False, "a mock oracle or trainer has no physical properties to compare")
    if target_kind == "file":
        return _file_properties(oracle_kind, target, surface_reference)
    if target_kind not in ("bulk", "portfolio"):
        return Derived(False, f"the property target (properties.structure) is a `{target_kind}` structure, not a "
                              "crystal spec; set properties.enabled: true to compute them on it anyway")
    return Derived(True, "the final potential's properties against the oracle (final/properties.json)")


def surface_slabs_enabled(computes_surfaces: bool, has_surface: bool) -> Derived:
    """initial_data.surface_slabs: `computes_surfaces` = the properties stage computes an fcc crystal's
    low-index surface energies; `has_surface` = some starting structure is (or may be: a file) a slab,
    or the portfolio has surfaces."""
    if not computes_surfaces:
        return Derived(False, "no surface energies of a crystal are computed (properties off, `surface` not "
                              "in properties.include, or the property target is no fcc crystal spec)")
    if has_surface:
        return Derived(False, "a starting structure is, or may be (a file), a slab: surfaces are in the data")
    return Derived(True, "the properties stage computes (111)/(100)/(110) surface energies and no starting "
                         "structure has a surface: rattled copies of those slabs join the initial data (bulk-only "
                         "sets left Cu's surface energies 16-77 % off, benchmarks/RESULTS.md); false: leave them out")


def cell_strain_copies(computes_elastic: bool, oracle_kind: str, npt_condition: str | None = None) -> Derived:
    """initial_data.cell_strain_copies: `computes_elastic` = the properties stage computes the elastic
    constants of a crystal spec (OTFConfig.computes_crystal_elastic); `npt_condition` = the name of an
    exploration condition that runs that structure at constant pressure (None: none does)."""
    if not computes_elastic:
        return Derived(0, "no elastic constants of a crystal spec are computed (properties off, `elastic` not in "
                          "properties.include, or the property target is no crystal spec)")
    if oracle_kind in CHEAP_ORACLES:
        return Derived(0, f"oracle {oracle_kind}: the EMT matrix metals' C_ij are within 1 % without deformed cells, "
                          "and for EMT Al, whose C_ij are 10-18 % soft, the stress-weighted final fit they bring was "
                          "1.9 meV/Å worse on fresh spot checks (16.8 against 14.9) and was not shipped "
                          "(benchmarks/RESULTS.md); set a number to add them")
    if npt_condition is not None:
        return Derived(0, f"exploration condition {npt_condition} runs the property crystal at constant pressure, so "
                          "its frames have cells of other shapes and volumes; set a number to add deformed cells anyway")
    return Derived(CELL_STRAIN_COPIES, "the properties stage computes elastic constants and no condition explores "
                   "that crystal under NPT: the isotropic initial strains and NVT exploration never show a sheared "
                   "or tetragonal cell (without them Si with GPAW: C11, C12, C44 20-38 % off GPAW; EMT Al: B and C_ij "
                   f"10-18 % soft); with them the final fit's stress weight {CELL_STRAIN_STRESS_WEIGHT:g} and "
                   f"rows_per_function {CELL_STRAIN_ROWS_PER_FUNCTION:g} (trainer.final_stress_weight, "
                   "trainer.ladder.final_rows_per_function; the loop's fits without a final fit; linear ACE, where "
                   "not set): their stresses are what they teach, and the 2-environments-per-function rule kept "
                   "those runs at 100 functions (benchmarks/si_elastic_training.py); 0: leave them out")


def _file_properties(oracle_kind: str, target: PropertyTarget | None, surface_reference: bool) -> Derived:
    anyway = "; set properties.enabled: true to compute them anyway"
    if target is None:
        return Derived(False, "the property target (properties.structure) is a file that could not be read here"
                              + anyway)
    n, axes = target.n_atoms, target.periodic_axes
    if axes == 3:
        if n > PROPERTY_BULK_MAX_ATOMS:
            return Derived(False, f"the property target is a 3D-periodic file cell of {n} atoms > "
                                  f"{PROPERTY_BULK_MAX_ATOMS}: its phonon and MD cells (27 x) would hold {27 * n} "
                                  "atoms (a slab written with pbc T T T is such a cell: give it pbc F along its "
                                  "vacuum for the slab's properties)" + anyway)
        return Derived(True, f"the property target is a 3D-periodic file cell of {n} atoms (<= "
                             f"{PROPERTY_BULK_MAX_ATOMS}: 27 x it for the phonons and the MD is at most 216 atoms): "
                             "the bulk groups against the oracle (final/properties.json)")
    if axes == 1:
        return Derived(False, "the property target is a wire (periodic along 1 axis): no property group applies "
                              "to it")
    what = "slab" if axes == 2 else "cluster or molecule"
    bound = PROPERTY_MAX_ATOMS
    if axes == 0 and oracle_kind not in CHEAP_ORACLES + UNIVERSAL_ORACLES:
        bound = MOLECULE_MAX_ATOMS  # a DFT Hessian: 6N calculations of the whole cluster
    if n > bound:
        why = (f"oracle {oracle_kind}: its vibrations would take 6 x {n} = {6 * n} calculations of the whole "
               f"cluster (bound {bound} atoms, {PROPERTY_MAX_ATOMS} with an in-process oracle)"
               if bound < PROPERTY_MAX_ATOMS else f"more than {bound} atoms (a cluster's Hessian: 6N single points)")
        return Derived(False, f"the property target is a {what} of {n} atoms: {why}" + anyway)
    if axes == 2 and not surface_reference and not _ase_reference_crystal(target.elements):
        return Derived(False, f"the property target is a slab of {', '.join(target.elements)}, for which ASE has no "
                              "reference crystal: its surface energy needs a bulk of its composition: set "
                              "properties.surface_bulk to its index in `structures` (or properties.include without "
                              "surface) and properties.enabled: true")
    groups = "relaxation, surface energy" if axes == 2 else "relaxation, vibrations"
    return Derived(True, f"the property target is a {what} of {n} atoms (<= {bound}): {groups} against the oracle "
                         "(final/properties.json)")


def _ase_reference_crystal(elements: Sequence[str]) -> bool:
    """A single element whose reference state ase.build.bulk builds (the slab's default surface reference,
    properties/system.py `surface_reference`)."""
    if len(elements) != 1:
        return False
    from ase.build import bulk

    try:
        bulk(elements[0])
    except (ValueError, KeyError, RuntimeError, NotImplementedError):
        return False
    return True


def validation_frames(oracle_kind: str, file: str | None, portfolio_only: bool = False) -> Derived:
    """`portfolio_only`: the structures are all a portfolio's, whose own per-kind held-out set
    (portfolio.validation_frames) is scored; generated frames would come from structures of the user's."""
    if portfolio_only and file is None:
        return Derived(0, "the portfolio's per-kind held-out set (portfolio.validation_frames) is the held-out "
                          "set: no structures of your own to generate frames of")
    if file is None and oracle_kind == "emt":
        return Derived(24, "oracle emt is instant: a held-out set of 24 oracle-MD frames scored after every fit")
    return Derived(0, "no generated held-out set (give validation.file for one)" if file is None
                   else "validation.file is the held-out set")


def small_molecule(geometry: tuple[int, float] | None) -> tuple[int, float] | None:
    """`geometry` ((most atoms, longest distance) of non-periodic starting structures, or None) when it
    is a small molecule or cluster (at most MOLECULE_MAX_ATOMS atoms), else None."""
    return geometry if geometry is not None and geometry[0] <= MOLECULE_MAX_ATOMS else None


def molecule_cutoff(longest_distance: float) -> float:
    """basis.cutoff of a molecule (Å): its longest interatomic distance + MOLECULE_CUTOFF_MARGIN, rounded
    up to 0.5 Å, within MOLECULE_CUTOFF_RANGE."""
    low, high = MOLECULE_CUTOFF_RANGE
    return min(high, max(low, math.ceil(2 * (longest_distance + MOLECULE_CUTOFF_MARGIN)) / 2))


def molecule_rungs() -> list[dict]:
    """The molecule's ladder rungs: MOLECULE_FUNCTIONS per element with the default rungs' radial and
    angular limits (body order 6)."""
    return [{"number_of_functions_per_element": n, "max_order": 5, "nradmax_by_orders": [15, 6, 4, 3, 2],
             "lmax_by_orders": [0, 4, 3, 2, 1]} for n in MOLECULE_FUNCTIONS]


def molecule_rattled_copies(n_atoms: int, holdout_share: float) -> int:
    """initial_data.n_rattled of a molecule: enough labels that the fitted share has
    MOLECULE_ROWS_PER_FUNCTION rows per function of the largest rung (3 n_atoms + 1 rows per label).
    CH4: 2 x 400 / (0.8 x 16) = 62.5 -> 63, at least the bulk default 8. A molecule's labels are cheap
    (5 atoms, also with DFT), and the first potential otherwise blows the molecule apart within 20
    MD steps, so the loop's first labels are fragments with forces of 50 eV/Å."""
    rows = MOLECULE_ROWS_PER_FUNCTION * 2 * max(MOLECULE_FUNCTIONS)  # two elements' worth of functions
    return max(8, math.ceil(rows / ((1 - holdout_share) * (3 * n_atoms + 1))))


MOLECULE_FORCE_CAP_FACTOR = 8.0  # x the thermal force scale


def molecule_force_cap(elements: Sequence[str], temperatures: Sequence[float]) -> float:
    """trainer.force_cap of a molecule (eV/Å): MOLECULE_FORCE_CAP_FACTOR x the thermal force scale at the
    lowest exploration temperature (the spot-check tolerance's scale), one significant digit. CH4 at
    300 K: 8 x 0.67 = 5.4 -> 5 eV/Å; its MD frames at 300-600 K have at most ~4 eV/Å. Without a cap the
    loop's swarm labelled H-H 0.5 Å pairs at 40-170 eV/Å, whose squared errors then set the fit (held-out
    share 3.7 eV/Å, validation 41 -> 390 meV/Å between iterations 4 and 8). Development draw (the CH4
    run's 136 labels refitted, EMT MD at 300/600 K, seeds 101/102): held-out F 17.5 meV/Å with a 10 eV/Å
    cap, 12.0 with 5, 36 with 3 (too few labels left)."""
    return one_digit(MOLECULE_FORCE_CAP_FACTOR * thermal_force_scale(elements, min(temperatures)))


ENERGY_PER_FORCE_TOLERANCE = 1 / 3  # Å: the benchmarked Cu pair, 1 meV/atom for 3 meV/Å


def molecule_energy_tolerance(force_rmse: float) -> float:
    """convergence.energy_rmse of a molecule (eV/atom): its force tolerance x the benchmarked Cu ratio
    (1 meV/atom : 3 meV/Å), one digit. CH4: 20 meV/Å -> 7 meV/atom. The bulk 1 meV/atom would hold a
    molecule whose forces pass at 11-20 meV/Å to 0.3 meV/Å-equivalent energies (seen: E 1.7-2.5 meV/atom
    failing every spot check of the CH4 run)."""
    return one_digit(force_rmse * ENERGY_PER_FORCE_TOLERANCE)


def molecule_sizing(geometry: tuple[int, float] | None) -> Derived:
    """trainer.molecule: on for a small molecule or cluster (`small_molecule`), with what it sets."""
    small = small_molecule(geometry)
    if small is None:
        why = ("a starting structure is periodic or built from a spec" if geometry is None else
               f"non-periodic, but {geometry[0]} atoms > {MOLECULE_MAX_ATOMS}: the bulk ladder has environments enough")
        return Derived(False, why)
    n, longest = small
    return Derived(True, f"every starting structure is non-periodic with at most {n} atoms (<= {MOLECULE_MAX_ATOMS}): "
                         f"basis.cutoff {molecule_cutoff(longest):g} Å (longest distance {longest:.2f} Å + "
                         f"{MOLECULE_CUTOFF_MARGIN:g}), ladder rungs {'/'.join(map(str, MOLECULE_FUNCTIONS))} functions "
                         f"per element allowed by {MOLECULE_ROWS_PER_FUNCTION:g} fitted rows (force components) per "
                         "function, no final rungs, no ZBL core (repulsion none: its inner radius, 0.9 x the shortest "
                         "labelled distance, would sit inside a non-bonded pair's thermal range); where trainer.basis / "
                         "trainer.ladder / trainer.repulsion are not set; initial_data.n_rattled "
                         f"{molecule_rattled_copies(n, 0.2)} (the largest rung's rows at a 20 % held-out share), "
                         "trainer.force_cap 8 x the thermal force scale, convergence.energy_rmse = force_rmse x "
                         f"{ENERGY_PER_FORCE_TOLERANCE:.2g} Å (the Cu ratio), patience {MOLECULE_PATIENCE} (its progress "
                         "is a noisy draw), if not set")


def two_digits(x: float) -> float:
    """Round to two significant digits (0.5019 -> 0.5, 1.7329 -> 1.7, 1.99994 -> 2.0)."""
    if x <= 0:
        return x
    exponent = math.floor(math.log10(x)) - 1
    return round(round(x / 10 ** exponent) * 10 ** exponent, 12)


def md_timestep(elements: Sequence[str]) -> Derived:
    """dynamics.timestep_fs (fs): TIMESTEP_PER_SQRT_AMU x sqrt(m / amu) of the lightest element, two
    significant digits, at most TIMESTEP_CAP_FS (module docstring)."""
    from ase.data import atomic_masses, atomic_numbers

    known = [el for el in elements if el in atomic_numbers]
    if not known:
        return Derived(TIMESTEP_CAP_FS, "elements of the structures unknown here: the metals' step")
    lightest = min(known, key=lambda el: atomic_masses[atomic_numbers[el]])
    mass = float(atomic_masses[atomic_numbers[lightest]])
    raw = TIMESTEP_PER_SQRT_AMU * math.sqrt(mass)
    value = min(TIMESTEP_CAP_FS, two_digits(raw))
    return Derived(value, f"lightest element {lightest} {mass:.3g} amu: {TIMESTEP_PER_SQRT_AMU:g} fs x sqrt(m / amu) = "
                          f"{raw:.2f} fs (a vibration's period grows as sqrt(m); H gets 0.5 fs, EMT's C-H stretch "
                          f"period is 13.5 fs), at most {TIMESTEP_CAP_FS:g} fs (the metals' step: every element from "
                          "O up); also the step of the held-out oracle MD, the swarm's MD bursts and the MD "
                          "stability run")


def exploration_budget(timestep_fs: float) -> Derived:
    """initial_exploration_steps: EXPLORATION_TIME_FS of MD at the time step (module docstring)."""
    value = max(1, round(EXPLORATION_TIME_FS / timestep_fs))
    return Derived(value, f"{EXPLORATION_TIME_FS / 1000:g} ps of MD per condition (the benchmarked 1000 steps of 2 fs) "
                          f"at the time step {timestep_fs:g} fs: a lighter system explores as long, in shorter steps")


def validation_temperatures(temperatures: Sequence[float]) -> Derived:
    """validation.temperatures (K): the exploration conditions' distinct temperatures, at most
    VALIDATION_TEMPERATURES_MAX: the lowest, the highest and the one nearest their middle (the lower
    one on a tie)."""
    distinct = sorted(set(float(t) for t in temperatures))
    if len(distinct) <= VALIDATION_TEMPERATURES_MAX:
        chosen = distinct
    else:
        low, high = distinct[0], distinct[-1]
        middle = min(distinct[1:-1], key=lambda t: (abs(t - (low + high) / 2), t))
        chosen = [low, middle, high]
    listed = ", ".join(f"{t:g}" for t in distinct)
    why = ("the exploration temperatures" if len(chosen) == len(distinct) else
           f"the lowest, the highest and the one nearest their middle of the exploration temperatures {listed} K")
    return Derived(chosen, f"{why}: the held-out oracle MD samples where the loop explores")


def log_lines(derived: dict[str, Derived]) -> list[str]:
    """One line per derived setting: 'DEFAULTS: <field> = <value> (<reason>)'."""
    return [f"DEFAULTS: {field} = {d.value} ({d.reason})" for field, d in derived.items()]
