"""The `portfolio:` section: a general-purpose potential from an element and the oracle alone.

A user who asks for "a Cu potential" wants the crystal, its polymorphs, the liquid, point defects,
surfaces, a nanoparticle and strained cells; without a portfolio the loop explores only what a config
names by hand (issue 29). The portfolio is expanded here, at config time, into ordinary starting
structures (`PortfolioSpec`, built by `sampling/portfolio.py`) and exploration conditions (one per kind
and temperature, each its own Snakemake job), so every later stage (explore, spot checks, the plan, the
held-out set, the benchmarks) sees them like hand-written ones. Everything here is a pure function of
the config: no oracle call, so every job expands it identically.

Temperatures are fractions of the melting point (`melting_point`, else the table below); lattice
constants come from ASE's reference data (`ase.data.reference_states`), the polymorphs at the same
volume per atom. Both sources are recorded with the structures (`a_source`) and logged by INITIAL.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ._strict import Strict

# Experimental melting points at 1 atm, K (CRC Handbook of Chemistry and Physics, 97th ed., "Melting,
# boiling, triple and critical points of the elements"). The oracle's own melting point differs
# (EMT Cu melts lower than 1358 K); the liquid fraction 1.5 is chosen to be liquid either way.
MELTING_POINTS_K: dict[str, float] = {
    "Li": 453.7, "Na": 371.0, "K": 336.7, "Be": 1560.0, "Mg": 923.0, "Ca": 1115.0, "Al": 933.5,
    "Si": 1687.0, "Ti": 1941.0, "V": 2183.0, "Cr": 2180.0, "Mn": 1519.0, "Fe": 1811.0, "Co": 1768.0,
    "Ni": 1728.0, "Cu": 1357.8, "Zn": 692.7, "Ge": 1211.4, "Zr": 2128.0, "Nb": 2750.0, "Mo": 2896.0,
    "Ru": 2607.0, "Rh": 2237.0, "Pd": 1828.1, "Ag": 1234.9, "Sn": 505.1, "Hf": 2506.0, "Ta": 3290.0,
    "W": 3695.0, "Re": 3459.0, "Os": 3306.0, "Ir": 2719.0, "Pt": 2041.4, "Au": 1337.3, "Pb": 600.6,
}
MELTING_POINT_SOURCE = "CRC Handbook (experimental, 1 atm)"

Fraction = Annotated[float, Field(gt=0, le=3)]


class ThermalPart(Strict):
    """The ground-state crystal from low temperature to just below melting."""

    enabled: bool = Field(True, description="Explore the ground-state crystal.")
    nvt: list[Fraction] = Field(default_factory=lambda: [0.3], description="NVT temperatures as fractions of "
                                "the melting point.")
    npt: list[Fraction] = Field(default_factory=lambda: [0.85], description="NPT (0 GPa) temperatures as "
                                "fractions of the melting point (the cell expands as it heats).")


class LiquidPart(Strict):
    enabled: bool = Field(True, description="Explore the liquid (NVT far above melting). It starts from a random "
                          "packing, not the crystal: a superheated crystal stays solid for picoseconds (EMT Cu at "
                          "2000 K over 1.5 ps: RMS displacement flat at 0.5 Å).")
    fraction: Fraction = Field(1.5, description="Temperature as a fraction of the melting point.")
    expansion: float = Field(0.05, ge=0, lt=0.3, description="Volume of the liquid cell above the crystal's "
                             "(fraction; metals expand by a few % on melting).")


class PolymorphPart(Strict):
    enabled: bool = Field(True, description="Explore competing crystal structures.")
    crystals: list[Literal["fcc", "bcc", "hcp"]] = Field(
        default_factory=lambda: ["fcc", "bcc", "hcp"], description="Candidate lattices; the ground state's own "
        "is skipped (it is the thermal part). Built at the ground state's volume per atom (hcp: ideal c/a).")
    fraction: Fraction = Field(0.5, description="NVT temperature as a fraction of the melting point.")


class DefectPart(Strict):
    """Point defects in the ground-state supercell."""

    vacancy: bool = Field(True, description="One vacancy.")
    divacancy: bool = Field(True, description="Two vacancies on nearest-neighbour sites.")
    interstitial: bool = Field(True, description="One self-interstitial at the largest hole of the lattice.")
    fraction: Fraction = Field(0.5, description="NVT temperature as a fraction of the melting point.")


class SurfacePart(Strict):
    facets: list[Literal["111", "100", "110"]] = Field(
        default_factory=lambda: ["111", "100", "110"], description="Low-index facets of the ground-state "
        "lattice (fcc or bcc; hcp uses 0001 and 10-10 for 111 and 100, no 110); [] switches surfaces off.")
    layers: int = Field(4, ge=3, description="Atomic layers of a slab (the 110 facet of fcc gets 1.5x, its "
                        "layers are closer).")
    vacuum: float = Field(6.0, gt=0, description="Vacuum in Å on each side of a slab (total gap 2x this; "
                          "must exceed the cutoff plus vacuum_margin).")
    adatoms: int = Field(1, ge=0, description="Adatoms placed in hollow sites on the top face of each slab.")
    fraction: Fraction = Field(0.5, description="NVT temperature as a fraction of the melting point.")


class NanoparticlePart(Strict):
    enabled: bool = Field(True, description="Explore a free nanoparticle (no periodicity).")
    shells: int = Field(3, ge=2, le=5, description="Shells of the Mackay icosahedron (2: 13 atoms, 3: 55, 4: 147).")
    fraction: Fraction = Field(0.4, description="NVT temperature as a fraction of the melting point.")


class StrainPart(Strict):
    strains: list[Annotated[float, Field(gt=-0.3, lt=0.3)]] = Field(
        default_factory=lambda: [0.05, -0.05], description="One cell per value s: the ground-state supercell "
        "deformed by diag(1+s, 1+s/2, 1-s/2) plus a shear s/2 (xy); [] switches strained cells off.")
    fraction: Fraction = Field(0.3, description="NVT temperature as a fraction of the melting point.")


class PortfolioConfig(Strict):
    """Starting structures and exploration conditions derived from the element: one exploration job per
    kind and temperature, and a held-out set per kind. Opt-in (`enabled`). The user's own `structures`
    and `exploration.conditions` add to it (theirs come first, so their indices stay); when left unset, the
    demo defaults of those keys are dropped. Settings of other sections that the portfolio changes only
    when you leave them unset: `initial_data.n_rattled` 1 and `strains` [] (a seed set of two labels per
    kind; the selection adds the rest), `selection.spread` on (each iteration's picks spread over the kinds), `convergence.spot_checks` one per condition, `selection.n_select` 12, `candidates.mix` rattle and MD
    bursts only (normal modes need a finite-difference Hessian: minutes for a 100-atom halt) and
    `properties.enabled` true (on the ground-state crystal: EOS, elastic constants, vacancy, the three
    low-index surface energies, ...)."""

    enabled: bool = Field(False, description="Derive structures and conditions from `element`.")
    element: str = Field("Cu", description="Chemical symbol of the element.")
    melting_point: float | None = Field(None, gt=0, description="Melting point in K that sets the temperatures "
                                        "(null: the experimental value of the built-in table, "
                                        "MELTING_POINTS_K in domain_models/portfolio_config.py).")
    lattice_constant: float | None = Field(None, gt=0, description="Ground-state lattice constant a in Å (null: "
                                           "ASE's reference data, ase.data.reference_states).")
    min_width: float | None = Field(None, gt=0, description="Periodic cells are repeated until each periodic "
                                    "width is at least this many Å (null: 2 x the trainer's cutoff, so no atom "
                                    "sees its own image twice).")
    thermal: ThermalPart = Field(default_factory=ThermalPart, description="Ground-state crystal, NVT and NPT.")
    liquid: LiquidPart = Field(default_factory=LiquidPart, description="Above melting.")
    polymorphs: PolymorphPart = Field(default_factory=PolymorphPart, description="Competing lattices.")
    defects: DefectPart = Field(default_factory=DefectPart, description="Vacancy, divacancy, interstitial.")
    surfaces: SurfacePart = Field(default_factory=SurfacePart, description="Slabs with vacuum and adatoms.")
    nanoparticle: NanoparticlePart = Field(default_factory=NanoparticlePart, description="A free cluster.")
    strained: StrainPart = Field(default_factory=StrainPart, description="Deformed ground-state cells.")
    validation_frames: int = Field(6, ge=0, description="Held-out frames per condition, labelled by the oracle "
                                   "from its own MD of that condition's structure at its temperature (NVT; a seed "
                                   "stream no selection or fit uses; needs an in-process oracle such as EMT); 0: "
                                   "no per-kind held-out set.")
    validation_warmup: int = Field(500, ge=0, description="Oracle MD steps (of dynamics.timestep_fs: 2 fs from O "
                                   "up) before the first held-out frame (the liquid needs them to melt).")
    validation_stride: int = Field(40, ge=1, description="Oracle MD steps between held-out frames.")

    def melting(self) -> tuple[float, str]:
        """(melting point in K, where it came from); raises ValueError for an element without one."""
        if self.melting_point is not None:
            return self.melting_point, "portfolio.melting_point (config)"
        if self.element not in MELTING_POINTS_K:
            raise ValueError(f"portfolio: no melting point known for {self.element}: set portfolio.melting_point "
                             "(K)")
        return MELTING_POINTS_K[self.element], MELTING_POINT_SOURCE


# --------------------------------------------------------------------------------------------
# The starting structures the portfolio expands into
# --------------------------------------------------------------------------------------------
PortfolioPart = Literal["bulk", "liquid", "vacancy", "divacancy", "interstitial", "surface", "nanoparticle", "strained"]
IDEAL_COVERA = (8.0 / 3.0) ** 0.5
REFERENCE_LATTICE_SOURCE = "ase.data.reference_states (experimental)"  # initial_data.oracle_lattice replaces it


class PortfolioSpec(Strict):
    """One starting structure of the portfolio (built by sampling/portfolio.py). Written by the expansion,
    not by hand: every setting is resolved, so a job rebuilds exactly this structure."""

    kind: Literal["portfolio"] = "portfolio"
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$", description="Portfolio kind, e.g. 'surface_111'.")
    part: PortfolioPart = Field(..., description="What is built.")
    element: str = Field(..., description="Chemical symbol.")
    crystal: Literal["fcc", "bcc", "hcp"] = Field(..., description="Lattice of the crystal the part is made of.")
    a: float = Field(..., gt=0, description="Lattice constant in Å.")
    covera: float | None = Field(None, gt=0, description="c/a of hcp (null for cubic lattices).")
    a_source: str = Field(..., description="Where the lattice constant came from.")
    min_width: float = Field(..., gt=0, description="Smallest periodic width of the cell in Å.")
    facet: str | None = Field(None, description="Surface facet (part surface).")
    layers: int | None = Field(None, description="Atomic layers (part surface).")
    vacuum: float | None = Field(None, description="Vacuum on each side in Å (part surface).")
    adatoms: int = Field(0, ge=0, description="Adatoms on the top face (part surface).")
    shells: int | None = Field(None, description="Icosahedron shells (part nanoparticle).")
    strain: float | None = Field(None, description="Strain s of part strained; the volume expansion of part liquid.")


def volume_per_atom(crystal: str, a: float, covera: float | None = None) -> float:
    if crystal == "fcc":
        return a**3 / 4
    if crystal == "bcc":
        return a**3 / 2
    return 3**0.5 / 4 * a**3 * (covera or IDEAL_COVERA)


def lattice_at_volume(crystal: str, volume: float) -> tuple[float, float | None]:
    """(a, c/a) of `crystal` with `volume` Å^3 per atom (hcp: ideal c/a)."""
    if crystal == "fcc":
        return (4 * volume) ** (1 / 3), None
    if crystal == "bcc":
        return (2 * volume) ** (1 / 3), None
    return (4 * volume / (3**0.5 * IDEAL_COVERA)) ** (1 / 3), IDEAL_COVERA


def ground_state(p: PortfolioConfig) -> tuple[str, float, float | None, str]:
    """(crystal, a, c/a, source) of the element's ground state from ASE's reference data."""
    from ase.data import atomic_numbers, reference_states

    if p.element not in atomic_numbers:
        raise ValueError(f"portfolio.element: unknown chemical element '{p.element}'; use e.g. Cu, Al, Ni")
    ref = reference_states[atomic_numbers[p.element]] or {}
    crystal = ref.get("symmetry")
    if crystal not in ("fcc", "bcc", "hcp"):
        raise ValueError(f"portfolio.element: {p.element}'s reference state in ASE is {crystal!r}; the portfolio "
                         "builds fcc, bcc and hcp metals only: give structures and conditions by hand")
    covera = ref.get("c/a") if crystal == "hcp" else None
    if p.lattice_constant is not None:
        return crystal, p.lattice_constant, covera, "portfolio.lattice_constant (config)"
    return crystal, float(ref["a"]), covera, REFERENCE_LATTICE_SOURCE


def expand(p: PortfolioConfig, cutoff: float, first_index: int) -> tuple[list[PortfolioSpec], list[dict]]:
    """The portfolio's structures and its conditions (dicts of ExplorationCondition fields plus `kind`;
    `structure` counts from `first_index`, the number of the user's own structures)."""
    crystal, a, covera, source = ground_state(p)
    tm, _ = p.melting()
    width = p.min_width or 2 * cutoff
    common = dict(element=p.element, min_width=width)
    ground = dict(crystal=crystal, a=a, covera=covera, a_source=source, **common)
    specs: list[PortfolioSpec] = []
    conds: list[dict] = []

    def add(spec: PortfolioSpec, runs: list[tuple[str, float, float | None]]) -> None:
        specs.append(spec)
        for label, fraction, pressure in runs:
            t = round(fraction * tm)
            conds.append(dict(name=f"{spec.name}_{label}{t}", temperature=float(t), pressure=pressure,
                              structure=first_index + len(specs) - 1, kind=spec.name))

    th = p.thermal
    if th.enabled and (th.nvt or th.npt):
        add(PortfolioSpec(name=crystal, part="bulk", **ground),
            [("t", f, None) for f in th.nvt] + [("npt", f, 0.0) for f in th.npt])
    if p.liquid.enabled:
        add(PortfolioSpec(name="liquid", part="liquid", strain=p.liquid.expansion, **ground),
            [("t", p.liquid.fraction, None)])
    if p.polymorphs.enabled:
        vol = volume_per_atom(crystal, a, covera)
        for other in p.polymorphs.crystals:
            if other == crystal:
                continue
            a_o, c_o = lattice_at_volume(other, vol)
            add(PortfolioSpec(name=other, part="bulk", crystal=other, a=round(a_o, 4), covera=c_o,
                              a_source=f"same volume per atom as {crystal} ({source})", **common),
                [("t", p.polymorphs.fraction, None)])
    d = p.defects
    for part, on in (("vacancy", d.vacancy), ("divacancy", d.divacancy), ("interstitial", d.interstitial)):
        if on:
            add(PortfolioSpec(name=part, part=part, **ground), [("t", d.fraction, None)])
    s = p.surfaces
    facets = {"hcp": {"111": "0001", "100": "10m10"}}.get(crystal, {f: f for f in ("111", "100", "110")})
    for facet in s.facets:
        if facet in facets:
            add(PortfolioSpec(name=f"surface_{facet}", part="surface", facet=facets[facet], layers=s.layers,
                              vacuum=s.vacuum, adatoms=s.adatoms, **ground), [("t", s.fraction, None)])
    if p.nanoparticle.enabled:
        add(PortfolioSpec(name="nanoparticle", part="nanoparticle", shells=p.nanoparticle.shells, **ground),
            [("t", p.nanoparticle.fraction, None)])
    for strain in p.strained.strains:
        tag = f"{'p' if strain >= 0 else 'm'}{round(abs(strain) * 100)}"
        add(PortfolioSpec(name=f"strained_{tag}", part="strained", strain=strain, **ground),
            [("t", p.strained.fraction, None)])
    return specs, conds


def portfolio_conditions(cfg) -> list[str]:
    """Conditions whose held-out frames the portfolio generates (one job each), in config order: one
    rule for the DAG (rules/common.smk), the plan and the validation step. `cfg` is an OTFConfig."""
    if not (cfg.portfolio.enabled and cfg.portfolio.validation_frames > 0 and not cfg.validation.file):
        return []
    return [c.name for c in cfg.exploration.conditions if c.kind is not None]
