"""Oracle settings, one model per `oracle.kind`, sharing what every oracle has.

Layers, so that no kind copies another's fields:

* `OracleBase` — every oracle: time limit, whether stress is required;
* `ExternalOracleBase` — oracles that run real calculations: per-structure run directories,
  isolated-atom reference energies;
* `DFTOracleBase` — DFT codes: MPI launcher, functional, cutoff, k-points, smearing, SCF limit,
  spin;
* `ProgramOracleBase` — DFT codes run as an external program (pw.x, CP2K, VASP).

Paths in these models are relative to the config file when it is validated with
`context={"base_dir": <directory of the config>}`, else to the working directory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ._strict import Strict

RYDBERG_EV = 13.605693122994  # CODATA 2018, as ase.units.Rydberg


def resolve_path(value: str | None, info: ValidationInfo) -> str | None:
    """Expand ~ and $VARS; make a relative path absolute against the config file's directory
    (validation context `base_dir`) — or leave it relative to the working directory without one."""
    if value is None:
        return None
    expanded = os.path.expandvars(os.path.expanduser(value))
    base = (info.context or {}).get("base_dir") if info is not None else None
    if base is not None and not Path(expanded).is_absolute():
        return str(Path(base) / expanded)
    return expanded


class OracleBase(Strict):
    """Settings every oracle kind shares."""

    timeout_s: float | None = Field(
        None, gt=0, description="Per-structure wall-time limit in s; a calculation past it is killed and "
        "recorded as failed (null: no limit)."
    )
    need_stress: bool = Field(
        True, description="Require the stress tensor with every label (NPT exploration and fitting use it); "
        "false accepts labels without one (a calculation that returns no stress is then not a failure). "
        "Default false with trainer.kind: pacemaker, whose loss cannot fit stress (an explicit value wins)."
    )


class MockOracleConfig(OracleBase):
    """Morse pair potential: cheap, deterministic, physically shaped energies/forces/stress."""

    kind: Literal["mock"] = "mock"
    epsilon: float = Field(0.35, gt=0, description="Morse well depth in eV.")
    rho0: float = Field(6.0, gt=0, description="Morse stiffness (dimensionless).")
    r0: float = Field(2.55, gt=0, description="Morse equilibrium distance in Å.")
    fail_fraction: float = Field(0.0, ge=0, lt=1, description="Fault injection: share of calls that fail.")
    fail_mode: Literal["raise", "nan", "hang", "wrong_atoms"] = Field(
        "raise", description="Fault injection: how an injected failure shows (raise an error, NaN forces, "
        "hang forever, return a structure with another atom count)."
    )
    call_log: str | None = Field(
        None, description="Testing aid: append the hash of every finished calculation to this file "
        "(relative to the run directory), to count oracle calls across crashes."
    )
    tighter_force_noise: float = Field(
        0.0, ge=0, description="Testing aid for the label-noise check: at 'tighter k-points' the forces "
        "differ from the normal labels by this RMS (eV/Å, a fixed random pattern per structure); the "
        "other tightened settings change nothing."
    )


class EMTOracleConfig(OracleBase):
    """ASE's EMT: instant stand-in for DFT (Al Cu Ag Au Ni Pd Pt, H C N O)."""

    kind: Literal["emt"] = "emt"


# --------------------------------------------------------------------------------------------
# Oracles that run real calculations
# --------------------------------------------------------------------------------------------
class ExternalOracleBase(OracleBase):
    """Run directories and reference energies of oracles that run real calculations."""

    scratch_dir: str | None = Field(
        None, description="Where each structure's calculation runs, in its own directory (relative paths: "
        "to the config file; $VARS expanded, e.g. $TMPDIR on a cluster node). null: `oracle_runs/` in the "
        "run's working directory. A failed calculation's directory is kept, renamed `failed-*`, and its "
        "path is in the recorded failure reason."
    )
    keep_runs: bool = Field(
        False, description="Also keep the run directories of successful calculations (inputs, outputs)."
    )
    reference_energies: dict[str, float] = Field(
        default_factory=dict, description="Isolated-atom energies in eV per element that you already have "
        "(same settings as the labels!); elements not listed are computed by the oracle: one spin-polarised "
        "atom in a cubic box of `isolated_atom_box` Å, Γ point only."
    )
    isolated_atom_box: float = Field(
        10.0, ge=4, description="Edge in Å of the cubic box for computed isolated-atom energies."
    )

    @field_validator("scratch_dir")
    @classmethod
    def _resolve_scratch(cls, v, info: ValidationInfo):
        return resolve_path(v, info)


