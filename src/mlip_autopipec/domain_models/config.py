"""Typed configuration: the single source of truth for `config.yaml` and its JSON schema.

Every section with alternative implementations carries a `kind:` discriminator so that a typo in a
kind, or a key that belongs to another kind, is rejected with the list of allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from ..core.errors import ConfigError
from ._strict import Strict as _Strict
from .cutout_config import CutoutConfig
from .dynamics_config import AseMDConfig, DynamicsConfig, MockDynamicsConfig  # noqa: F401
from .oracle_config import EMTOracleConfig, MockOracleConfig, OracleConfig  # noqa: F401  (re-exported)
from .adaptive_gamma_config import AdaptiveGammaConfig
from .label_noise_config import LabelNoiseConfig
from .convergence_config import ConvergenceConfig
from .properties_config import PropertiesConfig
from .portfolio_config import REFERENCE_LATTICE_SOURCE, PortfolioConfig, PortfolioSpec, expand as expand_portfolio
from .two_level_config import TwoLevelConfig


# --------------------------------------------------------------------------------------------
# Starting structures
# --------------------------------------------------------------------------------------------
def takes_reference_lattice(spec) -> bool:
    """Whether `spec` builds a crystal of one element at ASE's reference lattice constant, which
    `initial_data.oracle_lattice` replaces by the oracle's (sampling/oracle_lattice.py)."""
    from ase.data import atomic_numbers

    if spec.kind == "bulk":
        return spec.a is None and spec.element in atomic_numbers and not any(f > 0 for f in spec.substitutions.values())
    return spec.kind == "portfolio" and REFERENCE_LATTICE_SOURCE in spec.a_source


class BulkSpec(_Strict):
    """A crystal built with `ase.build.bulk`, repeated to a supercell."""

    kind: Literal["bulk"] = "bulk"
    element: str = Field("Cu", description="Chemical symbol of the host element.")
    crystal: Literal["fcc", "bcc", "hcp", "diamond", "sc", "rocksalt", "zincblende"] = Field(
        "fcc", description="Lattice type passed to ase.build.bulk."
    )
    a: float | None = Field(None, gt=0, description="Lattice constant in Å (ASE's reference value if null).")
    cubic: bool = Field(True, description="Use the conventional cubic cell.")
    supercell: tuple[int, int, int] = Field((2, 2, 2), description="Repetitions of the cell.")
    substitutions: dict[str, float] = Field(
        default_factory=dict,
        description="Random substitutional alloying: element -> fraction of sites (e.g. {Ni: 0.5}).",
    )
    vacancies: int = Field(0, ge=0, description="Random sites removed (point defects to explore).")

    def composition_variants(self, fractions: list[float]) -> list[dict[str, float]]:
        """The other compositions of this lattice the initial data spans (see
        `InitialDataConfig.compositions`): for each substituent S and each fraction f, the host-S
        alloy with f of the sites S ({} is the pure host, {S: 1.0} pure S); the spec's own
        composition and duplicates left out. Empty without substitutions or for a compound host
        (NaCl: changing its composition is no alloy), because the per-element energies of a single
        element are determined by any structure."""
        subs = [el for el, f in self.substitutions.items() if f > 0]
        if not subs or not _is_symbol(self.element):
            return []
        own = {el: f for el, f in self.substitutions.items() if f > 0}
        out: list[dict[str, float]] = []
        for el in subs:
            for f in fractions:
                variant = {el: float(f)} if f > 0 else {}
                if variant in out or _same_composition(variant, own):
                    continue
                out.append(variant)
        return out


def _cell_widths(spec: "BulkSpec") -> list[float] | None:
    """Perpendicular widths (Å) of a bulk spec's supercell, or None if ASE cannot build it."""
    import numpy as np
    from ase.build import bulk

    try:
        cell = np.asarray(bulk(spec.element, spec.crystal, a=spec.a, cubic=spec.cubic).cell) * np.asarray(
            spec.supercell)[:, None]
    except Exception:  # noqa: BLE001 - build_structures reports the spec's own error
        return None
    volume = abs(np.linalg.det(cell))
    return [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]


def _is_symbol(text: str) -> bool:
    """One chemical symbol (Cu), not a formula (NaCl)."""
    import re

    return re.fullmatch(r"[A-Z][a-z]?", text) is not None


def _same_composition(a: dict[str, float], b: dict[str, float], tol: float = 1e-9) -> bool:
    keys = set(a) | set(b)
    return all(abs(a.get(k, 0.0) - b.get(k, 0.0)) <= tol for k in keys)


class FileSpec(_Strict):
    """Structures read with `ase.io.read` from a file (path relative to the config file)."""

    kind: Literal["file"] = "file"
    path: str = Field(..., description="Structure file readable by ASE (extxyz, cif, POSCAR, ...).")
    index: str = Field(":", description="ASE index string selecting frames, e.g. ':' or '0'.")


StructureSpec = Annotated[Union[BulkSpec, FileSpec, PortfolioSpec], Field(discriminator="kind")]


class InitialDataConfig(_Strict):
    """How the first training set is built from the starting structures."""

    n_rattled: int = Field(8, ge=1, description="Rattled copies per starting structure.")
    rattle_stdev: float | None = Field(
        None, gt=0, description="Gaussian rattle amplitude in Å. null: the thermal displacement at the lowest "
        "exploration temperature (domain_models/derived_defaults.py; logged with the reason).")
    strains: list[Annotated[float, Field(gt=-1)]] = Field(
        default_factory=lambda: [-0.03, -0.015, 0.015, 0.03],
        description="Isotropic volumetric strains (fractions of the lattice constant) applied to each "
        "starting structure, each also rattled.",
    )
    compositions: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
        description="A bulk structure with substitutions also gets its lattice at these fractions of each "
        "substituent (0 = the pure host, 1 = the pure substituent; its own composition left out), "
        "`composition_copies` rattled and strained copies each, lattice constant by Vegard's law from ASE's "
        "reference values: the training set spans the compositions, so the per-element energies are "
        "determined (sampling/compositions.py). [] = only the configured composition.",
    )
    composition_copies: int = Field(
        5, ge=1, description="Copies per extra composition: rattled, at strains 0 and then each of `strains` "
        "in turn (the energy-volume curve of every composition).",
    )
    wide_cell: bool | None = Field(
        None, description="When every starting structure is a bulk cell narrower than 2 x the cutoff, the first "
        "one is also repeated to a cell wider than that, whose rattled and strained copies join the initial "
        "data (it is not explored): environments free of their own periodic images (README 'Training cells'). "
        "false: only the configured cells. null: on for an in-process oracle (emt, mock, chgnet: a 100-atom "
        "label costs milliseconds), off for a DFT code, where it would be the run's dearest label "
        "(derived_defaults.py).",
    )
    oracle_lattice: bool | None = Field(
        None, description="Starting crystals whose lattice constant comes from ASE's reference data (a bulk spec "
        "of one element without `a` or substitutions; the portfolio without `lattice_constant`) get the oracle's "
        "equilibrium lattice constant instead: a Birch-Murnaghan fit of 7 oracle calculations of the primitive "
        "cell (1-2 atoms) at ±4 % of a, before the initial structures are built (initial/lattice.json, logged; "
        "DP-GEN's init_bulk relaxes the cell with the DFT code the same way). NVT exploration keeps the starting "
        "cell, so without it the labels sit at the experimental volume, not the oracle's. null: on for a DFT "
        "code or a universal potential, off for emt and mock (derived_defaults.py); false: ASE's reference values.")
    surface_slabs: bool | None = Field(
        None, description="Rattled copies of the properties stage's (111), (100) and (110) slabs of the "
        "property crystal (2x2 in plane, properties.slab_layers, properties.vacuum; `surface_slab_copies` "
        "each) join the initial data: the potential has seen the surfaces whose energies are reported. "
        "null: on when the properties stage computes an fcc crystal's surface energies and no starting "
        "structure is a file or a portfolio slab (derived_defaults.py); false: off.")
    surface_slab_copies: int = Field(3, ge=1, description="Rattled copies per facet (`surface_slabs`).")
    cell_strain_copies: int | None = Field(
        None, ge=0, description="Copies of the property crystal's starting structure (structures[properties."
        "structure]) in randomly deformed cells (every Voigt strain component U(-f, f), shears halved, f = "
        "`cell_strain_fraction`: shape and volume change), rattled by rattle_stdev, join the initial data: "
        "their stress labels show how the stress follows the cell's shape (C11 - C12, C44), which isotropic "
        "`strains` and NVT exploration never do. With copies (> 0) a linear ACE's final fit also weighs stresses "
        "(trainer.final_stress_weight 10) and allows rungs by fitted rows (trainer.ladder.final_rows_per_function "
        "2), where those are not set; without a final fit the loop's fits take them. null: 16 when the properties "
        "stage computes the elastic constants of a crystal spec, the oracle is not emt or mock and no exploration "
        "condition runs that crystal under NPT, else 0 (derived_defaults.py, logged: Si with GPAW had C_ij "
        "20-38 % off without them).")
    cell_strain_fraction: float = Field(
        0.02, gt=0, lt=0.5, description="Largest strain component of a `cell_strain_copies` cell (the candidate "
        "swarm's deformation, sampling/candidate_generator.strain_matrix).")
    cluster_companions: bool = Field(
        True,
        description="A cluster with a close-packed (fcc/icosahedral) or bcc core also gets small bulk cells "
        "of that lattice at its bond length, one per strain, and two low-index slabs, in place of as many "
        "rattled copies: the bulk-like interiors and wide facets of larger clusters (false: rattled "
        "copies only).",
    )

    def rattle_amplitude(self) -> float:
        """`rattle_stdev`, which OTFConfig fills from the system when null; a standalone section (unit
        tests, scripts) knows no system and uses 0.05 Å."""
        return 0.05 if self.rattle_stdev is None else self.rattle_stdev


