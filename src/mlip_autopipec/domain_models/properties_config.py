"""The `properties:` section: which physical properties prove the potential, and how strictly.

Each property is computed twice on identical structures, with the potential and with the oracle;
the tolerances say how far apart the two may be before the property is flagged `ok: false`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ._strict import Strict

# The property groups: each name is spelled here once, the config's vocabulary (the config is
# validated before any property code loads); properties/registry.py binds every name to its code
# and refuses to load when one is missing. Everything else imports these constants.
EOS = "eos"
ELASTIC = "elastic"
VACANCY = "vacancy"
SURFACE = "surface"
SURFACE_FACETS = ("111", "100", "110")  # an fcc crystal's low-index facets (properties/surface.py)
PHONONS = "phonons"
MD_STABILITY = "md_stability"
RELAXATION = "relaxation"
VIBRATIONS = "vibrations"
ALL_GROUPS: tuple[str, ...] = (EOS, ELASTIC, VACANCY, SURFACE, PHONONS, MD_STABILITY, RELAXATION, VIBRATIONS)
PropertyGroup = Literal[ALL_GROUPS]  # type: ignore[valid-type]  # the names above, for validation and the schema


class PropertyTolerances(Strict):
    """How far the potential may be from the oracle. Relative tolerances are fractions of the
    oracle's value; absolute ones are in the property's unit."""

    lattice_constant: float = Field(0.005, gt=0, description="Relative (0.005 = 0.5 %), lattice constant a0.")
    bulk_modulus: float = Field(0.08, gt=0, description="Relative (0.08 = 8 %), Birch-Murnaghan B0.")
    elastic: float = Field(0.10, gt=0, description="Relative (0.10 = 10 %), each reported elastic constant Cij.")
    vacancy_formation_energy: float = Field(0.1, gt=0, description="Absolute, eV.")
    surface_energy: float = Field(0.10, gt=0, description="Relative (0.10 = 10 %), each facet's surface energy.")
    phonon_rmse: float = Field(0.3, gt=0, description="Absolute, THz: RMSE of the potential's frequencies at "
                               "the high-symmetry points against the oracle's.")
    relaxed_geometry_rmsd: float = Field(0.05, gt=0, description="Absolute, Å: RMSD between the structure "
                                         "relaxed by the potential and by the oracle (slabs, clusters).")
    md_max_gamma: float = Field(5.0, gt=0, description="Upper bound of the extrapolation grade seen in the "
                                "MD stability run.")
    md_energy_drift: float = Field(0.005, gt=0, description="Upper bound, eV/atom, of the total-energy drift "
                                   "of the NVE stability run.")
    vibration_rmse: float = Field(0.3, gt=0, description="Absolute, THz: RMSE of a relaxed cluster's sorted "
                                  "vibrational frequencies (translations and rotations projected out) against "
                                  "the oracle's.")
    bulk_modulus_consistency: float = Field(
        0.01, gt=0, description="Relative, each side on its own: the bulk modulus from the elastic constants "
        "(cubic: (C11 + 2 C12)/3; any lattice: the sum of C_ij, i,j <= 3, over 9) against the EOS B0 of the "
        "same model. Added to three standard errors of the EOS fit; covers the Birch-Murnaghan form over "
        "± eos_range and the O(strain^2) error of the central differences (~0.1-0.5 % each for EMT Cu).")


class PropertiesConfig(Strict):
    """Physical properties of a potential against the oracle (written to final/properties.json)."""

    enabled: bool | None = Field(None, description="Run the properties stage for the final potential. null: on, "
                                 "unless the oracle or the trainer is a mock; a structure file as the target: on for a slab or cluster of "
                                 "<= 200 atoms (<= 20 for a cluster with a DFT oracle) and a 3D-periodic cell of <= 8 "
                                 "(derived_defaults.py).")
    include: list[PropertyGroup] = Field(
        default_factory=lambda: list(ALL_GROUPS),
        description="Property groups to compute; those that do not apply to the structure are skipped "
        "(bulk crystal: eos, elastic, vacancy, surface (fcc), phonons, md_stability; slab: relaxation, "
        "surface; cluster: relaxation, vibrations).",
    )
    structure: int = Field(0, ge=0, description="Index into `structures`: the crystal (or slab, cluster) "
                           "whose properties are computed; a bulk spec is used without substitutions or vacancies.")
    a: float | None = Field(None, gt=0, description="Lattice constant in Å where each model's equilibrium "
                            "relaxation of a bulk crystal starts (bulk spec only; null: the spec's `a`). Every "
                            "bulk property is computed at the model's own relaxed structure (cheap mode: the "
                            "potential's).")
    every: int | None = Field(None, ge=1, description="Also compute the properties of the potential explored "
                              "in iterations 0, N, 2N, ... (null: the final potential only).")
    cheap: bool = Field(False, description="Oracle single points at the potential-relaxed geometries instead "
                        "of oracle relaxations (for expensive oracles; see docs/properties.md for the accuracy cost).")
    tolerances: PropertyTolerances = Field(default_factory=PropertyTolerances,
                                           description="Allowed potential-oracle differences.")
    reference: dict[str, float] = Field(default_factory=dict, description="Optional external values "
                                        "(experiment, literature) per property name, shown as a third column.")
    eos_points: int = Field(7, ge=5, description="Volumes of the equation of state.")
    eos_range: float = Field(0.05, gt=0, lt=0.3, description="Volumes span (1 ± eos_range) V of the structure.")
    strain: float = Field(0.01, gt=0, lt=0.1, description="Finite-difference strain of the elastic constants.")
    relax_ions: Literal["auto", "always", "never"] = Field(
        "auto", description="Relaxed-ion elastic constants: auto = when the primitive cell has internal "
        "degrees of freedom (more than one atom, e.g. diamond).")
    vacancy_supercell: tuple[int, int, int] = Field((2, 2, 2), description="Repetitions of the conventional "
                                                    "cell for the vacancy (fcc: 32 sites).")
    slab_layers: int = Field(5, ge=3, description="Atomic layers of each surface slab (1x1 in plane).")
    vacuum: float = Field(6.0, gt=0, description="Vacuum in Å on each side of a slab.")
    phonon_supercell: tuple[int, int, int] = Field((3, 3, 3), description="Repetitions of the primitive cell "
                                                   "for the finite-displacement phonons.")
    phonon_delta: float = Field(0.01, gt=0, description="Finite displacement in Å (phonons, vibrations).")
    fmax: float = Field(0.01, gt=0, description="Force threshold in eV/Å of every relaxation.")
    equilibrium_fmax: float = Field(
        0.002, gt=0, description="Threshold in eV/Å of each model's equilibrium relaxation (cell and positions of "
        "the bulk crystal every bulk property starts from). Its cell gradient is the stress times volume per "
        "atom, so the residual stress stays below equilibrium_fmax x N/V (fcc Cu: 0.03 GPa).")
    max_relax_steps: int = Field(200, ge=1, description="BFGS steps per relaxation; more is a failure.")
    md_steps: int = Field(300, ge=1, description="Steps of the MD stability run (of dynamics.timestep_fs; "
                          "300 x 2 fs: 0.6 ps for a metal).")
    md_supercell: tuple[int, int, int] = Field((3, 3, 3), description="Repetitions of the conventional cell "
                                               "for the MD stability run (larger than the exploration's).")
    md_temperature: float | None = Field(None, gt=0, description="K; null: the highest exploration temperature.")
    cell: Literal["conventional", "primitive"] = Field(
        "conventional", description="Cell of the EOS, elastic constants and relaxation reference: the "
        "conventional cubic cell (fcc: 4 atoms, diamond: 8; same k-point density as a cubic training cell "
        "with a fixed k grid) or the primitive one (fewest atoms; give the oracle a k-point density).")
    elastic_components: list[Annotated[int, Field(ge=0, le=5)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4, 5], min_length=1,
        description="Voigt strains applied (0-5 = xx, yy, zz, yz, xz, xy): all six give the full matrix; "
        "[0, 3] is enough for a cubic crystal (C11, C12, C44) at a third of the cost.")
    structures_per_job: int | None = Field(None, ge=1, description="Oracle calculations per Snakemake job "
                                           "(null: labeling.structures_per_job).")
    surface_bulk: int | None = Field(None, ge=0, description="Index into `structures` of the bulk crystal "
                                     "whose energy per formula unit is the reference of a slab's surface energy "
                                     "(slab from a file; null: ase.build.bulk of a single-element slab's element "
                                     "in ASE's reference state). Build the slab with its lattice constant.")