class KPointsConfig(Strict):
    """Brillouin-zone sampling: a density (the grid follows each structure's cell) or a fixed grid."""

    density: float | None = Field(
        None, gt=0, description="k-points per Å⁻¹ of reciprocal-vector length: n_i = ceil(density·|b_i|), "
        "|b_i| = 2π/d_i (ASE's convention). Used when `grid` is null; default 3.0 if neither is given."
    )
    grid: tuple[int, int, int] | None = Field(
        None, description="Fixed Monkhorst-Pack grid, e.g. [2, 2, 2] (instead of `density`)."
    )
    gamma: bool = Field(
        False, description="Γ-centred grid. false: the Monkhorst-Pack grid, which avoids Γ along even "
        "sizes (shifted; converges faster for the same number of points)."
    )

    @field_validator("grid")
    @classmethod
    def _positive(cls, v):
        if v is not None and min(v) < 1:
            raise ValueError(f"kpoints.grid must hold three positive integers, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _density_or_grid(self) -> "KPointsConfig":
        if self.grid is not None and self.density is not None:
            raise ValueError("give kpoints.density or kpoints.grid, not both")
        if self.grid is None and self.density is None:
            self.density = 3.0
        return self

    def grid_for(self, cell, pbc) -> tuple[int, int, int]:
        """The grid for one structure; 1 along non-periodic directions.

        `cell`: (3, 3) lattice vectors in Å (rows); `pbc`: three booleans.
        """
        import numpy as np

        if self.grid is not None:
            return tuple(int(n) if p else 1 for n, p in zip(self.grid, pbc))
        recip = 2 * np.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T  # rows b_i
        return tuple(
            max(1, math.ceil(self.density * float(np.linalg.norm(b)) - 1e-9)) if p else 1
            for b, p in zip(recip, pbc)
        )


class SmearingConfig(Strict):
    """Occupation smearing (every code converts it to its own units and names)."""

    method: Literal["fermi-dirac", "gaussian", "marzari-vanderbilt", "methfessel-paxton"] = Field(
        "fermi-dirac", description="Smearing function (not every code has every one: CP2K only fermi-dirac, "
        "VASP no marzari-vanderbilt)."
    )
    width_ev: float = Field(0.1, gt=0, description="Smearing width in eV (k_B·T for fermi-dirac).")


class DFTOracleBase(ExternalOracleBase):
    """What every DFT code needs; per-kind classes add only their code's own settings."""

    launcher: str | None = Field(
        None, description="MPI launcher put before the program, e.g. 'mpirun -np {cores}' or, inside a SLURM "
        "allocation, 'srun'; `{cores}` becomes the label job's cores (resources.label.cores). null: "
        "'mpirun -np {cores}' when the job has more than one core, nothing otherwise. '' (empty): never an "
        "MPI launcher; the program then gets OMP_NUM_THREADS = cores (MPI runs get 1)."
    )
    xc: str = Field("PBE", description="Exchange-correlation functional, as the code names it (PBE, LDA, ...).")
    cutoff_ev: float | None = Field(
        None, gt=0, description="Plane-wave cutoff in eV (null: the code's default)."
    )
    kpoints: KPointsConfig = Field(default_factory=KPointsConfig, description="k-point sampling.")
    smearing: SmearingConfig = Field(default_factory=SmearingConfig, description="Occupation smearing.")
    max_scf_iterations: int = Field(
        100, ge=1, description="SCF iterations before a calculation counts as not converged (a failure)."
    )
    spin_polarized: bool = Field(
        False, description="Spin-polarised calculations, starting from ASE's ground-state atomic moments "
        "(isolated atoms are always spin-polarised)."
    )
    box_padding: float = Field(
        6.0, gt=0, description="Clusters and molecules (no periodic axis) are computed in an orthorhombic "
        "periodic box: their extent plus this much vacuum (Å) on every side. Slabs keep their own cell."
    )


class ProgramOracleBase(DFTOracleBase):
    """A DFT code run as an external program, each structure in its own directory."""

    executable: str = Field(..., description="The program (name on PATH or a path).")


class GPAWOracleConfig(DFTOracleBase):
    """GPAW (plane waves, PAW setups from the gpaw-data package). One core: in-process; more cores:
    `launcher` + this Python with GPAW's MPI backend."""

    kind: Literal["gpaw"] = "gpaw"
    cutoff_ev: float | None = Field(400.0, gt=0, description="Plane-wave cutoff in eV (GPAW's PW mode).")
    setups: str | dict[str, str] = Field(
        "paw", description="GPAW setups: a name for all elements ('paw', 'sg15', ...) or element → name."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for gpaw.GPAW, applied last (override the "
        "settings above), e.g. {convergence: {density: 1.0e-5}}."
    )


class EspressoOracleConfig(ProgramOracleBase):
    """Quantum ESPRESSO pw.x through ASE's Espresso calculator and EspressoProfile."""

    kind: Literal["espresso"] = "espresso"
    executable: str = Field("pw.x", description="The pw.x program (name on PATH or a path).")
    cutoff_ev: float | None = Field(
        40 * RYDBERG_EV, gt=0, description="Wave-function cutoff (ecutwfc) in eV; 544.2 eV = 40 Ry. The "
        "density cutoff is pw.x's default (4x, right for norm-conserving pseudopotentials; set "
        "input_data: {system: {ecutrho: ...}} for ultrasoft/PAW)."
    )
    pseudo_dir: str | None = Field(
        None, description="Directory of the UPF pseudopotentials (relative paths: to the config file). null: "
        "$ESPRESSO_PSEUDO if set, else the ones shipped with mlip-autopipec (Si, Al: PBE norm-conserving, "
        "generated with QE's ld1.x; see src/mlip_autopipec/data/pseudo/README.md)."
    )
    pseudopotentials: dict[str, str] = Field(
        default_factory=dict, description="Element → UPF file name in pseudo_dir. Elements not listed use "
        "the file in pseudo_dir named <element>.upf or whose name starts with the element followed by '.', '_' or '-' "
        "(case-insensitive), if there is exactly one."
    )
    input_data: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Extra pw.x namelist entries by namelist, applied last, e.g. "
        "{electrons: {mixing_beta: 0.3}, system: {ecutrho: 320}}."
    )
    pools: int | None = Field(
        None, ge=1, description="pw.x k-point pools (-nk) for an MPI run. null: the most pools that divide the "
        "label job's MPI ranks and that the structure's k-points can fill (1 for Γ-only cells and runs without "
        "MPI): small cells with dense grids label ~12 % faster on 2 ranks than with the plane waves divided "
        "(benchmarks/RESULTS.md). Each pool holds a whole copy of the wave functions: set 1 if a large cell "
        "runs out of memory. Parallelisation only: not part of the label cache key."
    )

    @field_validator("pseudo_dir")
    @classmethod
    def _resolve_pseudo_dir(cls, v, info: ValidationInfo):
        return resolve_path(v, info)


class CP2KOracleConfig(ProgramOracleBase):
    """CP2K (Gaussian and plane waves) through ASE's CP2K calculator and `cp2k_shell`."""

    kind: Literal["cp2k"] = "cp2k"
    executable: str = Field("cp2k_shell", description="CP2K's shell program (`cp2k_shell`, or "
                            "`cp2k.psmp -s`).")
    cutoff_ev: float | None = Field(
        400 * RYDBERG_EV, gt=0, description="Density-grid cutoff (MGRID CUTOFF) in eV; 5442 eV = 400 Ry."
    )
    kpoints: KPointsConfig = Field(
        default_factory=lambda: KPointsConfig(grid=(1, 1, 1)),
        description="k-point sampling (default: Γ only, CP2K's usual choice for large cells).",
    )
    basis_set: str = Field("DZVP-MOLOPT-SR-GTH", description="Basis set name (every element).")
    basis_set_file: str = Field("BASIS_MOLOPT", description="Basis set file (in data_dir or a path).")
    potential: str | None = Field(None, description="Pseudopotential name (null: GTH-<xc>).")
    potential_file: str = Field("GTH_POTENTIALS", description="Pseudopotential file (in data_dir or a path).")
    data_dir: str | None = Field(
        None, description="CP2K's data directory (null: $CP2K_DATA_DIR, else /usr/share/cp2k as Debian "
        "installs it)."
    )
    inp: str = Field(
        "", description="Extra CP2K input merged into the generated one (ASE's `inp` template), e.g. an "
        "&OT section."
    )

    @field_validator("data_dir")
    @classmethod
    def _resolve_data_dir(cls, v, info: ValidationInfo):
        return resolve_path(v, info)

    @model_validator(mode="after")
    def _smearing_supported(self) -> "CP2KOracleConfig":
        if self.smearing.method != "fermi-dirac":
            raise ValueError(f"oracle.smearing.method={self.smearing.method} is not available in CP2K; use "
                             f"fermi-dirac")
        return self


class VaspOracleConfig(ProgramOracleBase):
    """VASP: inputs written by ASE (INCAR, KPOINTS, POSCAR, POTCAR), results read from OUTCAR."""

    kind: Literal["vasp"] = "vasp"
    executable: str = Field("vasp_std", description="The VASP program (vasp_std, vasp_gam, a path).")
    cutoff_ev: float | None = Field(
        520.0, gt=0, description="ENCUT in eV (null: VASP's default, the largest ENMAX of the POTCARs)."
    )
    pp_path: str | None = Field(
        None, description="Directory holding the POTCAR families (potpaw_PBE/, ...) (null: $VASP_PP_PATH)."
    )
    potcar_family: str = Field("potpaw_PBE", description="POTCAR family folder in pp_path.")
    setups: dict[str, str] = Field(
        default_factory=dict, description="Element → POTCAR variant suffix, e.g. {Ti: _sv, Si: ''}: the "
        "POTCAR is <pp_path>/<potcar_family>/<element><suffix>/POTCAR."
    )
    incar: dict[str, Any] = Field(
        default_factory=dict, description="Extra INCAR tags, applied last, e.g. {ALGO: Fast, LREAL: Auto}."
    )

    @field_validator("pp_path")
    @classmethod
    def _resolve_pp_path(cls, v, info: ValidationInfo):
        return resolve_path(v, info)

    @model_validator(mode="after")
    def _smearing_supported(self) -> "VaspOracleConfig":
        if self.smearing.method == "marzari-vanderbilt":
            raise ValueError("oracle.smearing.method=marzari-vanderbilt is not available in VASP; use "
                             "fermi-dirac, gaussian or methfessel-paxton")
        return self


class AseCalculatorOracleConfig(ExternalOracleBase):
    """Any ASE calculator, by import path, with keyword arguments."""

    kind: Literal["ase"] = "ase"
    calculator: str = Field(
        ..., pattern=r"^[A-Za-z_][\w.]*[.:][A-Za-z_]\w*$",
        description="Import path of the calculator class (or factory), e.g. "
        "'ase.calculators.lj.LennardJones' or 'tblite.ase:TBLite'.",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the calculator."
    )


# --------------------------------------------------------------------------------------------
# Universal (foundation) potentials as the oracle
# --------------------------------------------------------------------------------------------
class UniversalOracleBase(OracleBase):
    """A pretrained universal potential evaluated in-process: one model load per label job, many
    structures per forward pass. Each kind adds its model names."""

    device: Literal["cpu", "cuda"] = Field(
        "cpu", description="Where the model runs. Threads on the CPU: the label job's cores "
        "(resources.label.cores)."
    )
    max_batch_atoms: int = Field(
        64, ge=1, description="Most atoms in one batched forward pass (structures are grouped in order up to "
        "this many atoms; a larger structure runs alone). Bounds memory: CHGNet 0.3.0 with stress needed about "
        "45 MB per atom of a dense oxide here, so 64 atoms ~ 3 GB. Does not change the labels."
    )
    isolated_atom_box: float = Field(
        20.0, ge=4, description="Edge in Å of the cubic box for the isolated-atom reference energies (one atom, "
        "no neighbour within the model's cutoff)."
    )


class ChgnetOracleConfig(UniversalOracleBase):
    """CHGNet (pretrained weights shipped in the PyPI package; tools/install_universal.sh installs it
    with a CPU build of PyTorch)."""

    kind: Literal["chgnet"] = "chgnet"
    model: Literal["0.3.0", "0.2.0", "r2scan"] = Field(
        "0.3.0", description="Pretrained CHGNet model: '0.3.0' (MPtrj, PBE/PBE+U), '0.2.0' (its predecessor), "
        "'r2scan' (transfer-learned to r2SCAN). Recorded with the package version in every label and in "
        "the label cache key."
    )


OracleConfig = Annotated[
    Union[EMTOracleConfig, MockOracleConfig, GPAWOracleConfig, EspressoOracleConfig, CP2KOracleConfig,
          VaspOracleConfig, AseCalculatorOracleConfig, ChgnetOracleConfig],
    Field(discriminator="kind"),
]
