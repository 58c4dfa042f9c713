"""Exploration dynamics settings, one model per `dynamics.kind`."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from ._strict import Strict as _Strict


class MockDynamicsConfig(_Strict):
    """Deterministic stand-in for MD: halts at `halt_step` while the potential is young."""

    kind: Literal["mock"] = "mock"
    halt_step: int = Field(100, ge=1, description="Step at which a halting run stops.")
    halt_generations: int = Field(
        3, ge=0, description="Potentials trained fewer than this many times halt; later ones converge."
    )


class AseMDConfig(_Strict):
    """ASE molecular dynamics with the current ACE potential and its active set."""

    kind: Literal["ase_md"] = "ase_md"
    timestep_fs: float = Field(2.0, gt=0, description="Time step in fs.")
    friction: float = Field(0.02, gt=0, description="Langevin friction in 1/fs.")
    ttime_fs: float = Field(25.0, gt=0, description="NPT thermostat time constant in fs.")
    pfactor: float = Field(
        2e6, gt=0, description="NPT barostat parameter (ASE units, GPa*fs^2 scale); only with pressure."
    )


DynamicsConfig = Annotated[Union[MockDynamicsConfig, AseMDConfig], Field(discriminator="kind")]