# --------------------------------------------------------------------------------------------
# Exploration
# --------------------------------------------------------------------------------------------
class ExplorationCondition(_Strict):
    """One exploration run of an iteration; conditions run as separate (parallel) jobs."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$", description="Job-safe label, e.g. 't600'.")
    temperature: float = Field(600.0, gt=0, description="Thermostat temperature in K.")
    pressure: float | None = Field(
        None, description="Pressure in GPa for NPT; null runs NVT (Langevin)."
    )
    structure: int = Field(0, ge=0, description="Index into the list of starting structures.")
    kind: str | None = Field(None, description="Portfolio kind this condition explores (set by the portfolio "
                             "expansion; null for a hand-written condition). Held-out errors are reported per kind.")
    swaps: bool | None = Field(
        None, description="Atom-swap Monte Carlo between MD segments (sampling/swaps.py), so the chemical "
        "order can change and ordered phases are reached: null = on for a starting structure with several "
        "elements, none a nonmetal (a metallic alloy: not MgO, whose swaps are antisites), under NVT with ase_md; "
        "true needs NVT (no pressure) and dynamics.kind ase_md.",
    )


class ExplorationConfig(_Strict):
    conditions: list[ExplorationCondition] = Field(
        default_factory=lambda: [
            ExplorationCondition(name="t600", temperature=600.0),
            ExplorationCondition(name="t1200", temperature=1200.0),
            ExplorationCondition(name="npt1000", temperature=1000.0, pressure=0.0),
        ],
        min_length=1,
        description="Exploration conditions; the iteration converges only if every one runs its whole "
        "budget without halting.",
    )
    gamma_check_interval: int = Field(10, ge=1, description="MD steps between extrapolation-grade checks.")
    gamma_select: float = Field(
        2.0, gt=0, description="Frames with max gamma above this are kept as extrapolative candidates."
    )
    gamma_halt: float = Field(5.0, gt=0, description="Max gamma above this halts the run.")
    steps_growth: float = Field(
        1.0, ge=1.0, description="Budget of iteration n = initial_exploration_steps * steps_growth**n."
    )
    swap_interval: int = Field(
        50, ge=1, description="MD steps between two rounds of atom-swap Monte Carlo (conditions with swaps).")
    swaps_per_atom: float = Field(
        1.0, gt=0, description="Swap attempts per round, per atom (Metropolis at the condition's temperature "
        "with the current potential).")
    wide_cell: bool | None = Field(
        None, description="Explore the hottest condition on structures[0] in the wide cell of "
        "initial_data.wide_cell (every width > 2 x cutoff, e.g. 108 atoms of fcc Cu) instead of the configured "
        "cell: the MD-stability property and production MD run in cells that large, which the small cell's "
        "gamma-convergence does not cover. null: on whenever initial_data.wide_cell derives a wide cell "
        "(in-process oracles); false: every condition in its own cell (derived_defaults.wide_exploration).")
    adaptive_gamma: AdaptiveGammaConfig = Field(
        default_factory=AdaptiveGammaConfig, description="Opt-in: gamma_select/gamma_halt of each iteration read "
        "off the recorded calibration of gamma against force error (docs/configuration.md, 'Adaptive γ thresholds').")

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> "ExplorationConfig":
        if self.gamma_halt <= self.gamma_select:
            raise ValueError(
                f"gamma_halt ({self.gamma_halt}) must be greater than gamma_select ({self.gamma_select})"
            )
        names = [c.name for c in self.conditions]
        if len(set(names)) != len(names):
            raise ValueError(f"condition names must be unique, got {names}")
        return self


# --------------------------------------------------------------------------------------------
# Refinement: local swarm and selection
# --------------------------------------------------------------------------------------------
class CandidateMix(_Strict):
    """Relative weights of the swarm generators (normalised)."""

    rattle: float = Field(0.4, ge=0)
    md_burst: float = Field(0.3, ge=0)
    normal_modes: float = Field(0.3, ge=0)
    cell_strain: float = Field(0.0, ge=0, description="The halt frame in randomly deformed cells (periodic axes "
                               "only; see candidates.cell_strain_fraction). Cut-out swarms do not use it.")

    @model_validator(mode="after")
    def _positive(self) -> "CandidateMix":
        if self.rattle + self.md_burst + self.normal_modes + self.cell_strain <= 0:
            raise ValueError("at least one candidate generator must have a positive weight")
        return self


class CandidatesConfig(_Strict):
    n_candidates: int = Field(20, ge=1, description="Candidates generated per halt structure.")
    mix: CandidateMix = Field(default_factory=CandidateMix, description="Share of each generator.")
    min_distance: float | dict[str, Annotated[float, Field(gt=0)]] | None = Field(
        None, description="Shortest allowed distance between two atoms of a candidate (Å; closer ones are "
        "redrawn). null: min_distance_fraction x the sum of the two covalent radii (ase.data.covalent_radii), "
        "per element pair; a mapping overrides single pairs, e.g. {'O-H': 0.8, 'Pt-Pt': 2.0}; a number "
        "applies to every pair. Checked against the starting structures before any label."
    )
    rattle_stdev: float = Field(0.06, gt=0, description="Rattle amplitude in Å.")
    burst_temperature: float = Field(1200.0, gt=0, description="Temperature of the MD burst in K.")
    burst_steps: int = Field(20, ge=1, description="Steps of the MD burst between snapshots (of "
                             "dynamics.timestep_fs: 2 fs from O up, 0.5 fs with H).")
    normal_mode_temperature: float = Field(
        600.0, gt=0, description="Temperature setting normal-mode amplitudes (harmonic equipartition)."
    )
    include_extrapolative: bool = Field(
        True, description="Also offer the extrapolative frames recorded during exploration."
    )
    min_distance_fraction: float = Field(
        0.6, gt=0, le=1, description="Default minimum distance of a pair as a fraction of the sum of its "
        "covalent radii (0.6: Cu-Cu 1.58 Å, O-H 0.58 Å, C-H 0.64 Å)."
    )
    cell_strain_fraction: float = Field(
        0.03, gt=0, lt=0.5, description="Largest strain component of a cell_strain candidate: diagonal "
        "components U(-f, f), shear U(-f, f)/2 (dpdata's cell_pert_fraction)."
    )

    @field_validator("min_distance")
    @classmethod
    def _pairs_known(cls, v):
        if isinstance(v, (int, float)) and v <= 0:
            raise ValueError(f"min_distance must be greater than 0, got {v}")
        if isinstance(v, dict):
            from .element_pairs import parse_pair

            for key in v:
                parse_pair(key)
        return v


class MockSelectorConfig(_Strict):
    kind: Literal["mock"] = "mock"
    n_select: int = Field(5, ge=1, description="Structures to label per iteration.")


class RandomSelectorConfig(_Strict):
    kind: Literal["random"] = "random"
    n_select: int = Field(5, ge=1, description="Structures to label per iteration.")


class MaxVolSelectorConfig(_Strict):
    """D-optimal selection (pace_select's MaxVol on B-basis projections)."""

    kind: Literal["maxvol"] = "maxvol"
    n_select: int = Field(8, ge=1, description="Structures to label per iteration (8: the default Cu run "
                          "converges in 4 iterations, README).")
    spread: bool = Field(False, description="Spread each iteration's picks over the exploration conditions: the "
                         "structures MaxVol puts into the active set are taken one per condition in turn (each "
                         "condition's in MaxVol's order), so one extrapolating condition cannot fill the batch with "
                         "near-copies of its halt (a 108-atom liquid's swarm took 11 of 12 picks). On by default "
                         "with a portfolio (many kinds halting at once); structures outside the active set still "
                         "come last, by gamma.")


SelectorConfig = Annotated[
    Union[MaxVolSelectorConfig, RandomSelectorConfig, MockSelectorConfig], Field(discriminator="kind")
]


# --------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------
class MockTrainerConfig(_Strict):
    """Writes a potential file that records which labels it saw."""

    kind: Literal["mock"] = "mock"
    fail_generations: list[int] = Field(
        default_factory=list, description="Fault injection: fits producing these generations diverge."
    )


class AceBasisConfig(_Strict):
    """ACE basis shared by the trainers."""

    cutoff: float = Field(5.0, gt=0, description="Radial cutoff in Å.")
    number_of_functions_per_element: int = Field(150, ge=1, description="Basis size per element.")
    max_order: int = Field(3, ge=1, le=6, description="Maximum body order minus one.")


class BasisRung(_Strict):
    """One basis size of the ladder: every rung's functions must be a subset of the largest's, so its
    radial/angular limits must not exceed the largest rung's."""

    number_of_functions_per_element: int = Field(..., ge=1, description="Basis size per element.")
    max_order: int = Field(..., ge=1, le=6, description="Maximum body order minus one.")
    nradmax_by_orders: list[Annotated[int, Field(ge=1)]] = Field(
        ..., min_length=1, description="Radial limit per body order (first entry: pair functions)."
    )
    lmax_by_orders: list[Annotated[int, Field(ge=0)]] = Field(
        ..., min_length=1, description="Angular limit per body order (first entry must be 0)."
    )

    @model_validator(mode="after")
    def _limits_cover_orders(self):
        if len(self.nradmax_by_orders) < self.max_order or len(self.lmax_by_orders) < self.max_order:
            raise ValueError(
                f"nradmax_by_orders and lmax_by_orders need max_order={self.max_order} entries each"
            )
        return self


def _default_rungs() -> list[BasisRung]:
    """Body order 6 (max_order 5) fits EMT Cu's embedding better than 4-5 (held-out 1.31 vs 1.55 meV/Å,
    benchmarks/RESULTS.md); 100/200/300 functions: the ladder grows with the labels."""
    limits = {"nradmax_by_orders": [15, 6, 4, 3, 2], "lmax_by_orders": [0, 4, 3, 2, 1]}
    return [BasisRung(number_of_functions_per_element=n, max_order=5, **limits) for n in (100, 200, 300)]


def _default_final_rungs() -> list[BasisRung]:
    """The final fit also tries 800 functions with wider radial/angular limits (README "The final fit":
    held-out F 1.12 instead of 1.20 meV/Å on the default Cu run)."""
    return [BasisRung(number_of_functions_per_element=800, max_order=5, nradmax_by_orders=[15, 8, 6, 4, 3],
                      lmax_by_orders=[0, 4, 4, 3, 2])]


class BasisLadderConfig(_Strict):
    """Capacity that grows with the data: each fit picks the rung with the lowest error on a fixed
    held-out share of the labels (components/trainers/basis_ladder.py)."""

    rungs: list[BasisRung] = Field(
        default_factory=_default_rungs, min_length=1,
        description="Candidate bases; replaces basis.number_of_functions_per_element/max_order (cutoff is kept).",
    )
    holdout_share: float = Field(
        0.2, ge=0, lt=1, description="Share of the labels held out to choose the rung (fixed per structure)."
    )
    envs_per_function: float = Field(
        2.0, gt=0, description="A rung needs this many atomic environments per function, per element."
    )
    rows_per_function: float | None = Field(
        None, gt=0, description="null: environments decide (envs_per_function). A number: a rung is allowed when "
        "the fitted labels have this many rows (force components + energies) per function of the whole basis "
        "instead (a small molecule: its rarest element has one environment per label; trainer.molecule)."
    )
    final_rows_per_function: float | None = Field(
        None, gt=0, description="The final fit's rows_per_function; null: the loop's. A larger basis allowed only "
        "where it is not explored: the loop's potentials keep the rung their labels support (a basis picked by "
        "fitted rows on few labels halts every exploration at its first gamma check), the shipped one may use the "
        "rows of deformed cells' stresses (initial_data.cell_strain_copies derives 2)."
    )
    larger_within_se: float | None = Field(
        1.0, ge=0, description="null: the lowest held-out-share score wins. A number: the largest allowed rung "
        "whose score is within this many bootstrap standard errors of the lowest wins (the share's noise "
        "does not pick a smaller basis at random)."
    )
    keep_best: bool = Field(
        True, description="Keep the earlier potential if its held-out-share stand-in scores better."
    )
    final_rungs: list[BasisRung] = Field(
        default_factory=_default_final_rungs, description="Larger bases tried only by the final fit (final_fit/, after the loop "
        "has ended), on all labels with the same held-out share and rules: a production-size potential "
        "without exploring with it (its stricter gamma costs exploration iterations). The loop's fits "
        "compute their design rows for the largest of all rungs, so the final fit reuses them."
    )

    @model_validator(mode="after")
    def _own_rungs_own_final(self) -> "BasisLadderConfig":
        # the default final rung is sized for the default rungs; a user's own rungs get no final fit
        # unless they name its rungs too
        if "rungs" in self.model_fields_set and "final_rungs" not in self.model_fields_set:
            self.final_rungs = []
        return self

    def all_rungs(self) -> list[BasisRung]:
        """The loop's rungs and the final fit's, in that order (the design rows' pool is the largest)."""
        return [*self.rungs, *self.final_rungs]

    def for_final_fit(self) -> "BasisLadderConfig":
        """The ladder of the final fit: every rung is a candidate."""
        update = {"rungs": self.all_rungs(), "final_rungs": [], "final_rows_per_function": None}
        if self.final_rows_per_function is not None:
            update["rows_per_function"] = self.final_rows_per_function
        return self.model_copy(update=update)


class LinearAceTrainerConfig(_Strict):
    """Linear ACE fit (pyace.linearacefit): seconds per fit."""

    kind: Literal["linear_ace"] = "linear_ace"
    basis: AceBasisConfig = Field(default_factory=AceBasisConfig)
    energy_weight: float = Field(1.0, gt=0, description="Relative weight of energies vs forces.")
    ridge_alpha: float = Field(1e-7, gt=0, description="Ridge regularisation of the least-squares fit.")
    stress_weight: float = Field(
        0.01, ge=0, description="Weight of virial rows (0: stress not fitted); see basis_ladder.row_weights."
    )
    final_stress_weight: float | None = Field(
        None, ge=0, description="The final fit's stress_weight; null: stress_weight. Another value than stress_weight: "
        "the end criteria (steps/ship.py) judge the final fit, not keep-the-best. initial_data.cell_strain_copies "
        "derives 10 (the deformed cells' stresses are what they teach the shipped potential)."
    )
    ladder: BasisLadderConfig | None = Field(
        default_factory=BasisLadderConfig, description="Basis ladder (null: the fixed `basis`). A `basis` that "
        "sets its size (number_of_functions_per_element or max_order) without a `ladder` means a fixed basis."
    )
    repulsion: Literal["zbl", "none"] = Field(
        "zbl", description="ZBL core repulsion below the shortest training distance per bond (pacemaker's 'auto')."
    )
    force_cap: float | None = Field(
        None, gt=0, description="Labels whose largest oracle force component exceeds this (eV/Å) stay in the "
        "dataset but are not fitted or scored (weight 0): configurations far beyond the explored temperatures "
        "(two H atoms of CH4 0.5 Å apart: 70 eV/Å) would dominate the least squares. null: every label counts. "
        "A molecule (trainer.molecule) derives 8 x its thermal force scale."
    )
    molecule: bool | None = Field(
        None, description="Size the basis for a small molecule or cluster: basis.cutoff from its size, the ladder's "
        "rungs 25-200 functions per element allowed by fitted rows (ladder.rows_per_function 2), no final "
        "rungs, repulsion none, a force_cap, initial_data.n_rattled enough for the largest rung, "
        "convergence.energy_rmse in proportion to force_rmse, patience 15; only where those "
        "are not set. null: on when every starting structure is a "
        "non-periodic file structure of at most 20 atoms (domain_models/derived_defaults.py, logged)."
    )

    @model_validator(mode="after")
    def _explicit_basis_is_fixed(self) -> "LinearAceTrainerConfig":
        # whoever writes a basis size means that size: the ladder would silently replace it
        sized = {"number_of_functions_per_element", "max_order"} & self.basis.model_fields_set
        if "basis" in self.model_fields_set and sized and "ladder" not in self.model_fields_set:
            self.ladder = None
        return self


class PacemakerLadderConfig(_Strict):
    """pacemaker's own ladder fitting (fit: ladder_step / ladder_type), sized by a held-out share:
    every ladder step's potential is scored on a fixed held-out share of the labels and the best
    step is kept (components/trainers/pacemaker_ladder.py)."""

    step: Union[Annotated[int, Field(ge=1)], Annotated[float, Field(gt=0, lt=1)],
                tuple[Annotated[int, Field(ge=1)], Annotated[float, Field(gt=0, lt=1)]]] = Field(
        (10, 0.5),
        description="pacemaker's ladder_step: functions added per step (int >= 1), a fraction of the current "
                    "size (0 < float < 1), or [int, float] for the larger of the two. Each step runs "
                    "max_iterations BFGS iterations, so a fit costs about the sum of the step sizes over the "
                    "final size times a fixed fit.",
    )
    type: Literal["power_order", "body_order"] = Field(
        "power_order",
        description="pacemaker's ladder_type: the order functions are added in. power_order is the order "
                    "the fixed basis picks its functions by, so a step of N functions is the fixed basis of "
                    "size N.",
    )
    holdout_share: float = Field(
        0.2, ge=0, lt=1, description="Share of the labels held out to choose the step (fixed per structure; "
        "never the validation set)."
    )
    envs_per_function: float = Field(
        2.0, gt=0, description="A step is eligible only if each element has this many atomic environments "
        "per function in the fitted share."
    )
    refit: bool = Field(
        True, description="Refit the chosen step's basis on all labels (max_iterations BFGS from `start`: the "
        "linear solution of that basis, or the step's own coefficients with start: scratch), so the held-out "
        "share still trains the shipped potential; false ships the chosen step as fitted on the training share."
    )
    keep_best: bool = Field(
        True, description="Keep the earlier potential if its held-out-share stand-in scores better on this "
        "fit's held-out share."
    )


class PacemakerTrainerConfig(_Strict):
    """Full non-linear pacemaker fit (needs the `pacemaker` extra: tensorpotential)."""

    kind: Literal["pacemaker"] = "pacemaker"
    basis: AceBasisConfig = Field(default_factory=AceBasisConfig)
    max_iterations: int = Field(300, ge=1, description="BFGS iterations per fit.")
    upfit: bool = Field(
        False,
        description="Start every fit from the previous iteration's potential instead of from `start` "
                    "(with start: linear, a fresh linear solution on all labels starts better).",
    )
    kappa: float = Field(
        0.5, ge=0, le=1,
        description="Force weight in the pacemaker loss (energy weight 1 - kappa); 0.5 matches linear_ace's "
                    "energy_weight 1.0, which is (1 - kappa) / kappa.",
    )
    python: str | None = Field(
        None,
        description="Interpreter of the pacemaker environment (absolute path or command on PATH); null: "
                    "$MLIP_PACEMAKER_PYTHON, else .venv-pacemaker beside the running venv (built by "
                    "tools/install_pacemaker_extra.sh), else the running interpreter if it has tensorpotential.",
    )
    start: Literal["linear", "scratch"] = Field(
        "linear",
        description="First fit: 'linear' starts BFGS from the linear ACE solution of the same basis (linear "
                    "embedding, optimises radial functions and coefficients); 'scratch' from zero coefficients "
                    "of a two-density Finnis-Sinclair basis.",
    )
    repulsion: Literal["zbl", "auto", "none"] = Field(
        "zbl",
        description="Core repulsion: 'zbl' = ZBL below 0.75 x the shortest distance in the data; 'auto' = "
                    "pacemaker's, ZBL from the shortest distance itself (frames slightly shorter get ZBL "
                    "forces); 'none' = ACE everywhere.",
    )
    ladder: PacemakerLadderConfig | None = Field(
        None,
        description="Opt-in: grow the basis with pacemaker's ladder fitting up to `basis` and keep the step "
                    "with the lowest held-out error (null: one fit of the fixed `basis`).",
    )


TrainerConfig = Annotated[
    Union[LinearAceTrainerConfig, PacemakerTrainerConfig, MockTrainerConfig], Field(discriminator="kind")
]


class LabelingConfig(_Strict):
    """How LABEL is split into jobs: one job per structure suits DFT on a cluster (parallel, and a
    crash loses at most one calculation); cheap oracles run faster with several per job."""

    structures_per_job: int | None = Field(
        None, ge=1, description="Structures labelled by one Snakemake job. null: 10 for an in-process oracle "
        "that costs milliseconds (emt, mock), 1 otherwise (derived_defaults.py).")
    max_atoms: int | None = Field(
        None, ge=2, description="Most atoms the oracle can afford in one structure; larger structures (initial "
        "data, halts, candidates) are labelled through cut-outs (labeling.cutouts). null: no limit.",
    )
    cutouts: CutoutConfig = Field(default_factory=CutoutConfig, description="How large structures are cut.")


class RuleResources(_Strict):
    """Resources of one group of rules, as Snakemake (and its SLURM executor) understands them."""

    cores: int = Field(1, ge=1, description="Threads/cores of the job (the oracle's MPI ranks for label jobs).")
    mem_mb: int = Field(2000, ge=1, description="Memory per job in MB.")
    runtime_min: int = Field(60, ge=1, description="Wall-time limit per job in minutes.")
    slurm_partition: str | None = Field(None, description="SLURM partition (null: the profile's default).")
    slurm_account: str | None = Field(None, description="SLURM account (-A).")
    slurm_extra: str | None = Field(None, description="Extra sbatch flags, e.g. '--qos=short'.")

    def snakemake_resources(self) -> dict:
        res = {"mem_mb": self.mem_mb, "runtime": self.runtime_min}
        for key in ("slurm_partition", "slurm_account", "slurm_extra"):
            if getattr(self, key) is not None:
                res[key] = getattr(self, key)
        return res


class ResourcesConfig(_Strict):
    """Per-rule-group resources, tuned in one place for a workstation or a cluster."""

    light: RuleResources = Field(
        default_factory=lambda: RuleResources(cores=1, mem_mb=1000, runtime_min=10),
        description="Bookkeeping rules: checkpoint, halts, gathering labels, final flag.",
    )
    explore: RuleResources = Field(
        default_factory=lambda: RuleResources(cores=1, mem_mb=2000, runtime_min=120),
        description="One exploration MD per condition.",
    )
    refine: RuleResources = Field(
        default_factory=lambda: RuleResources(cores=1, mem_mb=2000, runtime_min=30),
        description="Candidate generation and selection.",
    )
    label: RuleResources = Field(
        default_factory=lambda: RuleResources(cores=1, mem_mb=4000, runtime_min=60),
        description="Oracle (DFT) jobs; cores = MPI ranks of the oracle.",
    )
    train: RuleResources = Field(
        default_factory=lambda: RuleResources(cores=2, mem_mb=8000, runtime_min=120),
        description="Fitting the potential.",
    )


class ValidationConfig(_Strict):
    """Optional held-out set scored after every fit."""

    file: str | None = Field(None, description="Labelled extxyz file (relative to the config file).")
    n_generated: int | None = Field(
        None, ge=0, description="If no file: label this many MD frames of the starting structures. null: 24 "
        "with the emt oracle (instant), 0 otherwise (give a `file`)."
    )
    temperatures: list[float] | None = Field(
        None, min_length=1, description="MD temperatures for generated frames (K). null: the exploration "
        "conditions' temperatures, at most three (the lowest, the highest and the one nearest their middle; "
        "derived_defaults.py, logged when frames are generated)."
    )


# --------------------------------------------------------------------------------------------
# Top level
# --------------------------------------------------------------------------------------------
DEFAULT_KIND_SECTIONS = ("dynamics", "selection", "trainer")   # sections whose missing `kind` is the default's


class OTFConfig(_Strict):
    """On-the-fly active-learning run."""

    seed: int = Field(42, description="Master seed; every random step derives its own from it.")
    max_cycles: int = Field(50, ge=1, le=999, description="Maximum exploration iterations.")
    patience: int = Field(
        5, ge=1, description="Stop after this many iterations without improvement (explorations reaching "
        "a larger share of their budget before halting)."
    )
    initial_exploration_steps: int | None = Field(
        None, ge=1, description="MD steps per condition in iteration 0. null: 2 ps at the time step "
        "(dynamics.timestep_fs): 1000 steps of 2 fs, 4000 of 0.5 fs with H (derived_defaults.py, logged).")
    structures: list[StructureSpec] = Field(
        default_factory=lambda: [BulkSpec()], min_length=1,
        description="Starting structures (exploration conditions refer to them by index).",
    )
    initial_data: InitialDataConfig = Field(default_factory=InitialDataConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    dynamics: DynamicsConfig = Field(default_factory=AseMDConfig)
    candidates: CandidatesConfig = Field(default_factory=CandidatesConfig)
    selection: SelectorConfig = Field(default_factory=MaxVolSelectorConfig)
    oracle: OracleConfig = Field(default_factory=EMTOracleConfig)
    cheap_oracle: Optional[OracleConfig] = Field(
        None, description="Opt-in two-level labelling (docs/two_level_labelling.md): a cheap oracle (a universal "
        "potential, or any non-DFT kind) that labels the initial set, every candidate and the held-out set, while "
        "`oracle` (the judge: spot checks, convergence, properties) labels only what the loop selects for it. "
        "null: one level, today's run."
    )
    two_level: TwoLevelConfig = Field(
        default_factory=TwoLevelConfig, description="With `cheap_oracle`: what the cheap level labels, how the "
        "expensive labels are chosen, how the fit uses both levels (ignored without `cheap_oracle`)."
    )
    trainer: TrainerConfig = Field(default_factory=LinearAceTrainerConfig)
    labeling: LabelingConfig = Field(default_factory=LabelingConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    vacuum_margin: float = Field(
        2.0, ge=0, description="Slabs and wires (structures periodic along 2 or 1 axes) are evaluated as "
        "periodic with their vacuum, which must be wider than the ACE cutoff plus this margin (Å) along each "
        "non-periodic axis; checked before any label."
    )
    properties: PropertiesConfig = Field(default_factory=PropertiesConfig,
                                         description="Physical properties of the potential against the oracle.")
    convergence: ConvergenceConfig = Field(default_factory=ConvergenceConfig,
                                           description="Extra conditions before the loop may converge.")
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig,
                                       description="Opt-in: structures and conditions derived from an element "
                                       "(README 'A general-purpose potential').")

    @model_validator(mode="before")
    @classmethod
    def _default_kinds(cls, data):
        """A section given only settings (`trainer: {basis: {cutoff: 6}}`, or `--set trainer.basis.cutoff=6`
        on a config without a trainer) means the default implementation with those settings, as
        DP-GEN's and pacemaker's partial sections do; without this the discriminator fails with
        pydantic's bare "Unable to extract tag". The oracle is not defaulted: settings of some DFT code
        without its `kind` are a user's mistake, reported as such."""
        if isinstance(data, dict):
            for name in DEFAULT_KIND_SECTIONS:
                section = data.get(name)
                if isinstance(section, dict) and "kind" not in section:
                    data = {**data, name: {"kind": default_kind(name), **section}}
        return data

    @model_validator(mode="after")
    def _expand_portfolio(self) -> "OTFConfig":
        """Replace an earlier expansion by this config's (a job validates the expanded config again, so
        the step must give the same result twice); keep the user's own entries first."""
        own_structures = [s for s in self.structures if s.kind != "portfolio"]
        own_conditions = [c for c in self.exploration.conditions if c.kind is None]
        p = self.portfolio
        if not p.enabled:
            return self
        if "structures" not in self.model_fields_set:
            own_structures = []  # the demo default crystal is not the user's
        if "conditions" not in self.exploration.model_fields_set:
            own_conditions = []
        cutoff = getattr(getattr(self.trainer, "basis", None), "cutoff", 5.0)
        specs, conds = expand_portfolio(p, cutoff, len(own_structures))
        self.structures = [*own_structures, *specs]
        self.exploration.conditions = [*own_conditions, *(ExplorationCondition(**c) for c in conds)]
        if not self.exploration.conditions:
            raise ValueError("portfolio: every part is switched off and no exploration.conditions are given")
        unset = lambda model, key: key not in model.model_fields_set  # noqa: E731
        # a small seed set, one rattled copy per kind: the selection, spread over the kinds, adds what each
        # needs (the 65-label set of 2 rattled and 2 strained copies left it no room: label ratio 0.89)
        if unset(self.initial_data, "n_rattled"):
            self.initial_data.n_rattled = 1
        if unset(self.initial_data, "strains"):
            self.initial_data.strains = []
        if unset(self.convergence, "spot_checks"):
            self.convergence.spot_checks = len(self.exploration.conditions)
        if unset(self.selection, "n_select"):
            self.selection.n_select = 12
        if getattr(self.selection, "kind", None) == "maxvol" and unset(self.selection, "spread"):
            self.selection.spread = True
        if unset(self.candidates, "mix"):  # a finite-difference Hessian of a 100-atom halt costs minutes
            self.candidates.mix = CandidateMix(rattle=0.5, md_burst=0.5, normal_modes=0.0)
        target = self.structures[min(self.properties.structure, len(self.structures) - 1)]
        if unset(self.properties, "enabled"):  # on for a crystal; a slab or cluster target has no bulk properties
            self.properties.enabled = target.kind != "portfolio" or target.part == "bulk"
        return self

    def has_validation(self) -> bool:
        """A held-out set is scored after every fit (a file, generated frames or the portfolio's)."""
        v = self.validation
        return v.file is not None or v.n_generated > 0 or (self.portfolio.enabled and self.portfolio.validation_frames > 0)
    label_noise: LabelNoiseConfig = Field(
        default_factory=LabelNoiseConfig, description="The noise floor of the labels, measured before the "
        "initial labels: the run stops if it is above the spot-check tolerance."
    )

    _derived: dict = PrivateAttr(default_factory=dict)
    _timestep: object = PrivateAttr(default=None)  # derived_defaults.Derived: the system's MD step

    @model_validator(mode="after")
    def _derive_defaults(self, info: ValidationInfo) -> "OTFConfig":
        """Fill the settings left null whose good value depends on the system (derived_defaults.py);
        `derived()` keeps each value's reason for the log."""
        from . import derived_defaults as dd

        base_dir = (info.context or {}).get("base_dir") if info is not None else None
        temperatures = [c.temperature for c in self.exploration.conditions]
        files = self.read_structure_files(base_dir)  # the structure files, read once per load
        geometry = self.molecule_geometry(files)
        derived: dict = {}
        elements = self.system_elements(files)
        self._timestep = dd.md_timestep(elements)
        if hasattr(self.dynamics, "timestep_fs") and self.dynamics.timestep_fs is None:
            self.dynamics.timestep_fs = self._timestep.value
            derived["dynamics.timestep_fs"] = self._timestep
        if self.initial_exploration_steps is None:
            d = dd.exploration_budget(self.md_timestep_fs())
            self.initial_exploration_steps = d.value
            derived["initial_exploration_steps"] = d
        if self.initial_data.rattle_stdev is None or self.convergence.force_rmse is None:
            # a molecule's spot-check tolerance, unless the user switched the molecule sizing off
            small = getattr(self.trainer, "molecule", None) is not False and dd.small_molecule(geometry) is not None
            if self.initial_data.rattle_stdev is None:
                d = dd.thermal_rattle(elements, temperatures) if elements else dd.Derived(
                    0.05, "elements of the structures unknown here")
                self.initial_data.rattle_stdev = d.value
                derived["initial_data.rattle_stdev"] = d
            if self.convergence.force_rmse is None:
                d = dd.spot_check_force_tolerance(elements, temperatures, self.portfolio.enabled, small) if elements \
                    else dd.Derived(dd.SPOT_CHECK_CAP, "elements of the structures unknown here")
                self.convergence.force_rmse = d.value
                derived["convergence.force_rmse"] = d
        molecule = self.molecule_sizing(geometry, files)
        if molecule is not None and molecule.value:  # logged when it changes something (bulk runs: no line)
            derived["trainer.molecule"] = molecule
        if self.convergence.kind_force_rmse is None and self.portfolio.enabled:
            d = dd.kind_force_tolerance(self.convergence.force_rmse)
            self.convergence.kind_force_rmse = d.value
            derived["convergence.kind_force_rmse"] = d
        if self.initial_data.wide_cell is None:
            d = dd.wide_cell_enabled(self.oracle.kind)
            self.initial_data.wide_cell = d.value
            derived["initial_data.wide_cell"] = d
        if self.exploration.wide_cell is None:
            first = self.structures[0] if self.structures else None
            d = dd.wide_exploration(self.wide_cell() is not None, self.hottest_condition_on_first_structure(),
                                    getattr(first, "vacancies", 0))
            self.exploration.wide_cell = d.value
            derived["exploration.wide_cell"] = d
        if self.labeling.structures_per_job is None:
            d = dd.structures_per_job(self.oracle.kind)
            self.labeling.structures_per_job = d.value
            derived["labeling.structures_per_job"] = d
        if self.properties.enabled is None:
            k = min(self.properties.structure, len(self.structures) - 1)
            target = self.structures[k] if self.structures else None
            p = self.properties
            d = dd.properties_enabled(self.oracle.kind, self.trainer.kind, getattr(target, "kind", "bulk"),
                                      self.property_target(files, k),
                                      surface_reference=p.surface_bulk is not None or "surface" not in p.include)
            self.properties.enabled = d.value
            derived["properties.enabled"] = d
        if self.initial_data.oracle_lattice is None:
            d = dd.oracle_lattice(self.oracle.kind, sum(takes_reference_lattice(s) for s in self.structures))
            self.initial_data.oracle_lattice = d.value
            derived["initial_data.oracle_lattice"] = d
        if self.initial_data.surface_slabs is None:
            has_surface = any(s.kind == "file" or (s.kind == "portfolio" and s.part == "surface")
                              for s in self.structures)
            d = dd.surface_slabs_enabled(self.computes_crystal_surfaces(), has_surface)
            self.initial_data.surface_slabs = d.value
            derived["initial_data.surface_slabs"] = d
        self.surface_slab_crystal()  # a crystal without a known lattice constant: said at load, not in a job
        if self.initial_data.cell_strain_copies is None:
            npt = [c.name for c in self.exploration.conditions
                   if c.pressure is not None and c.structure == self.properties.structure]
            d = dd.cell_strain_copies(self.computes_crystal_elastic(), self.oracle.kind, npt[0] if npt else None)
            self.initial_data.cell_strain_copies = d.value
            derived["initial_data.cell_strain_copies"] = d
        if self.initial_data.cell_strain_copies:
            self._fit_cell_strains(dd)
        if self.validation.n_generated is None:
            portfolio_only = self.portfolio.enabled and all(s.kind == "portfolio" for s in self.structures)
            d = dd.validation_frames(self.oracle.kind, self.validation.file, portfolio_only)
            self.validation.n_generated = d.value
            derived["validation.n_generated"] = d
        if self.validation.temperatures is None:
            d = dd.validation_temperatures(temperatures)
            self.validation.temperatures = d.value
            if self.validation.n_generated and self.validation.file is None:  # logged where frames are made
                derived["validation.temperatures"] = d
        self._derived = derived
        return self

    def md_timestep_fs(self) -> float:
        """The time step (fs) of every MD of the user's system: the exploration's `dynamics.timestep_fs`
        (derived from the lightest mass when null), and for a backend without one (mock) the derived
        value, so the held-out oracle MD, the swarm's MD bursts and the MD stability run use the step
        the system needs."""
        step = getattr(self.dynamics, "timestep_fs", None)
        return float(step if step is not None else self._timestep.value)

    def molecule_sizing(self, geometry: tuple[int, float] | None, files: dict):
        """Fill `trainer.molecule` when null (a linear ACE trainer) and apply the molecule's basis where the
        user set none; `geometry` is `molecule_geometry(files)`. Returns the Derived record
        (derived_defaults.Derived), or None when there is nothing to derive (another trainer, or
        `trainer.molecule` set by the user)."""
        from . import derived_defaults as dd

        t = self.trainer
        if t.kind != "linear_ace" or t.molecule is not None:
            if t.kind == "linear_ace" and t.molecule:  # the user's true: apply it to what they left unset
                self._apply_molecule(dd, geometry[1] if geometry else None, geometry[0] if geometry else None,
                                     files)
            return None
        d = dd.molecule_sizing(geometry)
        t.molecule = d.value
        if d.value:
            self._apply_molecule(dd, geometry[1], geometry[0], files)
        return d

    def _apply_molecule(self, dd, largest_distance: float | None, n_atoms: int | None, files: dict) -> None:
        t = self.trainer
        if "basis" not in t.model_fields_set and largest_distance is not None:
            t.basis = AceBasisConfig(cutoff=dd.molecule_cutoff(largest_distance))
        if "ladder" not in t.model_fields_set:
            t.ladder = BasisLadderConfig(rungs=[BasisRung(**r) for r in dd.molecule_rungs()], final_rungs=[],
                                         rows_per_function=dd.MOLECULE_ROWS_PER_FUNCTION)
        if "repulsion" not in t.model_fields_set:  # no ZBL core at a non-bonded pair's closest label
            t.repulsion = "none"
        if "force_cap" not in t.model_fields_set:
            elements = self.system_elements(files)
            if elements:
                t.force_cap = dd.molecule_force_cap(elements, [c.temperature for c in self.exploration.conditions])
        if "patience" not in self.model_fields_set:
            self.patience = dd.MOLECULE_PATIENCE
        c = self.convergence
        if "energy_rmse" not in c.model_fields_set and c.force_rmse is not None:
            c.energy_rmse = dd.molecule_energy_tolerance(c.force_rmse)
        if "n_rattled" not in self.initial_data.model_fields_set and n_atoms is not None:
            self.initial_data.n_rattled = dd.molecule_rattled_copies(n_atoms, t.ladder.holdout_share)

    def read_structure_files(self, base_dir) -> dict[int, list]:
        """{index in `structures`: its frames} of every file structure readable here; nothing without
        `base_dir` (a standalone section). The one reading of the files per config load: the molecule
        sizing, the elements and the properties' target all use it."""
        if base_dir is None or all(spec.kind != "file" for spec in self.structures):
            return {}  # before importing ase.io: ~1 s of every job's start (it pulls in scipy)
        from ase.io import read

        out = {}
        for k, spec in enumerate(self.structures):
            if spec.kind != "file":
                continue
            path = Path(spec.path).expanduser()
            path = path if path.is_absolute() else Path(base_dir) / path
            try:
                frames = read(str(path), index=spec.index)
            except Exception:  # noqa: BLE001 - preflight gives the file's own error
                continue
            frames = frames if isinstance(frames, list) else [frames]
            if frames:
                out[k] = frames
        return out

    def property_target(self, files: dict, k: int):
        """structures[k]'s first frame as a derived_defaults.PropertyTarget (None: not a readable file)."""
        from .derived_defaults import PropertyTarget

        if k not in files:
            return None
        atoms = files[k][0]
        return PropertyTarget(int(atoms.pbc.sum()), len(atoms), tuple(sorted(set(atoms.get_chemical_symbols()))))

    def molecule_geometry(self, files: dict) -> tuple[int, float] | None:
        """(most atoms, longest interatomic distance in Å) over the starting structures when every one is a
        non-periodic file structure (a molecule or cluster); None otherwise or when a file could not be read
        (`files`: `read_structure_files`)."""
        if not self.structures or any(k not in files for k in range(len(self.structures))):
            return None
        import numpy as np

        most, longest = 0, 0.0
        for k in range(len(self.structures)):
            for atoms in files[k]:
                if atoms.pbc.any():
                    return None
                most = max(most, len(atoms))
                if len(atoms) > 1:
                    longest = max(longest, float(np.max(atoms.get_all_distances())))
        return most, longest

    def derived(self) -> dict:
        """The settings `_derive_defaults` filled in: field -> Derived(value, reason)."""
        return dict(self._derived)

    def condition_kinds(self) -> dict[str, str]:
        """Exploration condition -> the kind its spot checks are judged as (`convergence.kind_force_rmse`):
        its portfolio kind (the fcc crystal's NVT and NPT jobs are one kind), else its own name."""
        return {c.name: c.kind or c.name for c in self.exploration.conditions}

    def kind_of_frame(self, atoms) -> str:
        """The kind of a labelled frame (from the condition that sampled it; "other" for none)."""
        condition = atoms.info.get("condition")
        return self.condition_kinds().get(condition, str(condition) if condition else "other")

    def system_elements(self, files: dict | None = None) -> list[str]:
        """The chemical elements of the starting structures (a file spec's from `files`,
        `read_structure_files`: an unreadable one is skipped, preflight reports it)."""
        import re

        elements: set[str] = set()
        for spec in self.structures:
            if spec.kind == "bulk":
                elements |= set(re.findall(r"[A-Z][a-z]?", spec.element))
                elements |= {el for el, f in spec.substitutions.items() if f > 0}
            elif spec.kind == "portfolio":
                elements.add(spec.element)
        for frames in (files or {}).values():
            elements |= set(frames[0].get_chemical_symbols())
        return sorted(elements)

    @model_validator(mode="after")
    def _cross_checks(self) -> "OTFConfig":
        n_struct = len(self.structures)
        names = [c.name for c in self.exploration.conditions]
        if len(set(names)) != len(names):
            raise ValueError(f"condition names must be unique (the portfolio's included), got {names}")
        for cond in self.exploration.conditions:
            if cond.structure >= n_struct:
                raise ValueError(
                    f"exploration condition '{cond.name}' uses structure {cond.structure}, but only "
                    f"{n_struct} structure(s) are configured (indices start at 0)"
                )
            if cond.swaps and (cond.pressure is not None or self.dynamics.kind not in ("ase_md", "mock")):
                raise ValueError(
                    f"exploration condition '{cond.name}' has swaps: true, which needs NVT (pressure: null) and "
                    f"dynamics.kind ase_md (got pressure {cond.pressure}, kind {self.dynamics.kind}); drop "
                    "`swaps` or change the condition"
                )
        per_halt = self.candidates.n_candidates * (  # a large halt gives several cut-outs, each a swarm
            self.labeling.cutouts.per_structure if self.labeling.max_atoms is not None else 1)
        if self.selection.n_select > per_halt:
            raise ValueError(
                f"selection.n_select ({self.selection.n_select}) exceeds candidates.n_candidates "
                f"({self.candidates.n_candidates}); generate at least as many candidates as you select"
            )
        if self.properties.structure >= n_struct:
            raise ValueError(
                f"properties.structure is {self.properties.structure}, but only {n_struct} structure(s) are "
                f"configured (indices start at 0)"
            )
        prop_spec = self.structures[self.properties.structure]
        if self.properties.enabled and prop_spec.kind == "portfolio" and prop_spec.part != "bulk":
            raise ValueError(f"properties.structure is {self.properties.structure}, the portfolio's "
                             f"'{prop_spec.name}': properties of portfolio structures need a crystal (part bulk); "
                             "point it at the ground-state crystal (the first portfolio structure)")
        if (self.properties.surface_bulk or 0) >= n_struct:
            raise ValueError(f"properties.surface_bulk is {self.properties.surface_bulk}, but only {n_struct} "
                             "structure(s) are configured (indices start at 0)")
        if self.convergence.properties and not self.properties.enabled:
            raise ValueError("convergence.properties needs the properties stage: set properties.enabled: true")
        self._check_two_level(per_halt)
        if self.trainer.kind == "pacemaker" and "need_stress" not in self.oracle.model_fields_set:
            # pacemaker's loss has energies and forces only (tensorpotential's legacy ACE backend):
            # a stress it cannot fit is no reason to fail a label; an explicit user value still wins
            self.oracle.need_stress = False
        return self

    def _check_two_level(self, per_halt: int) -> None:
        """`cheap_oracle` / `two_level`: the combinations the two-level run supports."""
        from .oracle_config import DFTOracleBase

        t = self.two_level
        if self.cheap_oracle is None:
            # compared with the defaults, not "was it given": jobs get the resolved config with every key filled
            if t != TwoLevelConfig():
                raise ValueError("two_level is set but cheap_oracle is not: add a cheap_oracle (e.g. {kind: chgnet}) "
                                 "or drop two_level")
            return
        if isinstance(self.cheap_oracle, DFTOracleBase):
            raise ValueError(f"cheap_oracle.kind is {self.cheap_oracle.kind}, a DFT code: the cheap level is a universal "
                             "potential or another cheap model (chgnet, ase, emt, mock); put the DFT code in `oracle`")
        if self.trainer.kind == "pacemaker":
            raise ValueError("cheap_oracle: the two-level fit is built for trainer.kind linear_ace (and mock); "
                             "drop cheap_oracle or use linear_ace")
        if self.trainer.kind == "linear_ace" and self.trainer.ladder is None:
            raise ValueError("cheap_oracle: the two-level fit chooses its prior strength on the basis ladder's held-out "
                             "share; give trainer.ladder (or drop trainer.basis, which switches the ladder off)")
        if t.disagreement_share > 0 and "candidates" not in t.cheap_labels:
            raise ValueError(f"two_level.disagreement_share is {t.disagreement_share} but 'candidates' is not in "
                             "two_level.cheap_labels: the disagreement needs the candidates' cheap labels; add it "
                             "or set disagreement_share: 0")
        if t.dft_per_iteration is not None and t.dft_per_iteration > per_halt:
            raise ValueError(f"two_level.dft_per_iteration ({t.dft_per_iteration}) exceeds candidates.n_candidates "
                             f"({self.candidates.n_candidates}); generate at least as many candidates as you label")

    def two_level_on(self) -> bool:
        """A cheap oracle labels beside the expensive one (docs/two_level_labelling.md)."""
        return self.cheap_oracle is not None

    def cheap_labels(self, which: str) -> bool:
        """The cheap level labels `which` ('initial', 'candidates', 'validation') in this run."""
        return self.two_level_on() and which in self.two_level.cheap_labels

    def expensive_per_iteration(self) -> int:
        """Structures the expensive oracle labels per iteration (two_level.dft_per_iteration, else
        selection.n_select)."""
        n = self.two_level.dft_per_iteration if self.two_level_on() else None
        return self.selection.n_select if n is None else n

    def wide_cell(self) -> "BulkSpec | None":
        """The derived training cell wider than 2 x cutoff (`initial_data.wide_cell`), or None: the first
        bulk spec repeated until every periodic width exceeds 2 x cutoff, without vacancies. None when a
        structure is a file (its width is not known here), some configured cell is already that wide, or the
        trainer has no basis (mock)."""
        import math

        import numpy as np

        if not self.initial_data.wide_cell or any(spec.kind != "bulk" for spec in self.structures):
            return None
        basis = getattr(self.trainer, "basis", None)
        if basis is None:  # a mock trainer: no cutoff, no environments
            return None
        need = 2.0 * float(basis.cutoff)
        widths = [_cell_widths(spec) for spec in self.structures]
        if any(w is None or min(w) >= need for w in widths):
            return None
        first = self.structures[0]
        per_unit = np.asarray(widths[0]) / np.asarray(first.supercell)
        reps = tuple(max(n, math.floor(need / u) + 1) for n, u in zip(first.supercell, per_unit))
        return first.model_copy(update={"supercell": reps, "vacancies": 0})

    def hottest_condition_on_first_structure(self) -> str | None:
        """The condition on structures[0] with the highest temperature (the first on a tie), or None."""
        on_first = [c for c in self.exploration.conditions if c.structure == 0]
        return max(on_first, key=lambda c: c.temperature).name if on_first else None

    def wide_exploration_condition(self) -> str | None:
        """The condition explored in the wide cell (`exploration.wide_cell`), or None: the hottest one on
        structures[0], the structure the wide cell repeats (not when it has vacancies: the wide cell has
        none, and the condition would lose its defect)."""
        if not self.exploration.wide_cell or self.wide_cell() is None or self.structures[0].vacancies:
            return None
        return self.hottest_condition_on_first_structure()

    def _property_crystal(self, group: str):
        """The property target's spec when the properties stage computes `group` for it and it is a crystal
        spec (a bulk spec or a portfolio's bulk part), else None."""
        p = self.properties
        if not p.enabled or group not in p.include or p.structure >= len(self.structures):
            return None
        spec = self.structures[p.structure]
        return spec if spec.kind == "bulk" or (spec.kind == "portfolio" and spec.part == "bulk") else None

    def computes_crystal_surfaces(self) -> bool:
        """The properties stage computes the low-index surface energies of an fcc crystal spec (the
        surface group's condition for a bulk system, properties/registry.py)."""
        from .properties_config import SURFACE

        spec = self._property_crystal(SURFACE)
        return spec is not None and spec.crystal == "fcc"

    def computes_crystal_elastic(self) -> bool:
        """The properties stage computes the elastic constants of a crystal spec (the starting structure
        whose deformed copies `initial_data.cell_strain_copies` adds)."""
        from .properties_config import ELASTIC

        return self._property_crystal(ELASTIC) is not None

    def cell_strain_structure(self) -> int | None:
        """Index of the starting structure whose deformed copies join the initial data, or None."""
        return self.properties.structure if self.initial_data.cell_strain_copies and \
            self.computes_crystal_elastic() else None

    def _fit_cell_strains(self, dd) -> None:
        """With deformed cells, the final fit of a linear ACE weighs their stresses and allows rungs by fitted
        rows, where the user set neither for the final fit nor for the loop (derived_defaults.cell_strain_copies
        says why). The loop's fits keep the defaults: with the rows rule the first fits picked 300 functions on
        26-41 labels and every exploration halted at its first gamma check (examples/si_gpaw stopped on
        patience); the properties are the final potential's. Without a final fit the loop's fits take them."""
        t = self.trainer
        if t.kind != "linear_ace":
            return
        final = self.has_final_fit()
        if not {"stress_weight", "final_stress_weight"} & t.model_fields_set:
            setattr(t, "final_stress_weight" if final else "stress_weight", dd.CELL_STRAIN_STRESS_WEIGHT)
        if t.ladder is not None and not {"rows_per_function", "final_rows_per_function"} & t.ladder.model_fields_set:
            setattr(t.ladder, "final_rows_per_function" if final else "rows_per_function",
                    dd.CELL_STRAIN_ROWS_PER_FUNCTION)

    def surface_slab_crystal(self) -> "tuple[str, float] | None":
        """(element, lattice constant in Å) of the crystal whose slabs join the initial data
        (`initial_data.surface_slabs`), or None. The lattice constant is the one the properties stage
        starts from (properties.a, else the spec's, else ASE's reference)."""
        if not self.initial_data.surface_slabs or not self.computes_crystal_surfaces():
            return None
        spec = self.structures[self.properties.structure]
        a = self.properties.a or spec.a
        if a is None:
            from ase.build import bulk

            try:
                a = float(bulk(spec.element, "fcc", cubic=True).cell.lengths()[0])
            except (ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
                raise ValueError(f"structures[{self.properties.structure}].a: ASE has no fcc lattice constant for "
                                 f"{spec.element} ({exc}); the surface slabs and the properties need one: set `a:` "
                                 "of that structure") from None
        return spec.element, float(a)

    def n_surface_slabs(self) -> int:
        """Labels the surface slabs add to the initial set (3 facets x `surface_slab_copies`)."""
        from .properties_config import SURFACE_FACETS

        return len(SURFACE_FACETS) * self.initial_data.surface_slab_copies if self.surface_slab_crystal() else 0

    def n_initial_structures(self) -> int:
        """How many structures the initial set holds (the builder checks it makes exactly these)."""
        per = 1 + self.initial_data.n_rattled + len(self.initial_data.strains)
        n_structures = len(self.structures) + (self.wide_cell() is not None)
        n = n_structures * per + self.initial_data.composition_copies * sum(
            len(spec.composition_variants(self.initial_data.compositions))
            for spec in self.structures if spec.kind == "bulk") + self.n_surface_slabs() + \
            (self.initial_data.cell_strain_copies if self.cell_strain_structure() is not None else 0)
        if self.labeling.max_atoms is not None:  # an upper bound: large structures become cut-outs
            n *= self.labeling.cutouts.per_structure
        return n

    def has_final_fit(self) -> bool:
        """A final fit (final_fit/) runs after the loop: linear ACE with `trainer.ladder.final_rungs`."""
        t = self.trainer
        return t.kind == "linear_ace" and t.ladder is not None and bool(t.ladder.final_rungs)

    def final_fit_trainer(self):
        """The trainer config of the final fit: the ladder with every rung a candidate."""
        t = self.trainer
        ladder = t.ladder.for_final_fit()
        update = {"ladder": ladder, "final_stress_weight": None}
        if t.final_stress_weight is not None and t.final_stress_weight != t.stress_weight:
            # another objective than the loop's fits: keep-the-best scores forces and energies only, so it
            # would always prefer the loop's potential, which ignores the stresses; the end criteria
            # (fresh spot checks, MD stability: steps/ship.py) judge the final fit instead
            update["stress_weight"] = t.final_stress_weight
            update["ladder"] = ladder.model_copy(update={"keep_best": False})
        return t.model_copy(update=update)

    def exploration_steps(self, iteration: int) -> int:
        return int(round(self.initial_exploration_steps * self.exploration.steps_growth**iteration))


def default_kind(section: str) -> str:
    """The `kind` of a top-level section's default (for a section given without one)."""
    return OTFConfig.model_fields[section].default_factory().kind


def section_kinds(name: str) -> list[str]:
    """The `kind:` values a top-level section (or a list of them, e.g. structures) accepts."""
    import typing

    field = OTFConfig.model_fields.get(name)
    kinds: list[str] = []

    def collect(tp) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            kind = tp.model_fields.get("kind")
            if kind is not None and isinstance(kind.default, str):
                kinds.append(kind.default)
            return
        for arg in typing.get_args(tp):
            collect(arg)

    if field is not None:
        collect(field.annotation)
    return kinds


def format_validation_error(exc, source: str) -> str:
    """One line per problem: file, dotted field path, what is wrong and what to do."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        msg = err["msg"].removeprefix("Value error, ")
        hint = ""
        if err["type"] == "extra_forbidden":
            hint = " (unknown key: check its spelling against config/config.yaml)"
        elif err["type"] == "union_tag_invalid":
            hint = " (set `kind:` to one of the allowed values)"
        elif err["type"] == "union_tag_not_found":
            msg = "the section has no `kind:`"
            kinds = section_kinds(str(err["loc"][0])) if err["loc"] else []
            hint = f" (add `kind:` naming the implementation: one of {', '.join(kinds)})" if kinds else \
                " (add `kind:` naming the implementation)"
        lines.append(f"{source}: {loc or '<top level>'}: {msg}{hint}")
    return "\n".join(lines)


def load_config(path: str | Path) -> "ResolvedConfig":
    """Read and validate a config file; errors name the file and the field."""
    import yaml

    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (pass the path to your config.yaml)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of options, got {type(raw).__name__}")
    return config_from_dict(raw, path)


def config_from_dict(raw: dict, path: str | Path) -> "ResolvedConfig":
    from pydantic import ValidationError

    path = Path(path).resolve()
    try:
        cfg = OTFConfig.model_validate(raw, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    return ResolvedConfig(cfg, path)


class ResolvedConfig:
    """A validated config plus the file it came from, so relative paths resolve against it."""

    def __init__(self, cfg: OTFConfig, path: Path):
        self.cfg = cfg
        self.path = path
        self.base_dir = path.parent

    def resolve(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def __getattr__(self, name):
        return getattr(self.cfg, name)


def json_schema() -> dict:
    """JSON schema for Snakemake's `validate()`, generated from the models (never hand-written)."""
    schema = OTFConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    for name in DEFAULT_KIND_SECTIONS:   # a section without `kind` is the default's (OTFConfig._default_kinds)
        union = schema["properties"][name]
        schema["properties"][name] = {
            "title": union.get("title"),
            "if": {"type": "object", "not": {"required": ["kind"]}},
            "then": {"$ref": union["discriminator"]["mapping"][default_kind(name)]},
            "else": {k: v for k, v in union.items() if k != "title"},
        }
    return schema
